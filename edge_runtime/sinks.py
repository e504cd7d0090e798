"""Where results go: JSON Lines (stdout or a file), an annotated video, a window.

Each sink gets the frame's record and, if it asked for one (``needs_image``), the annotated BGR image.
``emit`` returns False when the sink wants the run to stop (the window's q / Esc).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol, TextIO

import cv2
import numpy as np

from .atomic import atomic_path
from .errors import RuntimeFailure, first_line


class Sink(Protocol):
    needs_image: bool

    def emit(self, record: dict[str, Any], image: np.ndarray | None) -> bool: ...

    def close(self, ok: bool) -> None: ...


class JsonLinesSink:
    """One JSON object per frame, flushed per line so a consumer (or a crash) never sees half a record."""

    needs_image = False

    def __init__(self, target: str) -> None:
        self._stack = ExitStack()
        if target == "-":
            self.out: TextIO = sys.stdout
        else:
            try:
                tmp = self._stack.enter_context(atomic_path(target))
                self.out = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
            except OSError as exc:
                raise RuntimeFailure(f"cannot write {target}: {first_line(exc)}") from None

    def emit(self, record: dict[str, Any], image: np.ndarray | None) -> bool:
        self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.out.flush()
        return True

    def close(self, ok: bool) -> None:
        """The file keeps its final name after any clean stop; only a crash discards it."""
        if ok:
            self._stack.close()
        else:
            self._stack.__exit__(RuntimeError, RuntimeError("run failed"), None)


class VideoSink:
    """The annotated frames as a video, written under a temporary name and renamed at the end."""

    needs_image = True

    def __init__(self, path: str, fps: float) -> None:
        self.path, self.fps = path, fps if fps and fps > 0 else 25.0
        self._stack = ExitStack()
        self._tmp: Path = self._stack.enter_context(atomic_path(path))
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None

    def _open(self, w: int, h: int) -> None:
        suffix = Path(self.path).suffix.lower()
        fourcc = cv2.VideoWriter_fourcc(*("MJPG" if suffix == ".avi" else "mp4v"))
        self.writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, (w, h))
        if not self.writer.isOpened():
            raise RuntimeFailure(f"cannot write video {self.path} (OpenCV has no encoder for {suffix or 'it'})")
        self.size = (w, h)

    def emit(self, record: dict[str, Any], image: np.ndarray | None) -> bool:
        if image is None:
            return True
        h, w = image.shape[:2]
        if self.writer is None:
            self._open(w, h)
        elif (w, h) != self.size:  # images of several sizes in a folder: fit to the first
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(image)
        return True

    def close(self, ok: bool) -> None:
        if self.writer is not None:
            self.writer.release()
        if ok and self.writer is not None:
            self._stack.close()
        else:
            self._stack.__exit__(RuntimeError, RuntimeError("no video written"), None)


def gui_problem() -> str | None:
    """Why a window cannot be shown here, or None if it can."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no DISPLAY"
    try:
        cv2.namedWindow("hs-run", cv2.WINDOW_NORMAL)
    except cv2.error:
        return ("this OpenCV has no GUI support (opencv-python-headless); for a window: pip uninstall -y "
                "opencv-python-headless && pip install 'opencv-python<5'")
    return None


class WindowSink:
    needs_image = True

    def __init__(self, title: str = "hs-run") -> None:
        self.title = title

    def emit(self, record: dict[str, Any], image: np.ndarray | None) -> bool:
        if image is not None:
            cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27)

    def close(self, ok: bool) -> None:
        try:
            cv2.destroyAllWindows()
        except cv2.error:
            pass
