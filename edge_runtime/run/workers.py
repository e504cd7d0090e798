"""Frames analysed side by side: each worker thread takes whole frames from the source, in order, and runs
its own lane (a detector and a classifier interpreter, one thread each) on them; the loop gets the results
back in the source's order and keeps the state (tracker, sinks) to itself.

The interpreters and OpenCV release the GIL while they run, so N lanes keep N cores busy, with no frame
handed between stages and no thread waiting for another's model (two cores: faster than the detector one
frame ahead of the classifier, docs/PERFORMANCE.md). Only a detector with no per-stream state
(BlazeFace) can run this way.

At most ``window`` frames are out at once (``ROOM`` a lane by default), a live source's newest-frame rule holds
(a worker asks for a frame only when it is free), and every stop condition holds: the consumer gets a
``None`` tick at least every 0.2 s and ``close`` stops the workers within one source tick or one frame.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from edge_runtime.io.sources import Frame

TICK_S = 0.2  # longest wait before a thread checks its stop flag, and the consumer its stop conditions
# Frames out per lane. Frames are not equal: ``blazeface-wide``'s wide-search frame costs about five others,
# and the frames after it wait in order behind it; with room for two a lane, the other lanes ran out of room
# and idled until it was done. bench/runtime.py's face mode on face_clip.mp4, 2 lanes, interleaved rounds:
# 2 a lane 177 FPS, 4 a lane 200, 8 a lane 202; the core pair's ceiling, the same day, 204. A frame out is
# one decoded picture (0.7 MB at 640x360).
ROOM = 4

L = TypeVar("L")  # a lane: what one worker owns
R = TypeVar("R")  # what a lane makes of a readable frame


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_MISSING = object()


class FrameWorkers(Generic[L, R]):
    """Iterate to get ``R`` (a readable frame analysed), ``Frame`` (an unreadable one, passed on as it came)
    or ``None`` (nothing yet), in the source's order; ``close`` always, even after an error. ``analyse`` gets
    the frame, its worker's lane and the frame's number in the order taken (0, 1, ...)."""

    def __init__(
        self,
        frames: Iterator[Frame | None],
        lanes: Sequence[L],
        analyse: Callable[[Frame, L, int], R],
        window: int | None = None,
    ) -> None:
        self.frames, self.analyse = frames, analyse
        self.window = window or ROOM * len(lanes)
        self._take = threading.Lock()  # one worker reads the source at a time: frames are numbered in order
        self._cond = threading.Condition()  # guards everything below
        self._done: dict[int, object] = {}  # analysed frames not yet handed to the consumer, by number
        self._taken = 0  # frames numbered so far
        self._given = 0  # the number the consumer waits for
        self._end: int | None = None  # how many frames the source had, once it ended or failed
        self._stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._work, args=(lane,), name=f"frame-worker-{i}", daemon=True)
            for i, lane in enumerate(lanes)
        ]
        for t in self.threads:
            t.start()

    def _next_frame(self) -> tuple[int, Frame] | None:
        """The source's next frame and its number, once the window has room; None when stopped or ended."""
        while not self._take.acquire(timeout=TICK_S):
            if self._stop.is_set():
                return None
        try:
            with self._cond:
                while self._taken - self._given >= self.window and not self._stop.is_set():
                    self._cond.wait(TICK_S)
            while not self._stop.is_set() and self._end is None:
                try:
                    frame = next(self.frames)
                except StopIteration:
                    self._finish(self._taken, None)
                    return None
                except BaseException as exc:  # noqa: BLE001 - the source's error, raised by the consumer in order
                    self._finish(self._taken, _Failed(exc))
                    return None
                if frame is not None:  # None: the source's own tick, so this thread sees its stop flag
                    self._taken += 1
                    return self._taken - 1, frame
            return None
        finally:
            self._take.release()

    def _finish(self, end: int, failed: _Failed | None) -> None:
        with self._cond:
            if failed is not None:
                self._done[end] = failed
                end += 1
            self._end = end
            self._cond.notify_all()

    def _work(self, lane: L) -> None:
        while not self._stop.is_set():
            got = self._next_frame()
            if got is None:
                return
            number, frame = got
            try:
                item: object = frame if frame.image is None else self.analyse(frame, lane, number)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it in order
                self._stop.set()  # no new frames; the ones already out still arrive before the error
                item = _Failed(exc)
            with self._cond:
                self._done[number] = item
                self._cond.notify_all()

    def _wait(self) -> object:
        """The next item in order, _MISSING after one tick without it, or StopIteration's cue (None)."""
        with self._cond:
            if self._given not in self._done:
                if self._end is not None and self._given >= self._end:
                    return None
                if not any(t.is_alive() for t in self.threads):
                    return None  # stopped
                self._cond.wait(TICK_S)
            item = self._done.pop(self._given, _MISSING)
            if item is not _MISSING:
                self._given += 1
                self._cond.notify_all()
            return item

    def __iter__(self) -> Iterator[R | Frame | None]:
        while True:
            item = self._wait()
            if item is None:
                return
            if item is _MISSING:
                yield None
                continue
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]  # an R or an unreadable Frame, as stored by _work

    def close(self, wait_s: float = 1.0) -> None:
        """Stop the workers and wait for them: each notices within one source tick or one frame. A source that
        never ticks is not waited for past ``wait_s`` (the threads are daemons)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        per = wait_s / max(1, len(self.threads))
        for t in self.threads:
            t.join(timeout=per)
