"""Detection one frame ahead: a worker thread takes the source's frames and finds their faces while the
loop classifies the frame before. A detector with no per-stream state (BlazeFace) can run this way; the
interpreter releases the GIL while it runs, so the two models use two cores instead of taking turns.

The frame still flows one way (source, detect, then the rest) and at most ``depth`` frames wait between
the stages: a live source's newest-frame rule and every stop condition hold, since the consumer gets a
``None`` tick at least every 0.2 s and ``close`` stops the worker within one source tick.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .face import Detector, Face
from .sources import Frame

TICK_S = 0.2  # longest wait before the consumer gets a chance to check its stop conditions


@dataclass(frozen=True)
class Found:
    """A frame with its faces, and how long the detector took on it."""

    frame: Frame
    faces: list[Face]
    seconds: float


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_DONE = object()


class DetectAhead:
    """Iterate to get ``Found`` (a readable frame), ``Frame`` (an unreadable one, passed on as it came) or
    ``None`` (nothing yet); ``close`` always, even after an error."""

    def __init__(self, frames: Iterator[Frame | None], detector: Detector, depth: int = 1) -> None:
        self.frames, self.detector = frames, detector
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="detect-ahead", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        """Hand one item over, unless asked to stop while waiting for room."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=TICK_S)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for frame in self.frames:
                if self._stop.is_set():
                    return
                if frame is None:
                    continue  # the source's own tick: this thread checks the stop flag above
                if frame.image is None:
                    item: object = frame
                else:
                    t0 = time.perf_counter()
                    faces = list(self.detector.detect(frame.image, frame.order))
                    item = Found(frame, faces, time.perf_counter() - t0)
                if not self._put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(_Failed(exc))
            return
        self._put(_DONE)

    def __iter__(self) -> Iterator[Found | Frame | None]:
        while True:
            try:
                item = self._queue.get(timeout=TICK_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    return  # the worker was stopped
                yield None
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            assert isinstance(item, (Found, Frame))
            yield item

    def close(self, wait_s: float = 1.0) -> None:
        """Stop the worker and wait for it: it notices within one source tick or one detection. A source that
        never ticks is not waited for past ``wait_s`` (the thread is a daemon)."""
        self._stop.set()
        deadline = time.monotonic() + wait_s
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.get_nowait()  # make room, so a worker blocked on a full queue sees the flag
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)
