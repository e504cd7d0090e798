"""Find faces with OpenCV's bundled Haar cascade: the fallback detector when BlazeFace's files are absent.

``full`` searches a small grey copy of the frame (about 320 px wide); ``near`` looks for a tracked face
only in a small window around where it was, at the one scale it had: several times cheaper, so the pipeline
still uses it between full searches with this detector (see ``pipeline.SearchPlan``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.errors import RuntimeFailure
from edge_runtime.faces.face import DetectorTraits, Face
from edge_runtime.model.preprocess import Box

CASCADE = "haarcascade_frontalface_default.xml"
# Where distribution packages (apt's python3-opencv on Raspberry Pi OS has no cv2.data) keep the file.
_SYSTEM_DIRS = (
    "/usr/share/opencv4/haarcascades",
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
)


def cascade_path(name: str = CASCADE) -> Path:
    dirs = [getattr(getattr(cv2, "data", None), "haarcascades", None), *_SYSTEM_DIRS]
    for d in dirs:
        if d and (Path(d) / name).is_file():
            return Path(d) / name
    raise RuntimeFailure(
        f"OpenCV's {name} not found (looked in cv2.data and {', '.join(_SYSTEM_DIRS)}); "
        "install opencv-python-headless<5 or use --roi frame"
    )


def _grey(image: np.ndarray, order: str) -> np.ndarray:
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY if order == "RGB" else cv2.COLOR_BGR2GRAY)


class HaarDetector:
    """Boxes (x, y, w, h) in frame pixels, no keypoints, no per-stream state."""

    name = "haar"
    traits = DetectorTraits(keypoints=False, twins=False, local_search=True)

    def __init__(self, width: int = 320, min_face: int = 24, scale_factor: float = 1.1, min_neighbors: int = 4) -> None:
        self.cascade = cv2.CascadeClassifier(str(cascade_path()))
        if self.cascade.empty():
            raise RuntimeFailure(f"cannot load the face cascade {cascade_path()}")
        self.width, self.min_face = width, min_face
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def detect(self, image: np.ndarray, order: str = "BGR", far: bool = True) -> list[Face]:
        return [Face(b) for b in self.full(image, order)]

    def full(self, image: np.ndarray, order: str = "BGR") -> list[Box]:
        h, w = image.shape[:2]
        scale = min(1.0, self.width / w)
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, (self.width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        )
        boxes = self.cascade.detectMultiScale(
            _grey(small, order),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face),
        )
        return [_scale_box(b, 1.0 / scale, 0, 0) for b in boxes]

    def twin(self, threads: int = 1) -> HaarDetector:
        raise NotImplementedError("the Haar search follows the tracker, so frames go in turn: no twins")

    def near(
        self, image: np.ndarray, order: str, box: Box, face_px: int = 64, pad_k: float = 0.6, step: float = 1.1
    ) -> Box | None:
        """The face in a window 2.2x the tracked box, searched at that box's scale (+-40%)."""
        x, y, bw, bh = box
        h, w = image.shape[:2]
        pad = int(pad_k * max(bw, bh))
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        scale = min(1.0, face_px / max(bw, 1))
        roi = image[y0:y1, x0:x1]
        if scale < 1.0:
            roi = cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        side = face_px if scale < 1.0 else max(bw, bh)
        found = self.cascade.detectMultiScale(
            _grey(roi, order),
            scaleFactor=step,
            minNeighbors=max(2, self.min_neighbors - 1),
            minSize=(int(side * 0.6),) * 2,
            maxSize=(int(side * 1.5),) * 2,
        )
        if len(found) == 0:
            return None
        best = max(found, key=lambda b: b[2] * b[3])
        return _scale_box(best, 1.0 / scale, x0, y0)


def _scale_box(b: Sequence[int] | np.ndarray, k: float, dx: int, dy: int) -> Box:
    x, y, w, h = (int(v) for v in b)
    return int(round(x * k)) + dx, int(round(y * k)) + dy, int(round(w * k)), int(round(h * k))
