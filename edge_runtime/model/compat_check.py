"""Refuse, before the interpreter is built, a model that declares it needs a newer TFLite runtime than the one
installed: one line naming both versions and the fix, instead of LiteRT's "Didn't find op for builtin opcode".

The converter writes ``min_runtime_version`` into every .tflite file (``FlatModel.min_runtime_version``), in
TensorFlow's release numbering; ``hs-convert`` reports the same figure (convert/compat.py, which also consults
its op table). Only interpreters numbered like TensorFlow are compared: ``tflite_runtime`` (its wheels carry
the TensorFlow release they were cut from) and ``tensorflow.lite``. LiteRT (``ai_edge_litert``) has its own
release numbers (1.x, 2.x) that say nothing about TensorFlow's, so it is not compared; it is also the newest
runtime there is, the one ``hs-convert``'s default ``--target litert`` is for.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge_runtime.errors import RuntimeFailure
from edge_runtime.model.interpreter import Backend
from edge_runtime.model.tflite_meta import FlatModel

# Backend.name -> distribution to upgrade; these number their releases like TensorFlow does.
TF_NUMBERED = {
    "tflite_runtime.interpreter": "tflite-runtime",
    "tensorflow.lite": "tensorflow",
}


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) from "2.14.0", "2.14", "2.17.0rc1" or "1.14.0\\x00"; None when not a version."""
    if not text:
        return None
    match = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if match is None:
        return None
    major, minor, patch = (int(g) if g else 0 for g in match.groups())
    return major, minor, patch


def runtime_version_problem(flat_model: FlatModel, backend: Backend) -> str | None:
    """Why the model cannot run on ``backend`` (one line, without the file name), or None when it can or when
    the two versions cannot be compared (no entry in the file, LiteRT, an unknown backend or version)."""
    if backend.name not in TF_NUMBERED:
        return None
    needed_text = flat_model.min_runtime_version
    needed, have = parse_version(needed_text), parse_version(backend.version)
    if needed is None or have is None or needed <= have:
        return None
    return (
        f"the model needs a TFLite runtime {needed_text} or newer, but {backend.name} is {backend.version}: "
        f"convert it for this runtime (hs-convert RUN_DIR --target tflite-runtime) or upgrade "
        f"(pip install -U ai-edge-litert)"
    )


def check_runtime_version(flat_model: FlatModel, backend: Backend, path: str | Path | None = None) -> None:
    """Raise RuntimeFailure (exit 2) when the model's ``min_runtime_version`` is newer than ``backend``."""
    problem = runtime_version_problem(flat_model, backend)
    if problem is not None:
        raise RuntimeFailure(f"{path}: {problem}" if path is not None else problem)
