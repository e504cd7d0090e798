"""The frame loop: source -> detect -> preprocess -> infer -> postprocess -> sinks, each stage timed.

No drawing happens unless a sink asked for an image, and drawing never touches what the model sees.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2

from .detect import FaceDetector
from .draw import annotate
from .model import Classifier
from .preprocess import Box, region_pixels
from .sinks import Sink
from .sources import Frame, Source
from .stats import StageStats
from .track import Result, Tracker


@dataclass(frozen=True)
class Limits:
    max_frames: int | None = None
    duration: float | None = None
    stats_every: float | None = None  # seconds between --stats lines


@dataclass
class Summary:
    frames: int = 0  # frames classified
    results: int = 0  # faces (or whole frames) classified
    skipped: Counter = field(default_factory=Counter)  # unreadable frames, by reason
    first_result_s: float | None = None
    stopped_by: str = "end of source"
    dropped: int = 0
    reconnects: int = 0
    labels: Counter = field(default_factory=Counter)  # results per label (what was seen)

    def line(self) -> str:
        skipped = sum(self.skipped.values())
        why = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        parts = [f"{self.frames} frames", f"{self.results} results", f"{skipped} skipped" + (f" ({why})" if why else "")]
        if self.labels:
            parts.append("seen: " + ", ".join(f"{k} {v}" for k, v in self.labels.most_common()))
        if self.dropped:
            parts.append(f"{self.dropped} live frames dropped (model slower than source)")
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnects")
        return f"stopped: {self.stopped_by}; " + ", ".join(parts)


class Pipeline:
    """Everything built once per run; ``run`` loops until the source ends or a limit or stop is hit."""

    def __init__(self, classifier: Classifier, detector: FaceDetector | None, tracker: Tracker,
                 sinks: list[Sink], stats: StageStats | None = None,
                 log: Callable[[str], None] = lambda m: None) -> None:
        self.classifier, self.detector, self.tracker, self.sinks = classifier, detector, tracker, sinks
        self.stats = stats or StageStats()
        self.log = log
        self.draw = any(s.needs_image for s in sinks)

    def boxes(self, frame: Frame) -> list[Box | None]:
        """Face boxes, or [None] (the whole frame) in frame mode."""
        if self.detector is None:
            return [None]
        return list(self.detector.detect(frame.image, frame.order, self.tracker.boxes()))

    def process(self, frame: Frame) -> list[Result]:
        """One readable frame through detect, preprocess, infer and postprocess, each timed."""
        st, clf, t0 = self.stats, self.classifier, time.perf_counter()
        boxes = self.boxes(frame)
        t1 = time.perf_counter()
        tensors = [clf.to_tensor(region_pixels(frame.image, b, clf.spec, frame.order)) for b in boxes]
        t2 = time.perf_counter()
        raws = [clf.infer(t) for t in tensors]
        t3 = time.perf_counter()
        h, w = frame.image.shape[:2]
        full: Box = (0, 0, w, h)
        results = self.tracker.update([b or full for b in boxes], [clf.probabilities(r) for r in raws])
        t4 = time.perf_counter()
        if self.detector is not None:
            st.add("detect", t1 - t0)
        if boxes:  # a frame without faces would pull the per-face percentiles towards zero
            st.add("preprocess", t2 - t1)
            st.add("infer", t3 - t2)
            st.add("postprocess", t4 - t3)
        return results

    def output(self, frame: Frame, results: list[Result]) -> bool:
        t0 = time.perf_counter()
        record: dict[str, Any] = {"frame": frame.index, "time": round(frame.time, 3), "source": frame.source,
                                  "results": [r.to_dict() for r in results]}
        image = None
        if self.draw:
            image = frame.image if frame.order == "BGR" else cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
            image = annotate(image, results, self.classifier.info.labels, self.stats.fps())
        keep_going = all([s.emit(record, image) for s in self.sinks])
        self.stats.add("output", time.perf_counter() - t0)
        return keep_going

    def run(self, source: Source, limits: Limits = Limits(), stop: threading.Event | None = None) -> Summary:
        stop = stop or threading.Event()
        summary, st = Summary(), self.stats
        started = st.started = time.perf_counter()
        frames = iter(source.frames())
        while True:
            if stop.is_set():
                summary.stopped_by = "signal"
                break
            if limits.max_frames is not None and summary.frames + sum(summary.skipped.values()) >= limits.max_frames:
                summary.stopped_by = f"--max-frames {limits.max_frames}"
                break
            if limits.duration is not None and time.perf_counter() - started >= limits.duration:
                summary.stopped_by = f"--duration {limits.duration:g}"
                break
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                break
            st.add("capture", time.perf_counter() - t0)
            if frame.image is None:
                summary.skipped[frame.skipped or "unreadable"] += 1
                self.log(f"skipped {frame.source}: {frame.skipped}")
                continue
            if source.independent:
                self.tracker.reset()
            results = self.process(frame)
            summary.frames += 1
            st.frames += 1
            summary.results += len(results)
            summary.labels.update(r.label for r in results)
            if summary.first_result_s is None:
                summary.first_result_s = time.perf_counter() - started
            if not self.output(frame, results):
                summary.stopped_by = "window closed"
                break
            if limits.stats_every and st.due(limits.stats_every):
                self.log(st.report())
        st.stop()
        summary.dropped = getattr(source, "dropped", 0)
        summary.reconnects = getattr(source, "reconnects", 0)
        return summary
