"""A second look at a face the wide search is not sure of: short range again, on the square around it at the
model's own 128 px input, where a far face of 30-60 px is near the size the model was trained on and its
surroundings (a shoulder, hair, a neighbour) are in view. A real face scores high there; a hand, a shirt's
pattern or a dark shape that fired at the wide input's small scale mostly does not. Measured on
``bench/face_eval.py``'s faces and clutter and on ``face_clip.mp4`` (docs/PERFORMANCE.md "False faces")."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_runtime.faces.blazeface import BlazeFace
from edge_runtime.faces.face import Face


@dataclass(frozen=True)
class Confirm:
    """``sure``: a wide-search score from which a face is kept without a second look (above it, 1.5% of the
    synthetic clutter's detections against 59% of real faces' pass). ``context``: the side of the square looked
    at, in face box sides. ``min_score``: short range's score there that confirms it."""

    sure: float = 0.8
    context: float = 3.0
    min_score: float = 0.6


def around(image: np.ndarray, face: Face, context: float, side: int) -> np.ndarray:
    """The square of ``context`` times the face's box side centred on its box, resized to ``side`` pixels in
    one warp; beyond the frame's edge, black (as the detector's letterbox pads)."""
    x, y, w, h = face.box
    k = side / (context * max(w, h, 1))
    m = np.array([[k, 0, side / 2 - k * (x + w / 2)], [0, k, side / 2 - k * (y + h / 2)]], np.float32)
    out: np.ndarray = cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
    return out


def confirmed(det: BlazeFace, image: np.ndarray, order: str, face: Face, rule: Confirm) -> bool:
    """Whether ``det`` (short range) finds a face centred inside ``face``'s box on the square around it, scoring
    at least ``rule.min_score``."""
    side = det.size[0]
    square = around(image, face, rule.context, side)
    half = side / (2 * rule.context * max(face.box[2], face.box[3], 1))  # box half-side per unit of box side
    w, h = face.box[2] * half, face.box[3] * half
    for f in det.detect(square, order):
        cx, cy = f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2
        if f.score >= rule.min_score and abs(cx - side / 2) < w and abs(cy - side / 2) < h:
            return True
    return False
