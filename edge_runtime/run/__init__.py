"""One frame's path, source -> detect -> infer -> outputs, and what assembles it: the frame loop
(``pipeline``), frames analysed side by side (``workers``), steady labels across frames (``track``), label
changes (``events``), per-stage timings (``stats``), the settings and the one builder (``build``) and the
runner that loads, loops and closes (``runner``). Knows outputs only through the ``Sink`` protocol."""
