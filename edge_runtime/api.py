"""The runtime as a library: open a model once, then classify pictures or stream a source as typed results.

The running mode is explicit, as in MediaPipe Tasks, because it decides what a result may depend on:

- ``IMAGE``: unrelated pictures. Each is searched and labelled on its own (no tracks, no smoothing).
- ``VIDEO``: the frames of one video or camera that the caller decodes. The caller gives each frame's
  timestamp (seconds, increasing); smoothing and label hysteresis run on it, never on an implicit clock.
- ``STREAM``: the runtime opens the source (a file, folder, camera or URL) and yields a result per frame
  from ``stream()``, timed by the source itself. ``hs-run`` is this mode with its outputs attached.

A ``FaceClassifier`` holds interpreters: use it in a ``with`` block (or call ``close``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType

import numpy as np

from edge_runtime.config import RunConfig, default_threads
from edge_runtime.errors import RuntimeFailure
from edge_runtime.io.imageio import read_image
from edge_runtime.io.sources import Frame, Source, open_source
from edge_runtime.model.classifier import Classifier
from edge_runtime.results import FrameResult
from edge_runtime.run.build import build_classifier, build_pipeline
from edge_runtime.run.pipeline import Limits, Pipeline, Summary, frame_result


class RunningMode(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    STREAM = "stream"


@dataclass(frozen=True)
class ClassifierOptions:
    """What ``FaceClassifier`` opens: ``model`` a .tflite file or a packaged name (None: the default,
    ``happysad``); ``detector`` one of ``faces.detect.DETECTORS`` (None: the best installed); ``threads``
    interpreter threads (None: all cores, at most 4)."""

    model: str | Path | None = None
    detector: str | None = None
    threads: int | None = None
    align: bool = True
    running_mode: RunningMode = RunningMode.IMAGE


class FaceClassifier:
    """A model and a face detector, built once; see the module docstring for the running modes."""

    def __init__(self, options: ClassifierOptions) -> None:
        self.options = options
        self.config = RunConfig.from_flat(
            model=None if options.model is None else str(options.model),
            detector=options.detector,
            threads=options.threads or default_threads(),
            align=options.align,
        )
        self.classifier: Classifier = build_classifier(self.config)
        self.pipeline: Pipeline = build_pipeline(self.config, self.classifier, [])
        self._index = 0
        self._last_clock: float | None = None
        self._closed = False

    @classmethod
    def create(
        cls,
        model: str | Path | None = None,
        *,
        detector: str | None = None,
        threads: int | None = None,
        running_mode: RunningMode = RunningMode.IMAGE,
    ) -> FaceClassifier:
        return cls(ClassifierOptions(model, detector, threads, running_mode=running_mode))

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels; a result's label is one of them or ``uncertain``."""
        return self.classifier.info.labels

    def classify(self, image: np.ndarray | str | Path, order: str = "BGR") -> FrameResult:
        """``IMAGE`` mode: the faces in one picture (an array in ``order``, or an image file), each labelled
        on its own."""
        self._check_mode(RunningMode.IMAGE, "classify")
        name = "image"
        if isinstance(image, str | Path):
            name = str(image)
            pixels, reason = read_image(image)
            if pixels is None:
                raise RuntimeFailure(f"{image}: {reason}")
            image, order = pixels, "RGB"
        self.pipeline.tracker.reset()
        return self._result(image, order, name, clock=0.0, independent=True)

    def classify_frame(self, image: np.ndarray, timestamp_s: float, order: str = "BGR") -> FrameResult:
        """``VIDEO`` mode: the next frame of one video, at ``timestamp_s`` (seconds, increasing): labels are
        smoothed and held across frames by this clock."""
        self._check_mode(RunningMode.VIDEO, "classify_frame")
        if self._last_clock is not None and timestamp_s <= self._last_clock:
            raise ValueError(f"timestamp_s must increase: {timestamp_s} after {self._last_clock}")
        self._last_clock = timestamp_s
        return self._result(image, order, "video", clock=timestamp_s, independent=False)

    def stream(
        self,
        source: str | Path | None = None,
        *,
        camera: str | int | None = None,
        max_frames: int | None = None,
        duration: float | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[FrameResult]:
        """``STREAM`` mode: open ``source`` (file, folder, glob, URL) or ``camera`` and yield each frame's
        result until it ends, a limit is hit or ``stop`` is set. Breaking out of the loop closes the source."""
        self._check_mode(RunningMode.STREAM, "stream")  # now, not at the first next()
        opened = open_source(None if camera is None else str(camera), None if source is None else str(source))
        self.pipeline.tracker.reset()
        return self._drain(opened, Limits(max_frames, duration), stop)

    def _drain(self, opened: Source, limits: Limits, stop: threading.Event | None) -> Iterator[FrameResult]:
        try:
            yield from self.pipeline.stream(opened, limits, stop, Summary())
        finally:
            opened.close()

    def close(self) -> None:
        """Release the interpreters (safe to call twice)."""
        self._closed = True
        self.pipeline.lanes.clear()

    def __enter__(self) -> FaceClassifier:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _check_mode(self, mode: RunningMode, call: str) -> None:
        if self._closed:
            raise RuntimeError("this FaceClassifier is closed")
        if self.options.running_mode != mode:
            raise ValueError(f"{call}() needs running_mode={mode.name}; this one is {self.options.running_mode.name}")

    def _result(self, image: np.ndarray, order: str, name: str, clock: float, independent: bool) -> FrameResult:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
            raise ValueError("image must be an array of shape (H, W) or (H, W, 3)")
        frame = Frame(image, self._index, time.time(), name, order=order, clock=clock)
        self._index += 1
        seen = self.pipeline.analyse(frame, self.pipeline.lanes[0], independent, frame.index)
        return frame_result(frame, self.pipeline.track(seen), seen.seconds, seen.classifier.ident)
