"""Cut the square a model was trained on from a detected face, following a measured ``spec.CropRule``: the
box's centre and side place it, and with BlazeFace the eye keypoints level it (the crop turns with the face)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_runtime.faces.face import LEFT_EYE, RIGHT_EYE, Face
from edge_runtime.model.spec import CropRule


@dataclass(frozen=True)
class Square:
    """A square in frame coordinates (pixel i spans [i, i+1)): centre, side, and the angle (radians) by which
    the face's eye line is turned clockwise in the image; the cut turns it back to level."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0


def reference(face: Face, align: bool = True) -> tuple[float, float, float, float]:
    """(x, y, length, angle): the box's centre and side, and the eye line's tilt when the detector gives
    keypoints and ``align``. The box measured steadier than the keypoints as a centre and a scale for the
    FER crops (``bench/face_eval.py --fit``); the eyes give the tilt."""
    x, y, w, h = face.box
    angle = 0.0
    if face.keypoints is not None and align:
        eyes = face.keypoints[LEFT_EYE].astype(np.float64) - face.keypoints[RIGHT_EYE]
        angle = math.atan2(eyes[1], eyes[0])
    return x + w / 2.0, y + h / 2.0, float(max(w, h)), angle


def face_square(face: Face, rule: CropRule, align: bool = True) -> Square:
    """The rule's square for this face, turned with the eye line when ``align``."""
    x, y, length, angle = reference(face, align)
    c, s = math.cos(angle), math.sin(angle)
    ox, oy = rule.dx * length, rule.dy * length
    return Square(x + c * ox - s * oy, y + s * ox + c * oy, rule.scale * length, angle)


def cut(image: np.ndarray, sq: Square) -> np.ndarray:
    """The square's pixels. Upright: a slice, shifted (not squashed) to stay in the frame, as the training
    crops were cut. Turned: one affine warp, edges replicated."""
    h, w = image.shape[:2]
    n = max(1, int(round(sq.side)))
    if abs(sq.angle) < 1e-3:
        n = min(n, w, h)
        x0 = min(max(int(round(sq.cx - n / 2.0)), 0), w - n)
        y0 = min(max(int(round(sq.cy - n / 2.0)), 0), h - n)
        return image[y0 : y0 + n, x0 : x0 + n]
    c, s = math.cos(sq.angle), math.sin(sq.angle)
    k = sq.side / n  # frame pixels per output pixel
    off = 0.5 - n / 2.0
    # output pixel (u, v) -> frame pixel index: centre + R(angle) @ k (u + off, v + off) - 0.5
    m = np.array(
        [
            [k * c, -k * s, sq.cx - 0.5 + k * (c * off - s * off)],
            [k * s, k * c, sq.cy - 0.5 + k * (s * off + c * off)],
        ]
    )
    out: np.ndarray = cv2.warpAffine(
        image, m, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return out


def face_region(image: np.ndarray, face: Face, rule: CropRule, align: bool = True) -> np.ndarray:
    """The pixels the model should see for this face (before resizing to its input)."""
    return cut(image, face_square(face, rule, align))
