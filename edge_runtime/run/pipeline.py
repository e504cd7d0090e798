"""The frame loop: source -> detect -> preprocess -> infer -> postprocess -> sinks, each stage timed.

No drawing happens unless a sink asked for an image, and drawing never touches what the model sees.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_runtime.faces.align import face_region
from edge_runtime.faces.face import Detector, Face
from edge_runtime.io.sources import Frame, Source
from edge_runtime.model.classifier import Classifier
from edge_runtime.model.preprocess import Box, to_model_pixels
from edge_runtime.model.spec import crop_rule
from edge_runtime.outputs.draw import annotate
from edge_runtime.outputs.sinks import Sink
from edge_runtime.results import FaceResult, FrameResult
from edge_runtime.run.stats import StageStats
from edge_runtime.run.track import Tracker, same_decision, tracker_for
from edge_runtime.run.workers import FrameWorkers

_END = object()  # what next() returns once a source has no more frames


@dataclass(frozen=True)
class Limits:
    max_frames: int | None = None
    duration: float | None = None
    stats_every: float | None = None  # seconds between --stats lines


@dataclass
class Summary:
    frames: int = 0  # frames classified
    results: int = 0  # faces (or whole frames) classified
    skipped: Counter[str] = field(default_factory=Counter)  # unreadable frames, by reason
    first_result_s: float | None = None
    stopped_by: str = "end of source"
    dropped: int = 0
    reconnects: int = 0
    labels: Counter[str] = field(default_factory=Counter)  # results per label (what was seen)

    def line(self) -> str:
        skipped = sum(self.skipped.values())
        why = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        parts = [
            f"{self.frames} frames",
            f"{self.results} results",
            f"{skipped} skipped" + (f" ({why})" if why else ""),
        ]
        if self.labels:
            parts.append("seen: " + ", ".join(f"{k} {v}" for k, v in self.labels.most_common()))
        if self.dropped:
            parts.append(f"{self.dropped} live frames dropped (model slower than source)")
        if self.reconnects:
            parts.append(f"{self.reconnects} reconnects")
        return f"stopped: {self.stopped_by}; " + ", ".join(parts)


@dataclass
class SearchPlan:
    """When the Haar cascade searches the whole frame and when only the tracked faces' neighbourhoods.
    BlazeFace searches every whole frame (about 1 ms): the local search only pays with Haar.

    A full search every ``refresh_every`` frames while faces are tracked, every ``idle_every`` frames while
    none are (an empty scene costs little, a face walking in is found within a few frames), and on every
    picture of an unrelated-image source. Owned by the pipeline, so a caller can see and reset it.
    """

    refresh_every: int = 5
    idle_every: int = 3
    since_full: int = 1 << 30  # the first frame gets a full search

    def full_due(self, tracking: bool, independent: bool) -> bool:
        due = self.refresh_every if tracking else min(self.idle_every, self.refresh_every)
        if independent or self.since_full + 1 >= due:
            self.since_full = 0
            return True
        self.since_full += 1
        return False


@dataclass(frozen=True)
class Lane:
    """What analyses one frame on its own: a classifier and a detector, each with its own interpreter. A run
    has one lane per frame worker (``edge_runtime/run/workers.py``), or just one when frames go in turn."""

    classifier: Classifier
    detector: Detector | None


@dataclass(frozen=True)
class Seen:
    """A frame analysed: its faces (None: the whole frame), one probability row each, and the seconds each
    stage took. Nothing in it depends on the frames before: the tracker comes after."""

    frame: Frame
    faces: list[Face | None]
    probs: list[np.ndarray]
    seconds: dict[str, float]
    classifier: Classifier  # the model that made ``probs`` (a reload may swap it between frames)


class Pipeline:
    """Everything built once per run; ``run`` loops until the source ends or a limit or stop is hit."""

    def __init__(
        self,
        classifier: Classifier,
        detector: Detector | None,
        tracker: Tracker,
        sinks: list[Sink],
        stats: StageStats | None = None,
        log: Callable[[str], None] = lambda m: None,
        search: SearchPlan | None = None,
        align: bool = True,
        more_lanes: Sequence[Lane] = (),
    ) -> None:
        """``more_lanes``: twins of (classifier, detector) with their own interpreters; with any, frames are
        analysed side by side, one worker thread per lane. Not with Haar: its search depends on the tracker."""
        self.classifier, self.detector, self.tracker, self.sinks = classifier, detector, tracker, sinks
        self.align = align
        self.stats = stats or StageStats()
        self.log = log
        self.search = search or SearchPlan()
        if more_lanes and (detector is None or not detector.traits.twins):
            raise ValueError("frames go side by side only with a detector that holds no per-stream state")
        self.lanes = [Lane(classifier, detector), *more_lanes]

    def faces(self, frame: Frame, lane: Lane, independent: bool, number: int = 0) -> list[Face | None]:
        """Detected faces, or [None] (the whole frame) in frame mode. ``number``: the frame's place in the run
        (0, 1, ...), which decides the frames a detector with ``traits.far_every`` searches far on."""
        det = lane.detector
        if det is None:
            return [None]
        assert frame.image is not None
        if not det.traits.local_search:
            every = det.traits.far_every
            return list(det.detect(frame.image, frame.order, independent or every <= 1 or number % every == 0))
        hints = self.tracker.boxes()  # a local search runs in turn only (one lane): the tracker is this frame's
        if self.search.full_due(bool(hints), independent):
            return list(det.detect(frame.image, frame.order))
        found = [det.near(frame.image, frame.order, b) for b in hints]
        return [Face(b) for b in found if b is not None]

    def pixels(self, frame: Frame, face: Face | None, clf: Classifier | None = None) -> np.ndarray:
        """The model's pixels for one face (the model's training crop, as this detector must cut it), or for
        the whole frame."""
        assert frame.image is not None
        spec = (clf or self.classifier).spec
        if face is None:
            return to_model_pixels(frame.image, spec, frame.order)
        crop = crop_rule(spec.face_crop, face.found_by or (self.detector.name if self.detector else "haar"))
        return to_model_pixels(face_region(frame.image, face, crop, self.align), spec, frame.order)

    def swap(self, lanes: Sequence[Lane]) -> None:
        """Analyse the frames not yet taken with ``lanes`` (a new model's, one per worker, same detectors):
        frames already out finish on the old model, and their results say so."""
        if len(lanes) != len(self.lanes):
            raise ValueError(f"swap needs {len(self.lanes)} lanes, not {len(lanes)}")
        self.lanes = list(lanes)
        self.classifier = self.lanes[0].classifier

    def analyse(self, frame: Frame, lane: Lane, independent: bool = False, number: int = 0) -> Seen:
        """One readable frame through detect, preprocess, infer and the probabilities, on ``lane``'s own
        interpreters: safe in a worker thread, since it reads no state that changes while frames run."""
        t0 = time.perf_counter()
        faces = self.faces(frame, lane, independent, number)
        t1 = time.perf_counter()
        clf = lane.classifier
        tensors = [clf.to_tensor(self.pixels(frame, f, clf)) for f in faces]
        t2 = time.perf_counter()
        raws = [clf.infer(t) for t in tensors]
        t3 = time.perf_counter()
        probs = [clf.probabilities(r) for r in raws]
        seconds = {"detect": t1 - t0, "preprocess": t2 - t1, "infer": t3 - t2, "postprocess": time.perf_counter() - t3}
        return Seen(frame, faces, probs, seconds, clf)

    def track(self, seen: Seen) -> list[FaceResult]:
        """The tracker's results for an analysed frame (in the source's order), and its stage timings."""
        t0 = time.perf_counter()
        frame, faces, st = seen.frame, seen.faces, self.stats
        assert frame.image is not None
        h, w = frame.image.shape[:2]
        full: Box = (0, 0, w, h)
        if not same_decision(seen.classifier.info, self.tracker):  # a swapped-in model with other labels
            self.tracker = tracker_for(seen.classifier.info)
        carry = max(0, self.detector.traits.far_every - 1) if self.detector is not None else 0
        results = self.tracker.update([f.box if f else full for f in faces], seen.probs, frame.clock, carry)
        if self.detector is not None:
            st.add("detect", seen.seconds["detect"])
        if faces:  # a frame without faces would pull the per-face percentiles towards zero
            st.add("preprocess", seen.seconds["preprocess"])
            st.add("infer", seen.seconds["infer"])
            st.add("postprocess", seen.seconds["postprocess"] + time.perf_counter() - t0)
        return results

    def process(self, frame: Frame, independent: bool = False) -> list[FaceResult]:
        """One readable frame, in turn, from detect to the tracker's results (its place: ``frame.index``)."""
        return self.track(self.analyse(frame, self.lanes[0], independent, frame.index))

    def output(self, result: FrameResult) -> str | None:
        """Hand a frame's result to every sink; the first reason a sink gives to stop, or None."""
        t0 = time.perf_counter()
        image = None
        if any(s.needs_image for s in self.sinks):  # asked per frame: a web view or a snapshot wants one at times
            assert result.image is not None
            image = result.image if result.order == "BGR" else cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR)
            image = annotate(image, result.faces, self.classifier.info.labels, self.stats.fps())
        reasons = [s.emit(result, image) for s in self.sinks]
        self.stats.add("output", time.perf_counter() - t0)
        return next((r for r in reasons if r), None)

    def run(
        self,
        source: Source,
        limits: Limits = Limits(),
        stop: threading.Event | None = None,
        summary: Summary | None = None,
        between: Callable[[Pipeline], None] | None = None,
    ) -> Summary:
        """Every result of ``stream`` handed to the sinks, until the stream ends or a sink says stop.
        ``summary`` (the caller's, if given) is filled in as frames go, so it is complete even when a sink
        raises. ``between`` runs after each frame's outputs (a model reload swaps there)."""
        summary = summary if summary is not None else Summary()
        for result in self.stream(source, limits, stop, summary):
            reason = self.output(result)
            if reason:
                summary.stopped_by = reason
                break
            if between is not None:
                between(self)
        return summary

    def stream(
        self,
        source: Source,
        limits: Limits = Limits(),
        stop: threading.Event | None = None,
        summary: Summary | None = None,
    ) -> Iterator[FrameResult]:
        """The result of each readable frame, in the source's order, until the source ends or a limit or
        ``stop`` is hit. Closing the iterator early (a ``break``) stops the frame workers too."""
        stop = stop or threading.Event()
        summary = summary if summary is not None else Summary()
        st = self.stats
        started = st.started = time.perf_counter()
        frames = iter(source.frames())
        # workers look their lane up by number for each frame, so a swap reaches the frames not yet taken
        workers = (
            FrameWorkers(frames, range(len(self.lanes)), lambda f, i, n: self.analyse(f, self.lanes[i], number=n))
            if len(self.lanes) > 1
            else None
        )
        items: Iterator[Seen | Frame | None] = iter(workers) if workers else frames
        number = 0  # frames taken, as the workers number them
        try:
            while True:
                reason = _stop_reason(stop, limits, summary, time.perf_counter() - started)
                if reason:
                    summary.stopped_by = reason
                    break
                t0 = time.perf_counter()
                item = next(items, _END)
                if item is _END:
                    summary.stopped_by = source.failure or "end of source"
                    break
                if item is None:  # a live source with nothing new yet
                    continue
                seen = item if isinstance(item, Seen) else None
                frame = seen.frame if seen else item
                assert isinstance(frame, Frame)
                st.add("capture", time.perf_counter() - t0)  # with frame workers: the wait for the next one analysed
                result = self.step(frame, source.independent, summary, seen, number)
                number += 1
                if result is not None:
                    yield result
                if limits.stats_every and st.due(limits.stats_every):
                    self.log(st.report())
        finally:
            if workers:
                workers.close()
            st.stop()
            summary.dropped = getattr(source, "dropped", 0)
            summary.reconnects = getattr(source, "reconnects", 0)

    def step(
        self, frame: Frame, independent: bool, summary: Summary, seen: Seen | None = None, number: int = 0
    ) -> FrameResult | None:
        """One frame from the source to its result (``seen``: analysed already by a worker; ``number``: its
        place in the run); None for an unreadable frame (counted in ``summary``)."""
        if frame.image is None:
            summary.skipped[frame.skipped or "unreadable"] += 1
            self.log(f"skipped {frame.source}: {frame.skipped}")
            return None
        if independent:
            self.tracker.reset()
        seen = seen or self.analyse(frame, self.lanes[0], independent, number)
        faces = self.track(seen)
        summary.frames += 1
        self.stats.frames += 1
        summary.results += len(faces)
        summary.labels.update(r.label for r in faces)
        if summary.first_result_s is None:
            summary.first_result_s = time.perf_counter() - self.stats.started
        return frame_result(frame, faces, seen.seconds, seen.classifier.ident)


def frame_result(
    frame: Frame, faces: Sequence[FaceResult], seconds: dict[str, float] | None = None, model: str = ""
) -> FrameResult:
    """A frame and its faces' results as the typed result every output and the API receive."""
    return FrameResult(
        index=frame.index,
        time=round(frame.time, 3),
        source=frame.source,
        faces=tuple(faces),
        clock=frame.clock,
        image=frame.image,
        order=frame.order,
        seconds=dict(seconds or {}),
        model=model,
    )


def _stop_reason(stop: threading.Event, limits: Limits, summary: Summary, elapsed: float) -> str | None:
    if stop.is_set():
        return "signal"
    if limits.max_frames is not None and summary.frames + sum(summary.skipped.values()) >= limits.max_frames:
        return f"--max-frames {limits.max_frames}"
    if limits.duration is not None and elapsed >= limits.duration:
        return f"--duration {limits.duration:g}"
    return None
