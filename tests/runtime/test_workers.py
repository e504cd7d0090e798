"""Frames analysed side by side (``edge_runtime/run/workers.py``): the same results as the loop in turn, in the
source's order, errors reach the caller in order, and every stop holds within a second whatever the source
is doing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from edge_runtime.config import RunConfig
from edge_runtime.errors import RuntimeFailure
from edge_runtime.faces import detect
from edge_runtime.faces.blazeface import MODELS
from edge_runtime.faces.face import DetectorTraits, Face
from edge_runtime.io.sources import Frame
from edge_runtime.model.classifier import ModelOptions, load_classifier
from edge_runtime.results import FrameResult
from edge_runtime.run.build import build_classifier, build_detector, build_lanes, frame_lanes
from edge_runtime.run.pipeline import Lane, Limits, Pipeline
from edge_runtime.run.track import Tracker
from edge_runtime.run.workers import FrameWorkers
from tests.runtime.headless_helpers import wait_for


class MovingFace:
    """A detector without state: one face whose place follows the frame's brightness (so results differ per
    frame and depend only on the picture), a second face on odd frames."""

    name = "moving"
    traits = DetectorTraits(keypoints=False, twins=True, local_search=False)

    def __init__(self, fail_at: int | None = None, slow_every: int = 0) -> None:
        self.fail_at, self.slow_every = fail_at, slow_every
        self.threads_seen: set[str] = set()
        self.calls = 0
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray, order: str = "BGR", far: bool = True) -> list[Face]:
        with self._lock:
            self.calls += 1
        self.threads_seen.add(threading.current_thread().name)
        level = int(image[0, 0, 0])
        if self.slow_every and level % self.slow_every == 0:
            time.sleep(0.02)  # this frame finishes after the next ones: the order must still hold
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
                yield Frame(None, i, 0.0, "frames", skipped="corrupt", clock=i / 30)
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

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        self.records.append(result.to_dict())
        return None

    def close(self, ok: bool) -> None:
        pass


def _pipeline(models, detector, lanes: int = 2) -> tuple[Pipeline, Collect]:
    clf = load_classifier(models["int8"], threads=1)
    sink = Collect()
    more = [Lane(clf.twin(), detector) for _ in range(lanes - 1)]  # MovingFace holds no state: one serves all
    return Pipeline(clf, detector, Tracker(clf.info.labels), [sink], more_lanes=more), sink


def _workers_alive() -> bool:
    return any(t.name.startswith("frame-worker") for t in threading.enumerate())


def _workers_gone(ceiling: float = 30.0) -> bool:
    """Wait (at most a generous ceiling) for every frame worker to end; True once none is alive."""
    for t in [t for t in threading.enumerate() if t.name.startswith("frame-worker")]:
        t.join(timeout=ceiling)
    return not _workers_alive()


def test_workers_give_the_loop_in_turns_results_frame_for_frame(models):
    runs = {}
    for lanes in (1, 2, 3):
        det = MovingFace(slow_every=5)
        pipe, sink = _pipeline(models, det, lanes)
        assert len(pipe.lanes) == lanes
        summary = pipe.run(Frames(40, unreadable=(7,)))
        assert summary.frames == 39 and summary.skipped["corrupt"] == 1
        runs[lanes] = sink.records
        workers = {n for n in det.threads_seen if n.startswith("frame-worker")}
        assert len(workers) == (0 if lanes == 1 else lanes)
    assert runs[2] == runs[1] and runs[3] == runs[1]
    assert [r["frame"] for r in runs[2]] == [i for i in range(40) if i != 7]
    assert sum(len(r["results"]) for r in runs[2]) == 39 + 19  # type: ignore[arg-type]
    assert _workers_gone()


def test_a_detector_error_reaches_the_caller_and_the_worker_stops(models):
    pipe, sink = _pipeline(models, MovingFace(fail_at=5, slow_every=4))
    with pytest.raises(RuntimeFailure, match="detector broke"):
        pipe.run(Frames(20))
    assert [r["frame"] for r in sink.records] == [0, 1, 2, 3, 4]  # every frame before the error, in order
    assert _workers_gone()


class BrokenSource(Frames):
    def frames(self) -> Iterator[Frame | None]:
        yield from list(super().frames())[:3]
        raise RuntimeFailure("camera unplugged")


def test_a_source_error_reaches_the_caller_after_the_frames_before_it(models):
    pipe, sink = _pipeline(models, MovingFace())
    with pytest.raises(RuntimeFailure, match="camera unplugged"):
        pipe.run(BrokenSource(10))
    assert [r["frame"] for r in sink.records] == [0, 1, 2]


@pytest.mark.parametrize("how", ["signal", "duration", "max_frames"])
def test_every_stop_holds_while_the_source_stalls(models, how):
    pipe, _ = _pipeline(models, MovingFace())
    stop = threading.Event()
    limits = Limits(duration=0.5) if how == "duration" else Limits(max_frames=3) if how == "max_frames" else Limits()
    if how == "signal":
        threading.Timer(0.5, stop.set).start()
    summary = pipe.run(Frames(3 if how != "max_frames" else 50, stall=True), limits, stop)  # returns: it stopped
    assert summary.stopped_by.startswith(
        {"signal": "signal", "duration": "--duration", "max_frames": "--max-frames"}[how]
    )
    assert _workers_gone()


def test_close_stops_workers_waiting_for_room_and_the_window_bounds_frames_out():
    det = MovingFace()
    workers = FrameWorkers(iter(Frames(100).frames()), [det, det], lambda f, d, n: d.detect(f.image), window=3)
    first = next(iter(workers))
    assert isinstance(first, list) and first[0].box[0] == 0
    wait_for(lambda: det.calls >= 4, 30, "the workers to fill the window")  # 1 given + a window of 3
    assert workers._taken - workers._given <= 3
    workers.close()
    for t in workers.threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in workers.threads)


def test_other_lanes_go_on_past_a_frame_that_costs_several():
    """A wide-search frame costs about five others: the lanes beside it keep working while it runs, and the
    results still come in the source's order."""
    held = threading.Event()
    analysed: list[int] = []

    def analyse(frame: Frame, lane: object, number: int) -> int:
        if number == 0:
            held.wait(60)
        analysed.append(number)
        return number

    workers = FrameWorkers(iter(Frames(40).frames()), ["a", "b"], analyse)
    try:
        wait_for(lambda: len(analysed) >= 5, 30, "the free lane to take five frames past the held one")
        held.set()
        assert [r for r in workers if r is not None] == list(range(40))  # None: a tick, nothing yet
    finally:
        held.set()
        workers.close()


