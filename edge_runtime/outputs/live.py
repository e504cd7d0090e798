"""What a viewer or a home-automation summary wants to know right now: the faces in the newest frame,
label counts since start, the frame rate, and whether the source is live. Fed by the records (it is a sink
itself, placed before the sinks that read it); read from other threads, so every access holds a lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_runtime.outputs.events import LabelChanges
from edge_runtime.results import FrameResult

StateFn = Callable[[], str]
FPS_WINDOW_S = 3.0  # the frame rate shown is over the last few seconds, not since start


def source_state(source: object) -> StateFn:
    """The source's own ``state`` (live sources: opening, live, reconnecting, ended); files are 'live'
    while they play."""
    return lambda: str(getattr(source, "state", "live"))


class LiveStatus:
    needs_image = False

    def __init__(self, state: StateFn, stale_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.state, self.stale_s, self.clock = state, stale_s, clock
        self._lock = threading.Lock()
        self._changes = LabelChanges()
        self._times: deque[float] = deque()
        self.started = clock()
        self.frames = 0
        self.faces: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()  # faces that turned to each label (a new face counts once)
        self.last_frame: float | None = None
        self.model = ""  # the model of the newest result (a reload may swap it)
        self.closed = False

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        now = self.clock()
        with self._lock:
            self.frames += 1
            self.last_frame = now
            self.model = result.model
            self.faces = [
                {"track": f.track, "label": f.label, "score": round(f.score, 4), "box": list(f.box)}
                for f in result.faces
            ]
            self.counts.update(c.label for c in self._changes.update(result.faces))
            self._times.append(now)
            while self._times and now - self._times[0] > FPS_WINDOW_S:
                self._times.popleft()
        return None

    def close(self, ok: bool) -> None:
        with self._lock:
            self.closed = True

    def fps(self) -> float:
        with self._lock:
            if len(self._times) < 2:
                return 0.0
            return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-6)

    def healthy(self) -> tuple[bool, str]:
        """(ok, why): frames arrived within ``stale_s`` and the source is live."""
        state = "ended" if self.closed else self.state()
        with self._lock:
            last = self.last_frame
        if state != "live":
            return False, f"source {state}"
        if last is None:
            return False, "no frame yet"
        age = self.clock() - last
        if age > self.stale_s:
            return False, f"no frame for {age:.0f} s"
        return True, "frames arriving"

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy for /status.json and the MQTT summary."""
        ok, why = self.healthy()
        fps = self.fps()
        with self._lock:
            last = self.last_frame
            return {
                "state": "ended" if self.closed else self.state(),
                "healthy": ok,
                "health": why,
                "fps": round(fps, 1),
                "frames": self.frames,
                "uptime_s": round(self.clock() - self.started, 1),
                "last_frame_age_s": None if last is None else round(self.clock() - last, 2),
                "faces": list(self.faces),
                "counts": dict(self.counts),
                "model": self.model,
            }
