"""Where results go: JSON Lines (a file or stdout), an annotated video, a window.

Each sink gets the frame's record and, if it asked for one (``needs_image``), the annotated BGR image.
``emit`` returns None to go on, or the reason the run should stop (the window's q / Esc, a closed pipe);
it raises ``WriteFailed`` when an output cannot be written.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

import cv2
import numpy as np

from edge_runtime.outputs.jsonl import JsonLinesFile, JsonLinesStdout
from edge_runtime.outputs.video import VideoFile
from edge_runtime.results import FrameResult

__all__ = ["JsonLinesFile", "JsonLinesStdout", "Sink", "VideoFile", "WindowSink", "gui_problem"]


class Sink(Protocol):
    needs_image: bool

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None: ...

    def close(self, ok: bool) -> None: ...


def gui_problem() -> str | None:
    """Why a window cannot be shown here, or None if it can."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no DISPLAY"
    try:
        cv2.namedWindow("hs-run", cv2.WINDOW_NORMAL)
    except cv2.error:
        return (
            "this OpenCV has no GUI support (opencv-python-headless); for a window: pip uninstall -y "
            "opencv-python-headless && pip install 'opencv-python<5'"
        )
    return None


class WindowSink:
    needs_image = True

    def __init__(self, title: str = "hs-run") -> None:
        self.title = title

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        if image is not None:
            cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        return "window closed" if key in (ord("q"), 27) else None

    def close(self, ok: bool) -> None:
        try:
            cv2.destroyAllWindows()
        except cv2.error:
            pass