def test_haar_a_delegate_and_one_thread_go_in_turn(models, monkeypatch):
    from edge_runtime.faces import detect

    cfg = RunConfig.from_flat(model=str(models["int8"]), source="x", threads=4)
    assert frame_lanes(cfg.with_flat(detector_model="some.tflite")) == 4
    assert frame_lanes(cfg.with_flat(detector="haar")) == 1
    for other in ({"frame_workers": False}, {"threads": 1}, {"delegate": "libedgetpu.so.1"}):
        assert frame_lanes(cfg.with_flat(detector_model="some.tflite", **other)) == 1, other
    monkeypatch.setattr(detect, "find_model_file", lambda *a, **k: None)  # BlazeFace not installed: Haar, in turn
    assert frame_lanes(cfg) == 1
    clf = build_classifier(cfg)
    det = build_detector(cfg, clf)
    assert det is not None and det.name == "haar"
    assert build_lanes(cfg, clf, det) == []
    with pytest.raises(ValueError, match="per-stream state"):
        Pipeline(clf, det, Tracker(clf.info.labels), [], more_lanes=[Lane(clf, det)])


def test_blazeface_lanes_are_twins_with_their_own_one_thread_interpreters(models):
    file = detect.find_model_file(MODELS["blazeface"].file)
    if file is None:
        pytest.skip(f"BlazeFace files not installed: {detect.INSTALL}")
    cfg = RunConfig.from_flat(model=str(models["int8"]), source="x", threads=3, model_options=ModelOptions(roi="face"))
    clf = build_classifier(cfg)
    det = build_detector(cfg, clf)
    lanes = build_lanes(cfg, clf, det)
    assert len(lanes) == 2
    pairs = [(clf, det), *((lane.classifier, lane.detector) for lane in lanes)]
    interpreters = [c.runner.interp for c, _ in pairs]
    for _, d in pairs:
        interpreters += [d.near_range.interp, d.wide.interp]  # type: ignore[union-attr]
    assert len({id(x) for x in interpreters}) == 9, "every lane has its own three interpreters"
    frame = np.zeros((120, 160, 3), np.uint8)
    pixels = np.full((*clf.runner.input.shape[1:3], clf.runner.input.shape[3]), 90, np.uint8)
    for lane in lanes:
        assert lane.detector.detect(frame) == det.detect(frame)  # type: ignore[union-attr]
        np.testing.assert_array_equal(lane.classifier.classify(pixels[None]), clf.classify(pixels[None]))


def test_a_live_camera_through_the_workers_keeps_its_newest_frame_rule(models):
    from edge_runtime.io.sources import LatestFrameReader
    from tests.runtime.test_sources import FakeCapture

    reader = LatestFrameReader(lambda: FakeCapture(0, 10**9, delay=0.001), "fast cam", log=lambda m: None)
    det = MovingFace(slow_every=1)  # 20 ms a frame: slower than the camera
    pipe, sink = _pipeline(models, det)
    summary = pipe.run(reader, Limits(duration=0.6))
    reader.close()
    frames = [r["frame"] for r in sink.records]
    assert summary.stopped_by.startswith("--duration") and len(frames) >= 10
    assert frames == sorted(set(frames))  # in order, none twice, although two workers took them
    assert summary.dropped > 0  # the camera went on; the workers got its newest frames
    assert {n for n in det.threads_seen if n.startswith("frame-worker")} == {"frame-worker-0", "frame-worker-1"}
