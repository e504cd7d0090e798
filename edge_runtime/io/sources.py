"""Where frames come from: video files, images, folders and globs (every frame, in order) and live
sources (cameras, the Pi camera, network streams) read by a thread that keeps only the newest frame,
so a slow model never makes the picture lag, and that reopens a source that stops delivering.
"""

from __future__ import annotations

import glob
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.io.imageio import MAX_PIXELS, is_image_name, read_image

Log = Callable[[str], None]
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


_logger = logging.getLogger(__name__)


def log_info(msg: str) -> None:
    """Where a source's notes go unless the caller gives its own ``log``: the ``logging`` module, so only a
    command line decides how lines look."""
    _logger.info(msg)


# Names of the threads that sit in OpenCV calls on a device or file (see cli.leave).
DEVICE_THREADS = ("video-decode:", "reader:")


@dataclass
class Frame:
    """One picture. ``image`` is None for an unreadable one, with the reason in ``skipped``. ``time`` is the
    wall clock (for records); ``clock`` the picture's own time in seconds (a video's media time, a live
    frame's arrival), which smoothing runs on, so a file decoded faster than real time behaves as live."""

    image: np.ndarray | None
    index: int
    time: float
    source: str
    order: str = "BGR"
    skipped: str | None = None
    clock: float = field(kw_only=True)  # required: a clock left at a constant would freeze the smoothing


class Source(Protocol):
    name: str
    live: bool
    independent: bool  # frames are unrelated pictures (an image folder): no tracking across them

    failure: str | None  # why a live source gave up, once it has

    def frames(self) -> Iterator[Frame | None]: ...  # None: no frame yet, check the stop conditions

    def close(self) -> None: ...


class Capture(Protocol):
    """What a live reader needs from a device: cv2.VideoCapture fits, and so do test fakes."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


# ---------------------------------------------------------------- files: every frame, in order


def decode_threads() -> int:
    """FFmpeg's decoding threads for a video file: half the cores. The read-ahead thread already overlaps
    decoding with the models, and more decoder threads only take cores from the interpreters (on 2 cores, one
    decoder thread gave 8% more face-mode FPS than FFmpeg's default, at 5% less CPU per frame)."""
    return max(1, (os.cpu_count() or 1) // 2)


def open_capture(path: str) -> cv2.VideoCapture:
    """``path`` opened by OpenCV with ``decode_threads()``; a backend that refuses the setting opens it plainly."""
    cap = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, decode_threads()])
    if not cap.isOpened():
        cap = cv2.VideoCapture(path)
    return cap


class VideoFileSource:
    """Every frame of a video file, in order; ``loop`` starts it again at the end (a demo screen, a soak).

    A thread decodes up to ``read_ahead`` frames ahead (OpenCV releases the GIL while it decodes), so decoding
    overlaps detection and inference instead of adding to them; nothing is dropped. The consumer still sees a
    ``None`` tick every 0.2 s if decoding stalls, so every stop condition holds."""

    live, independent = False, False
    failure: str | None = None

    def __init__(self, path: str, loop: bool = False, read_ahead: int = 2) -> None:
        self.name, self.loop = path, loop
        self.cap: cv2.VideoCapture | None = None
        self.frame_s = 1.0 / 30.0
        self._open_error: RuntimeFailure | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max(1, read_ahead))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> bool:
        """Open in the reader thread: a FIFO with no writer, or a file on a hung mount, blocks here, not
        the thread that watches for stops."""
        cap = open_capture(self.name)
        if not cap.isOpened():
            cap.release()
            self._open_error = RuntimeFailure(f"cannot open video {self.name} (OpenCV could not decode it)")
            return False
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.frame_s = 1.0 / fps if 1.0 <= fps <= 1000.0 else 1.0 / 30.0  # a file that lies gets 30 FPS
        self.cap = cap
        return True

    def _decode(self) -> None:
        """The reader thread: open, frames into the queue, then ``None`` at the end of the file (or on close)."""
        if not self._open() or self._stop.is_set():
            self._stop.set()
            self._queue.put(None)
            return
        assert self.cap is not None
        read = 0
        while not self._stop.is_set():
            ok, img = self.cap.read()
            if not ok or img is None:
                if self.loop and read and self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                    continue
                break
            read += 1
            while not self._stop.is_set():
                try:
                    self._queue.put(img, timeout=0.2)
                    break
                except queue.Full:
                    continue
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # the consumer sees the stop flag once the queue drains

    def frames(self) -> Iterator[Frame | None]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._decode, name=f"{DEVICE_THREADS[0]}{self.name}", daemon=True)
            self._thread.start()
        index = 0
        while True:
            try:
                img = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set() and not self._thread.is_alive() and self._queue.empty():
                    return
                yield None  # decoding stalls: let the loop check its stop conditions
                continue
            if img is None:
                if self._open_error is not None:
                    raise self._open_error
                return
            yield Frame(img, index, time.time(), self.name, clock=index * self.frame_s)
            index += 1

    def close(self) -> None:
        """Stop the reader, then release the file; never release it under a read in progress."""
        self._stop.set()
        thread, deadline = self._thread, time.monotonic() + 1.0
        while thread is not None and thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.get_nowait()  # make room: a blocked put sees the flag
            except queue.Empty:
                pass
            thread.join(timeout=0.05)
        if self.cap is not None and (thread is None or not thread.is_alive()):
            self.cap.release()  # else a read hangs (a stuck pipe): the process's exit frees it


