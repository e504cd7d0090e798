"""``/metrics`` on the web view: the run's counters in Prometheus' text exposition format (version 0.0.4).

``Metrics`` is a sink (fed every ``FrameResult`` on the pipeline's thread) and the collector the web view's
request threads read; one lock guards both sides. Written by hand, so the device needs no client library.

Memory stays flat however long the run: histogram buckets are fixed, stages are the pipeline's few (at most
``MAX_STAGES``), and label series are the model's labels plus ``uncertain`` (anything else counts as
``other``; without the model's labels, the first ``MAX_LABELS`` seen, then ``other``). Gauges that other
parts own (the source's reconnects and dropped frames, write errors) are read when scraped.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from edge_runtime.results import FrameResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Stage latencies from 0.1 ms (a tracker step on a laptop) to 1 s (a slow detector on a Pi Zero); +Inf beyond.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
STAGES = ("detect", "preprocess", "infer", "postprocess")  # FrameResult.seconds' keys, shown from the start
MAX_STAGES = 8  # further stage names are not recorded
MAX_LABELS = 16  # label series when the model's labels were not given
UNCERTAIN = "uncertain"  # the tracker's label between the model's
OTHER = "other"  # a label outside the set
FPS_WINDOW_S = 3.0
FPS_SAMPLES = 4096  # frame times kept for the rate (a 1000 FPS pipeline still fits its window)


class _Histogram:
    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # per bucket, not cumulative; the last is above every bound
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = 0
        while i < len(BUCKETS) and value > BUCKETS[i]:
            i += 1
        self.counts[i] += 1
        self.sum += value
        self.count += 1

    def copy(self) -> _Histogram:
        h = _Histogram()
        h.counts, h.sum, h.count = list(self.counts), self.sum, self.count
        return h


class Metrics:
    """The run's metrics. ``source``: the frame source (its ``reconnects``, ``dropped`` and ``state`` are read
    at scrape time, 0 / live when it has none); ``labels``: the model's labels; ``write_errors``: a callable
    returning the write errors seen so far; ``model_file`` / ``model_version``: ``hs_model_info``'s labels.
    Without ``model_file``, ``hs_model_info`` follows the newest result's ``model`` (``name#hash``: file
    ``name``, version ``hash``), so a model swapped during the run shows as the new one."""

    needs_image = False

    def __init__(
        self,
        source: object | None = None,
        labels: Sequence[str] | None = None,
        write_errors: Callable[[], int] | None = None,
        model_file: str | None = None,
        model_version: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source, self.write_errors, self.clock = source, write_errors, clock
        self.model_file, self.model_version = model_file, model_version
        self._fixed_labels = labels is not None
        self._lock = threading.Lock()
        self.started = clock()
        self.frames = 0
        self.faces = 0
        self.faces_in_view = 0
        self.result_model = ""  # the newest result's model, name#hash
        self.labels: dict[str, int] = dict.fromkeys([*(labels or ()), UNCERTAIN], 0) if labels is not None else {}
        self.stages: dict[str, _Histogram] = {s: _Histogram() for s in STAGES}
        self._times: deque[float] = deque(maxlen=FPS_SAMPLES)

    # -- the sink side (the pipeline's thread) --

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        now = self.clock()
        with self._lock:
            self.frames += 1
            self.faces += len(result.faces)
            self.faces_in_view = len(result.faces)
            self.result_model = str(getattr(result, "model", "") or "")
            for face in result.faces:
                key = self._label_key(face.label)
                self.labels[key] = self.labels.get(key, 0) + 1
            for stage, seconds in result.seconds.items():
                hist = self.stages.get(stage)
                if hist is None:
                    if len(self.stages) >= MAX_STAGES:
                        continue
                    hist = self.stages[stage] = _Histogram()
                value = float(seconds)
                if math.isfinite(value):
                    hist.observe(max(value, 0.0))
            self._times.append(now)
        return None

    def _label_key(self, label: str) -> str:
        if label in self.labels:
            return label
        if self._fixed_labels or len(self.labels) >= MAX_LABELS:
            return OTHER
        return label

    def close(self, ok: bool) -> None:
        """Nothing to release: the numbers stay readable until the web view closes."""

    # -- the reading side (any thread) --

    def fps(self) -> float:
        now = self.clock()
        with self._lock:
            recent = [t for t in self._times if now - t <= FPS_WINDOW_S]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def render(self, viewers: int | None = None) -> str:
        """The exposition text; ``viewers``: the web view's open streams, when asked from there."""
        fps = self.fps()
        with self._lock:
            frames, faces, in_view = self.frames, self.faces, self.faces_in_view
            labels = dict(self.labels)
            stages = {name: h.copy() for name, h in self.stages.items()}
            result_model = self.result_model
        uptime = self.clock() - self.started
        source = self.source
        state = str(getattr(source, "state", "live"))
        out = _Writer()
        out.family("hs_frames_total", "counter", "Frames analysed.", [({}, frames)])
        out.family("hs_faces_total", "counter", "Face results (one per face per frame).", [({}, faces)])
        out.family(
            "hs_labels_total",
            "counter",
            "Face results by reported label.",
            [({"label": k}, v) for k, v in sorted(labels.items())],
        )
        out.stage_histograms(stages)
        out.family("hs_faces_in_view", "gauge", "Faces in the newest frame.", [({}, in_view)])
        out.family("hs_fps", "gauge", f"Frames per second over the last {FPS_WINDOW_S:g} s.", [({}, round(fps, 3))])
        out.family("hs_uptime_seconds", "gauge", "Seconds since the run started.", [({}, round(uptime, 3))])
        out.family(
            "hs_source_up", "gauge", "1 while the source delivers frames (state live), else 0.", [({}, state == "live")]
        )
        out.family(
            "hs_source_reconnects_total",
            "counter",
            "Times a live source was opened again after it dropped out.",
            [({}, _count(getattr(source, "reconnects", 0)))],
        )
        out.family(
            "hs_source_dropped_frames_total",
            "counter",
            "Frames a live source delivered that the pipeline skipped (it was busy).",
            [({}, _count(getattr(source, "dropped", 0)))],
        )
        errors = 0 if self.write_errors is None else _count(self.write_errors())
        out.family("hs_write_errors_total", "counter", "Output write errors.", [({}, errors)])
        if viewers is not None:
            out.family("hs_stream_viewers", "gauge", "Open MJPEG streams on the web view.", [({}, viewers)])
        model_file, model_version = self.model_file, self.model_version
        if not model_file and result_model:
            model_file, _, model_version = result_model.partition("#")
        if model_file:
            info = {"file": model_file, "version": model_version or ""}
            out.family("hs_model_info", "gauge", "The model in use (always 1).", [(info, 1)])
        return out.text()


