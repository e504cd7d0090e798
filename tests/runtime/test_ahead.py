"""Detection one frame ahead (``edge_runtime/ahead.py``): the same results as the sequential loop, errors
reach the caller, and every stop holds within a second whatever the source is doing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from edge_runtime.ahead import DetectAhead, Found
from edge_runtime.build import RunConfig, build_classifier, build_detector, side_by_side, split_threads
from edge_runtime.errors import RuntimeFailure
from edge_runtime.face import Face
from edge_runtime.model import load_classifier
from edge_runtime.pipeline import Limits, Pipeline
from edge_runtime.sources import Frame
from edge_runtime.track import Tracker


class MovingFace:
    """A detector without state: one face whose place follows the frame's brightness (so results differ per
    frame and depend only on the picture), a second face on odd frames."""

    name = "moving"

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.threads_seen: set[str] = set()

    def detect(self, image: np.ndarray, order: str = "BGR") -> list[Face]:
        self.threads_seen.add(threading.current_thread().name)
        level = int(image[0, 0, 0])
        if self.fail_at is not None and level == self.fail_at:
            raise RuntimeFailure("detector broke")
        faces = [Face((level % 40, 10, 30, 30), 0.9)]
        if level % 2:
            faces.append(Face((50, 20, 24, 24), 0.8))
        return faces


class Frames:
    """A source over pictures whose pixels are their index; ``stall`` makes it tick (None) forever after."""

    name, live, independent, failure = "frames", False, False, None

    def __init__(self, n: int, stall: bool = False, unreadable: tuple[int, ...] = ()) -> None:
        self.n, self.stall, self.unreadable = n, stall, unreadable

    def frames(self) -> Iterator[Frame | None]:
        for i in range(self.n):
            if i in self.unreadable:
                yield Frame(None, i, 0.0, "frames", skipped="corrupt")
                continue
            yield Frame(np.full((64, 96, 3), i, np.uint8), i, 0.0, "frames", clock=i / 30)
        while self.stall:
            time.sleep(0.05)
            yield None

    def close(self) -> None:
        pass


class Collect:
    needs_image = False

    def __init__(self) -> None:
        self.records: list[dict[str, object]] = []

    def emit(self, record: dict[str, object], image: np.ndarray | None) -> str | None:
        self.records.append(record)
        return None

    def close(self, ok: bool) -> None:
        pass


def _pipeline(models, detector, ahead: bool) -> tuple[Pipeline, Collect]:
    clf = load_classifier(models["int8"], threads=1)
    sink = Collect()
    return Pipeline(clf, detector, Tracker(clf.info.labels), [sink], ahead=ahead), sink


def test_ahead_gives_the_sequential_loops_results_frame_for_frame(models):
    runs = {}
    for ahead in (False, True):
        det = MovingFace()
        pipe, sink = _pipeline(models, det, ahead)
        assert pipe.ahead is ahead
        summary = pipe.run(Frames(40, unreadable=(7,)))
        assert summary.frames == 39 and summary.skipped["corrupt"] == 1
        runs[ahead] = sink.records
        assert ("detect-ahead" in det.threads_seen) is ahead
    assert runs[True] == runs[False]
    assert sum(len(r["results"]) for r in runs[True]) == 39 + 19  # type: ignore[arg-type]


def test_a_detector_error_reaches_the_caller_and_the_worker_stops(models):
    pipe, sink = _pipeline(models, MovingFace(fail_at=5), True)
    with pytest.raises(RuntimeFailure, match="detector broke"):
        pipe.run(Frames(20))
    assert len(sink.records) == 5
    time.sleep(0.3)
    assert not any(t.name == "detect-ahead" for t in threading.enumerate())


@pytest.mark.parametrize("how", ["signal", "duration", "max_frames"])
def test_every_stop_holds_within_a_second_while_the_source_stalls(models, how):
    pipe, _ = _pipeline(models, MovingFace(), True)
    stop = threading.Event()
    limits = Limits(duration=0.5) if how == "duration" else Limits(max_frames=3) if how == "max_frames" else Limits()
    if how == "signal":
        threading.Timer(0.5, stop.set).start()
    t0 = time.perf_counter()
    summary = pipe.run(Frames(3 if how != "max_frames" else 50, stall=True), limits, stop)
    assert time.perf_counter() - t0 < 1.5
    assert summary.stopped_by.startswith(
        {"signal": "signal", "duration": "--duration", "max_frames": "--max-frames"}[how]
    )
    time.sleep(0.3)
    assert not any(t.name == "detect-ahead" for t in threading.enumerate())


def test_close_stops_a_worker_blocked_on_a_full_queue():
    ahead = DetectAhead(iter(Frames(100).frames()), MovingFace())
    first = next(iter(ahead))
    assert isinstance(first, Found) and first.frame.index == 0 and first.seconds >= 0
    time.sleep(0.2)  # the worker fills the queue and waits for room
    t0 = time.perf_counter()
    ahead.close()
    assert time.perf_counter() - t0 < 1.0
    assert not ahead._thread.is_alive()


def test_haar_keeps_the_sequential_loop_and_the_threads_are_shared(models, monkeypatch):
    from edge_runtime import build, detect

    assert split_threads(1) == (1, 1) and split_threads(2) == (1, 1) and split_threads(4) == (2, 2)
    assert split_threads(3) == (1, 2)
    cfg = RunConfig(model=str(models["int8"]), source="x", threads=4)
    assert not side_by_side(replace(cfg, detector="haar")) and not side_by_side(replace(cfg, detect_ahead=False))
    assert side_by_side(replace(cfg, detector_model="some.tflite"))
    assert not side_by_side(replace(cfg, detector_model="some.tflite", threads=1))
    for module in (build, detect):  # BlazeFace not installed: Haar, in turn
        monkeypatch.setattr(module, "find_model_file", lambda *a, **k: None)
    assert not side_by_side(cfg)
    clf = build_classifier(cfg)
    det = build_detector(cfg, clf)
    assert det is not None and det.name == "haar"
    assert not Pipeline(clf, det, Tracker(clf.info.labels), []).ahead
