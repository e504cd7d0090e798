"""The annotated frames as a video file, written under a temporary name and renamed when finished, so the
final name only ever holds a playable file. OpenCV's writer does not report write errors, so free space
is watched instead: the run stops with ``WriteFailed`` before the disk is full, and the video written so
far is finalised (or removed, and said so) at close.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.errors import RuntimeFailure, WriteFailed
from edge_runtime.io.atomic import check_output_file
from edge_runtime.results import FrameResult

MIN_FREE_BYTES = 16 << 20  # stop writing while the disk still has room to close the file
CHECK_EVERY_S = 1.0


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


class VideoFile:
    needs_image = True

    def __init__(
        self, path: str | Path, fps: float, log: Callable[[str], None], free: Callable[[Path], int] = free_bytes
    ) -> None:
        self.path = check_output_file(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self.log, self.free = log, free
        self._remove_leftovers()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # as any other file the user makes (mkstemp's is 0600)
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._checked = 0.0
        try:  # an encoder for this file type must exist now, not after the first frame
            self._open(16, 16).release()
        except RuntimeFailure:
            self.tmp.unlink(missing_ok=True)
            raise
        self.size = None

    def _remove_leftovers(self) -> None:
        """Temporary files of this output left by a run that was killed (``.NAME.XXXXXXXX.ext``, mkstemp's
        eight random characters): ours by their name, never finalised, so removed."""
        pattern = re.compile(rf"\.{re.escape(self.path.name)}\.[a-z0-9_]{{8}}{re.escape(self.path.suffix)}")
        for p in self.path.parent.glob(f".{self.path.name}.*"):
            if pattern.fullmatch(p.name) and p.is_file() and not p.is_symlink():
                p.unlink(missing_ok=True)
                self.log(f"video {self.path}: removed {p.name}, left by a run that was stopped before it finished")

    def _open(self, w: int, h: int) -> cv2.VideoWriter:
        suffix = self.path.suffix.lower()
        fourcc = cv2.VideoWriter.fourcc(*("MJPG" if suffix == ".avi" else "mp4v"))
        writer = cv2.VideoWriter(str(self.tmp), fourcc, self.fps, (w, h))
        if not writer.isOpened():
            raise RuntimeFailure(f"cannot write video {self.path} (OpenCV has no encoder for {suffix or 'it'})")
        self.size = (w, h)
        return writer

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        if image is None:
            return None
        self._check_space()
        h, w = image.shape[:2]
        if self.writer is None:
            self.writer = self._open(w, h)
        elif (w, h) != self.size:  # images of several sizes in a folder: fit to the first
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(image)
        self.frames += 1
        return None

    def _check_space(self) -> None:
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return
        self._checked = now
        if self.free(self.path.parent) < MIN_FREE_BYTES:
            raise WriteFailed(f"cannot write {self.path}: the disk is full (under {MIN_FREE_BYTES >> 20} MB free)")

    def close(self, ok: bool) -> None:
        """Finish the file; keep it under its final name only if it plays back, else remove it and say so."""
        if self.writer is not None:
            self.writer.release()
        if self.frames and _playable(self.tmp):
            os.replace(self.tmp, self.path)
            if not ok:
                self.log(f"video {self.path}: finalised with the {self.frames} frames written before the stop")
            return
        self.tmp.unlink(missing_ok=True)
        if self.frames:
            self.log(f"video {self.path}: could not be finalised (disk full?); removed the partial file")


def _playable(path: Path) -> bool:
    cap = cv2.VideoCapture(str(path))
    try:
        ok, _ = cap.read()
        return bool(ok)
    finally:
        cap.release()
