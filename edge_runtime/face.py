"""What every face detector returns, and the one method it must have. Detectors hold no per-stream state:
tracking (ids, smoothing) belongs to the pipeline and the tracker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .preprocess import Box

# BlazeFace keypoint rows (the person's right eye is on the image's left in a frontal face).
RIGHT_EYE, LEFT_EYE, NOSE, MOUTH = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Face:
    """A face in frame pixels: its box (x, y, w, h), a score, and keypoints ([6, 2] x, y) when the
    detector gives them (BlazeFace does, Haar does not)."""

    box: Box
    score: float = 1.0
    keypoints: np.ndarray | None = None


class Detector(Protocol):
    """``detect`` finds every face in one frame (``order``: RGB or BGR, or a grey image)."""

    name: str

    def detect(self, image: np.ndarray, order: str = "BGR") -> list[Face]: ...
