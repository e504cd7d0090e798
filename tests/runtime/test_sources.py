"""Frame sources: files in order, images by content, live sources that keep only the newest frame and
reopen after dropping out, cameras that cannot open."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.errors import RuntimeFailure
from edge_runtime.io.sources import ImageListSource, LatestFrameReader, VideoFileSource, open_source
from edge_runtime.model.classifier import load_classifier
from edge_runtime.run.pipeline import Limits, Pipeline
from edge_runtime.run.track import Tracker
from tests.runtime.helpers import face_image, write_video


def image_folder(root: Path) -> Path:
    """Three good images, a truncated JPEG, a text file named .jpg, and a non-image file to ignore."""
    root.mkdir()
    for i in range(3):
        cv2.imwrite(str(root / f"img{i}.png"), face_image(40 + 8 * i, seed=i))
    _ok, jpg = cv2.imencode(".jpg", face_image(64))
    (root / "img3_cut.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (root / "img4_fake.jpg").write_text("not an image")
    (root / "notes.txt").write_text("ignored")
    return root


@pytest.mark.parametrize("fmt", ["v.avi", "v.mp4"])
def test_video_file_every_frame_in_order(tmp_path, fmt):
    src = open_source(source=str(write_video(tmp_path / fmt, frames=7)))
    assert isinstance(src, VideoFileSource) and not src.live
    frames = list(src.frames())
    src.close()
    assert [f.index for f in frames] == list(range(7))
    assert all(f.image.shape == (64, 96, 3) and f.order == "BGR" for f in frames)


def test_video_read_ahead_keeps_order_loops_and_stops_its_thread(tmp_path):
    """The decoding thread drops nothing, starts a looped file again, and is gone after close()."""
    path = str(write_video(tmp_path / "v.avi", frames=5))
    src = VideoFileSource(path, loop=True, read_ahead=2)
    it = src.frames()
    first = [f for f in (next(it) for _ in range(12)) if f is not None]
    assert [f.index for f in first] == list(range(len(first))) and len(first) >= 10
    firsts = [f.image for f in first[::5]]
    assert all(np.array_equal(firsts[0], img) for img in firsts[1:])  # frame 0 again after each loop
    src.close()
    assert src._thread is not None and not src._thread.is_alive()


def test_folder_glob_and_single_image(tmp_path):
    folder = image_folder(tmp_path / "imgs")
    for spec, n in [(str(folder), 5), (str(folder / "img*.png"), 3), (str(folder / "img1.png"), 1)]:
        src = open_source(source=spec)
        assert isinstance(src, ImageListSource) and src.independent
        frames = list(src.frames())
        assert len(frames) == n
    assert [f.skipped for f in list(open_source(source=str(folder)).frames())] == [
        None,
        None,
        None,
        "truncated",
        "not_an_image",
    ]


def test_corrupt_images_in_folder_are_skipped_and_counted(models, tmp_path):
    folder = image_folder(tmp_path / "imgs")
    clf = load_classifier(models["int8_frame"])
    summary = Pipeline(clf, None, Tracker(clf.info.labels), []).run(open_source(source=str(folder)))
    assert summary.frames == 3 and sum(summary.skipped.values()) == 2
    assert summary.skipped == {"truncated": 1, "not_an_image": 1}
    assert "2 skipped (not_an_image 1, truncated 1)" in summary.line()


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"camera": "9"}, "cannot open camera 9: tried /dev/video9"),
        ({"camera": "/dev/video42"}, "cannot open camera /dev/video42"),
        ({"camera": "picam"}, "picamera2"),
        ({"camera": "usb"}, "--camera takes an index"),
        ({"source": "/no/such/clip.mp4"}, "source not found"),
        ({}, "exactly one of --camera"),
    ],
)
def test_unopenable_sources_say_what_was_tried(spec, message, tmp_path):
    """A device is opened in its reader thread (a stop is never stuck behind an open); with --reconnect 0 its
    failure is raised where the frames are read."""
    with pytest.raises(RuntimeFailure, match=message):
        src = open_source(**spec, reconnect=0)
        try:
            list(src.frames())
        finally:
            src.close()


def test_empty_folder_and_undecodable_video(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeFailure, match="no images found"):
        open_source(source=str(tmp_path / "empty"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 2048)
    with pytest.raises(RuntimeFailure, match="cannot open video"):
        list(open_source(source=str(bad)).frames())  # opened in the reader thread, raised where frames are read


class FakeCapture:
    """A device that delivers ``n`` numbered frames (value = base + i), then fails every read."""

    def __init__(self, base: int, n: int, delay: float = 0.002) -> None:
        self.base, self.n, self.i, self.delay = base, n, 0, delay

    def read(self):
        time.sleep(self.delay)
        if self.i >= self.n:
            return False, None
        self.i += 1
        return True, np.full((48, 64, 3), self.base + self.i, np.uint8)

    def release(self) -> None:
        pass


def flaky_opener(plan: list):
    """Each call opens the next item of ``plan``: a FakeCapture, or None meaning 'device not there'."""
    calls = iter(plan)

    def open_capture():
        item = next(calls, None)
        if item is None:
            raise RuntimeFailure("fake camera not there")
        return item

    return open_capture


def test_live_source_drops_out_reconnects_and_gives_up(models):
    logs: list[str] = []
    plan = [FakeCapture(0, 20), None, FakeCapture(100, 20)]
    reader = LatestFrameReader(
        flaky_opener(plan), "fake cam", reconnect=2, backoff=(0.01, 0.02), log=logs.append, fail_reads=2
    )
    clf = load_classifier(models["int8_frame"])
    summary = Pipeline(clf, None, Tracker(clf.info.labels), []).run(reader, Limits(duration=10))
    reader.close()
    assert summary.stopped_by == reader.failure == "fake cam: gave up after 2 reconnect attempt(s)"
    assert summary.reconnects == 1
    text = "\n".join(logs)
    assert "reconnect attempt 1/2" in text and "fake camera not there" in text
    assert "reconnected" in text and "gave up after 2 reconnect attempt(s)" in text
    assert summary.frames >= 4  # frames came from both openings


def test_live_reader_hands_over_only_the_newest_frame():
    reader = LatestFrameReader(lambda: FakeCapture(0, 200, delay=0.001), "fast cam", reconnect=0, log=lambda m: None)
    seen = []
    for frame in reader.frames():
        seen.append(int(frame.image[0, 0, 0]))
        time.sleep(0.02)  # a slow model
        if len(seen) == 5:
            break
    reader.close()
    assert seen == sorted(seen) and seen[-1] - seen[0] > 4  # skipped ahead, never went back
    assert reader.dropped > 0


def test_live_reader_stops_promptly_when_closed():
    reader = LatestFrameReader(lambda: FakeCapture(0, 10**9), "endless", log=lambda m: None)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    n = sum(1 for _ in zip(reader.frames(), iter(lambda: stop.is_set(), True)))  # ends: the stop was seen
    reader.close()
    assert n > 0


def test_stream_url_reader_and_unreachable_stream(tmp_path):
    """The FFmpeg stream opener (used for rtsp/http) delivers frames; a dead URL fails clearly at start."""
    from edge_runtime.io.sources import stream_opener

    video = write_video(tmp_path / "v.avi", frames=6)
    logs: list[str] = []
    reader = LatestFrameReader(stream_opener(str(video)), "stream", reconnect=0, log=logs.append, fail_reads=1)
    frames = list(reader.frames())
    reader.close()
    assert 1 <= len(frames) <= 6 and "gave up after 0 reconnect attempt(s)" in logs[-1]
    with pytest.raises(RuntimeFailure, match=r"cannot open stream http://127\.0\.0\.1:9/"):
        list(open_source(source="http://127.0.0.1:9/live.mjpg", reconnect=0).frames())


class HangingCapture:
    """Delivers ``n`` frames, then blocks in read() until released (an unplugged USB camera)."""

    def __init__(self, n: int) -> None:
        self.n, self.released = n, threading.Event()

    def read(self):
        if self.n > 0:
            self.n -= 1
            time.sleep(0.002)
            return True, np.zeros((8, 8, 3), np.uint8)
        self.released.wait(30)
        return False, None

    def release(self) -> None:
        self.released.set()


def test_a_hung_read_is_released_and_the_device_reopened():
    logs: list[str] = []
    plan = iter([HangingCapture(5), HangingCapture(5)])
    reader = LatestFrameReader(
        lambda: next(plan), "hung cam", reconnect=1, backoff=(0.01, 0.01), log=logs.append, fail_reads=1, stall_s=0.3
    )
    frames = []
    for f in reader.frames():
        frames.append(f)
        if len(frames) >= 2 and reader.reconnects == 1:
            break
    reader.close()
    assert reader.reconnects == 1
    assert any("no frame for 0.3 s" in m for m in logs) and any("reconnected" in m for m in logs)
