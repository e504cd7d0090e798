"""The newest annotated frame as JPEG, for any number of web viewers, at no cost while nobody watches.

The pipeline offers an image at most ``fps`` times a second and only while a viewer is connected; one
encoder thread turns the newest offer into JPEG; each viewer waits for a sequence number newer than the
one it sent, so a slow viewer simply skips frames and nothing queues per viewer.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np


class FrameHub:
    def __init__(self, fps: float = 10.0, quality: int = 80) -> None:
        self.interval = 1.0 / fps if fps > 0 else 0.0
        self.quality = quality
        self._cond = threading.Condition()
        self._raw: np.ndarray | None = None
        self.jpeg: bytes | None = None
        self.seq = 0
        self.viewers = 0
        self.encoded = 0
        self._offered = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._encode_loop, name="web:encode", daemon=True)
        self._thread.start()

    def wants_frame(self) -> bool:
        """True when a viewer is connected and the viewer frame rate allows another frame."""
        return self.viewers > 0 and time.monotonic() - self._offered >= self.interval

    def offer(self, image: np.ndarray) -> None:
        """Hand over an image the caller will not touch again (the pipeline draws on a fresh copy)."""
        with self._cond:
            self._offered = time.monotonic()
            self._raw = image
            self._cond.notify_all()

    def _encode_loop(self) -> None:
        params = [int(cv2.IMWRITE_JPEG_QUALITY), self.quality]
        while True:
            with self._cond:
                while self._raw is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                raw, self._raw = self._raw, None
            assert raw is not None
            ok, buf = cv2.imencode(".jpg", raw, params)  # outside the lock: viewers keep reading the last one
            if ok:
                with self._cond:
                    self.jpeg, self.seq = buf.tobytes(), self.seq + 1
                    self.encoded += 1
                    self._cond.notify_all()

    def join(self, limit: int) -> bool:
        """Count one more viewer unless ``limit`` are watching already: checked and taken under one lock, so
        viewers arriving together cannot all pass the check before any is counted."""
        with self._cond:
            if self.viewers >= limit:
                return False
            self.viewers += 1
            self._offered = 0.0  # a new viewer gets a frame at once
            return True

    def leave(self) -> None:
        with self._cond:
            self.viewers -= 1

    def next_jpeg(self, after: int, timeout: float) -> tuple[int, bytes | None]:
        """The newest frame with a sequence number above ``after``, waiting up to ``timeout``; (seq, None)
        on timeout or once closed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.seq <= after and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return self.seq, None
                self._cond.wait(left)
            if self._closed:
                return self.seq, None
            return self.seq, self.jpeg

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