class ImageListSource:
    """Image files decoded by content; an unreadable one becomes a skipped frame, not an error."""

    live, independent = False, True
    failure: str | None = None

    def __init__(self, paths: list[Path], name: str, max_pixels: int = MAX_PIXELS) -> None:
        self.paths, self.name, self.max_pixels = paths, name, max_pixels

    def frames(self) -> Iterator[Frame | None]:
        for index, p in enumerate(self.paths):
            img, reason = read_image(p, self.max_pixels)
            yield Frame(img, index, time.time(), utf8_name(p), order="RGB", skipped=reason, clock=float(index))

    def close(self) -> None:
        pass


def utf8_name(path: str | Path) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 (an old camera's card, a Latin-1 name)
    become \\xNN escapes, so every JSON reader can read the row (Python would write lone surrogates)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def image_paths(spec: str) -> list[Path] | None:
    """The images a --source names (a folder, a glob, or one image file), or None if it is not images."""
    p = Path(spec)
    if p.is_dir():
        return sorted(q for q in p.iterdir() if q.is_file() and is_image_name(q))
    if any(ch in spec for ch in "*?[") and not p.exists():
        return sorted(Path(q) for q in glob.glob(spec, recursive=True) if Path(q).is_file())
    if p.is_file() and is_image_name(p):
        return [p]
    return None


# ---------------------------------------------------------------- live: newest frame, reconnect

TICK_S = 0.2  # a live source hands the loop None at least this often, so stop conditions are checked


class LatestFrameReader:
    """A thread reading ``open_capture()`` as fast as it delivers, keeping only the newest frame.

    When reads fail it releases the device and reopens it with exponential backoff, logging each attempt,
    up to ``reconnect`` attempts in a row (None: forever); the first open follows the same rule, so a
    camera or stream that is not up yet at boot is waited for. A device whose read hangs instead of
    failing (an unplugged USB camera, a dead stream) is released after ``stall_s`` without a frame, which
    makes the hung read return and the same reopen path run. ``frames()`` yields each new frame, or None
    every ``TICK_S`` while there is none, so the consumer's stop conditions never wait on the device.
    ``state`` is what the device is doing (opening, live, reconnecting, ended); ``failure`` why it gave up.
    """

    live, independent = True, False

    def __init__(
        self,
        open_capture: Callable[[], Capture],
        name: str,
        reconnect: int | None = None,
        backoff: tuple[float, float] = (0.5, 10.0),
        log: Log = log_info,
        fail_reads: int = 5,
        stall_s: float | None = 10.0,
    ) -> None:
        self.open_capture, self.name, self.reconnect = open_capture, name, reconnect
        self.stall_s = stall_s
        self.backoff, self.log, self.fail_reads = backoff, log, fail_reads
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._stop = threading.Event()
        self.reconnects = 0
        self.dropped = 0
        self.failure: str | None = None
        self.state = "opening"
        self._live_since = time.monotonic()
        self.cap: Capture | None = None
        self._open_error: RuntimeFailure | None = None
        # Every open, the first too, happens in the reader thread: a device or stream can take seconds to
        # open or never answer, and the caller's thread must stay free to notice a stop.
        self._thread = threading.Thread(target=self._run, name=f"{DEVICE_THREADS[1]}{name}", daemon=True)
        self._thread.start()

    def _first_open(self) -> bool:
        try:
            self.cap = self.open_capture()
        except RuntimeFailure as exc:
            if self.reconnect == 0:  # --reconnect 0: a missing camera is an error at start
                self._open_error, self.failure = exc, str(exc)
                return False
            if self._stop.is_set():
                return False
            self.log(f"{self.name}: not available yet: {exc}; retrying (--reconnect 0 fails at once instead)")
            return self._reopen()
        if self._stop.is_set():
            return False
        self.state = "live"
        self._live_since = time.monotonic()
        return True

    def _publish(self, img: np.ndarray) -> None:
        with self._cond:
            self._frame = img
            self._seq += 1
            self._cond.notify_all()

    def _read(self) -> tuple[bool, np.ndarray | None]:
        assert self.cap is not None
        try:
            return self.cap.read()
        except Exception as exc:  # noqa: BLE001 - any driver error is a failed read, and is logged
            if not self._stop.is_set():
                self.log(f"{self.name}: read failed: {type(exc).__name__}: {first_line(exc)}")
            return False, None

    def _run(self) -> None:
        failures = 0
        if not self._first_open():
            self._end()
            return
        while not self._stop.is_set():
            ok, img = self._read()
            if ok and img is not None:
                failures = 0
                self._publish(img)
                continue
            failures += 1
            if failures < self.fail_reads:
                self._stop.wait(0.01)
                continue
            failures = 0
            if not self._reopen():
                break
        self._end()

    def _end(self) -> None:
        with self._cond:
            self.state = "ended"
            self._cond.notify_all()

    def _reopen(self) -> bool:
        """Release and (re)open with backoff; False when the attempts are used up or we are stopping."""
        was_open = self.cap is not None
        self._release()
        self.state = "reconnecting"
        attempt = 0
        while not self._stop.is_set():
            if self.reconnect is not None and attempt >= self.reconnect:
                self.failure = f"{self.name}: gave up after {attempt} reconnect attempt(s)"
                self.log(
                    f"{self.name}: {'stopped delivering' if was_open else 'never opened'}; "
                    f"gave up after {attempt} reconnect attempt(s)"
                )
                return False
            attempt += 1
            delay = min(self.backoff[1], self.backoff[0] * 2 ** (attempt - 1))
            limit = "" if self.reconnect is None else f"/{self.reconnect}"
            why = "stopped delivering" if was_open else "not open"
            self.log(f"{self.name}: {why}; reconnect attempt {attempt}{limit} in {delay:.2f} s")
            if self._stop.wait(delay):
                return False
            try:
                self.cap = self.open_capture()
            except RuntimeFailure as exc:
                self.log(f"{self.name}: reconnect attempt {attempt} failed: {exc}")
                continue
            if was_open:
                self.reconnects += 1
            self.log(f"{self.name}: {'reconnected' if was_open else 'opened'}")
            self._live_since = time.monotonic()
            self.state = "live"
            return True
        return False

    def frames(self) -> Iterator[Frame | None]:
        seen, index = 0, 0
        while True:
            with self._cond:
                if self._seq == seen and self.state != "ended":
                    self._cond.wait(TICK_S)
                fresh, ended = self._seq != seen, self.state == "ended"
                if fresh:
                    self.dropped += self._seq - seen - 1
                    seen, img = self._seq, self._frame
                    self._live_since = time.monotonic()
            if fresh:
                yield Frame(img, index, time.time(), self.name, clock=time.monotonic())
                index += 1
            elif ended or self._stop.is_set():
                if self._open_error is not None:
                    raise self._open_error
                return
            else:
                self._watch_stall()
                yield None

    def _watch_stall(self) -> None:
        """A live device that has not delivered for ``stall_s``: release it so its hung read returns."""
        if self.stall_s is None or self.state != "live" or time.monotonic() - self._live_since < self.stall_s:
            return
        self.log(f"{self.name}: no frame for {self.stall_s:g} s; releasing the device to reopen it")
        self._live_since = time.monotonic()
        threading.Thread(target=self._release, name="release", daemon=True).start()

    def _release(self) -> None:
        cap = self.cap
        if cap is None:
            return
        try:
            cap.release()
        except Exception as exc:  # noqa: BLE001 - a driver that fails to close is logged, not fatal
            self.log(f"{self.name}: release failed: {type(exc).__name__}: {first_line(exc)}")

    def close(self) -> None:
        """Stop within a second whatever the device is doing. The reader thread releases nothing itself, so
        the device is released here once the thread is out of its read; a read still hung after a second
        (a dead USB camera) is abandoned to its daemon thread rather than released under it, which could
        crash the process."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
        if self._thread.is_alive():
            self.log(f"{self.name}: the device did not return from a read within 1 s; leaving it to the OS")
            return
        self._release()


# ---------------------------------------------------------------- openers for live devices


def _set_mode(cap: cv2.VideoCapture, width: int | None, height: int | None, fps: float | None) -> None:
    if width:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    if height:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    if fps:
        cap.set(cv2.CAP_PROP_FPS, fps)
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)


def camera_opener(camera: str, width: int | None, height: int | None, fps: float | None) -> Callable[[], Capture]:
    """Open ``/dev/videoN`` or index N with V4L2 first, then OpenCV's default backend."""
    target: int | str = int(camera) if camera.isdigit() else camera
    device = f"/dev/video{camera}" if camera.isdigit() else camera

    def open_camera() -> Capture:
        tried = []
        for api, api_name in ((cv2.CAP_V4L2, "V4L2"), (cv2.CAP_ANY, "OpenCV default backend")):
            cap = cv2.VideoCapture(target, api)
            if cap.isOpened():
                _set_mode(cap, width, height, fps)
                return cap
            cap.release()
            tried.append(api_name)
        exists = "exists" if os.path.exists(device) else "does not exist"
        raise RuntimeFailure(
            f"cannot open camera {camera}: tried {device} ({exists}) with "
            f"{' and '.join(tried)}; check the cable, `v4l2-ctl --list-devices`, "
            "and that no other program is using it"
        )

    return open_camera


def stream_opener(url: str, timeout_ms: int = 5000) -> Callable[[], Capture]:
    """A network stream through FFmpeg, with open/read timeouts so a dead link cannot hang a read."""
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]

    def open_stream() -> Capture:
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise RuntimeFailure(f"cannot open stream {url} (OpenCV FFmpeg backend, {timeout_ms} ms timeout)")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    return open_stream