def _count(value: object) -> int:
    """A count another part keeps (an int, or a float that holds one); anything else reads as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return max(int(value), 0)


def number(value: float | bool) -> str:
    """A sample value or ``le`` bound as the format spells it: integers bare, +Inf / -Inf / NaN."""
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def escape_label(value: str) -> str:
    """A label value between double quotes: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text: backslash and line feed escaped (quotes stay)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float | bool]]) -> None:
        self.lines.append(f"# HELP {name} {escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.sample(name, labels, value)

    def sample(self, name: str, labels: dict[str, str], value: float | bool) -> None:
        inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{inner}}} {number(value)}" if inner else f"{name} {number(value)}")

    def stage_histograms(self, stages: dict[str, _Histogram]) -> None:
        name = "hs_stage_seconds"
        self.lines.append(f"# HELP {name} Seconds each pipeline stage took per frame.")
        self.lines.append(f"# TYPE {name} histogram")
        for stage, hist in stages.items():
            running = 0
            for bound, n in zip((*BUCKETS, math.inf), hist.counts):
                running += n
                self.sample(f"{name}_bucket", {"stage": stage, "le": number(bound)}, running)
            self.sample(f"{name}_sum", {"stage": stage}, hist.sum)
            self.sample(f"{name}_count", {"stage": stage}, hist.count)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