class PicamCapture:
    """picamera2 behind the Capture interface; 'RGB888' arrives in OpenCV's B,G,R byte order."""

    def __init__(self, width: int | None, height: int | None, fps: float | None) -> None:
        try:
            from picamera2 import Picamera2  # only on a Pi, only when asked for
        except ImportError:
            raise RuntimeFailure(
                "--camera picam needs picamera2, which is not installed "
                "(on Raspberry Pi OS: sudo apt install python3-picamera2)"
            ) from None
        try:
            self.cam = Picamera2()
            controls = {"FrameRate": float(fps)} if fps else {}
            config = self.cam.create_video_configuration(
                main={"size": (width or 640, height or 480), "format": "RGB888"}, controls=controls
            )
            self.cam.configure(config)
            self.cam.start()
        except Exception as exc:  # noqa: BLE001 - libcamera raises many kinds
            raise RuntimeFailure(f"cannot open the Raspberry Pi camera with picamera2: {first_line(exc)}") from None

    def read(self) -> tuple[bool, np.ndarray | None]:
        return True, self.cam.capture_array("main")

    def release(self) -> None:
        try:
            self.cam.stop()
        finally:
            self.cam.close()


# ---------------------------------------------------------------- choosing a source


def open_source(
    camera: str | None = None,
    source: str | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    reconnect: int | None = None,
    log: Log = log_info,
    loop: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> Source:
    """The source the command line names; a clear error when it cannot be opened."""
    if (camera is None) == (source is None):
        raise RuntimeFailure(
            "give exactly one of --camera (0, /dev/video0, picam) or --source (file, folder, glob, URL)"
        )
    if camera is not None:
        if camera == "picam":
            return LatestFrameReader(lambda: PicamCapture(width, height, fps), "picam", reconnect, log=log)
        if not (camera.isdigit() or camera.startswith("/dev/")):
            raise RuntimeFailure(f"--camera takes an index (0), a device (/dev/video0) or 'picam', not {camera!r}")
        return LatestFrameReader(camera_opener(camera, width, height, fps), f"camera {camera}", reconnect, log=log)
    assert source is not None
    if source.lower().startswith(URL_SCHEMES):
        return LatestFrameReader(stream_opener(source), source, reconnect, log=log)
    images = image_paths(source)
    if images is not None:
        if not images:
            raise RuntimeFailure(f"no images found in {source}")
        return ImageListSource(images, source, max_pixels)
    if not Path(source).exists():
        raise RuntimeFailure(f"source not found: {source}")
    return VideoFileSource(source, loop=loop)
