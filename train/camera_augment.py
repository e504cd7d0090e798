"""What a real camera does to a face, drawn at random on uint8 pixels (OpenCV, no TensorFlow).

FER-style crops are bright, sharp, frontal and centred; a camera on a shelf sees faces that are dim, small
(upscaled from a few dozen pixels), blurred by motion, noisy, JPEG-compressed, tilted, turned and partly
hidden by a hand or a microphone. Each effect below has its own probability so most images get a few, not
all. The model input is grey, so a colour cast reaches it only as a change of brightness, which the
brightness and gamma draws cover.
"""

from __future__ import annotations

import cv2
import numpy as np


def _affine(px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tilt, zoom, shift, and a turn of the head approximated by a horizontal perspective squeeze."""
    h, w = px.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    yaw = rng.uniform(-0.12, 0.12) * h  # one side's edge shortened: the face seen a little from the side
    dst = src.copy()
    if yaw > 0:
        dst[1, 1] += yaw / 2
        dst[2, 1] -= yaw / 2
    else:
        dst[0, 1] -= yaw / 2
        dst[3, 1] += yaw / 2
    persp = cv2.getPerspectiveTransform(src, dst)
    rot2 = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), rng.uniform(-20.0, 20.0), rng.uniform(0.85, 1.2))
    rot = np.vstack([np.asarray(rot2, np.float64), [0.0, 0.0, 1.0]])
    rot[:2, 2] += rng.uniform(-0.08, 0.08, 2) * (w, h)
    m = rot @ np.asarray(persp, np.float64)
    out = cv2.warpPerspective(px, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out.reshape(px.shape)


def _small(px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A face the detector found at 14-32 px, upscaled to the model's input as the device does."""
    h, w = px.shape[:2]
    side = int(rng.integers(14, 33))
    small = cv2.resize(px, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(px.shape)


def _blur(px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        sigma = rng.uniform(0.6, 1.8)
        return cv2.GaussianBlur(px, (0, 0), sigma).reshape(px.shape)
    k = int(rng.integers(3, 8))  # motion blur along a random direction
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    rot = cv2.getRotationMatrix2D(((k - 1) / 2.0, (k - 1) / 2.0), rng.uniform(0, 180), 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, rot, (k, k)), np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return cv2.filter2D(px, -1, kernel).reshape(px.shape)


def _light(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dim rooms (gain and gamma down), harsh light (up), and a gradient as from a lamp at one side."""
    if rng.random() < 0.5:
        x = x * rng.uniform(0.25, 0.8)
        x = 255.0 * (x / 255.0) ** rng.uniform(1.0, 1.8)
    else:
        mean = x.mean()
        x = (x - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-30, 30)
    if rng.random() < 0.4:
        _h, w = x.shape[:2]
        ramp = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :, None]
        x = x * (1.0 + rng.uniform(-0.35, 0.35) * ramp)
    return x


def _occlude(px: np.ndarray, rng: np.random.Generator) -> None:
    """A hand or a microphone: a soft-edged blob entering from an edge, in place."""
    h, w = px.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    side = int(rng.integers(0, 3))  # bottom, left, right
    cx = {0: rng.uniform(0.25, 0.75) * w, 1: rng.uniform(-0.1, 0.2) * w, 2: rng.uniform(0.8, 1.1) * w}[side]
    cy = rng.uniform(0.75, 1.1) * h if side == 0 else rng.uniform(0.4, 1.0) * h
    axes = (int(rng.uniform(0.12, 0.3) * w), int(rng.uniform(0.15, 0.4) * h))
    cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask, (0, 0), 1.5).astype(np.float32)[..., None] / 255.0
    tone = rng.uniform(20, 230)
    shade = tone + rng.normal(0, 6, (h, w, 1))
    px[...] = np.clip(px * (1 - alpha) + shade * alpha, 0, 255).astype(np.uint8)


def _jpeg(px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", px, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 70))])
    if not ok:
        return px
    flag = cv2.IMREAD_GRAYSCALE if px.shape[2] == 1 else cv2.IMREAD_COLOR
    out = cv2.imdecode(buf, flag)
    return px if out is None else np.asarray(out, np.uint8).reshape(px.shape)


def camera_augment(px: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A camera-like copy of ``px`` (uint8 HxWxC). ``strength`` scales every effect's probability."""
    p = min(1.0, strength)
    out = np.ascontiguousarray(px[:, ::-1] if rng.random() < 0.5 else px)
    if rng.random() < 0.8 * p:
        out = _affine(out, rng)
    if rng.random() < 0.25 * p:
        out = _small(out, rng)
    if rng.random() < 0.25 * p:
        out = _blur(out, rng)
    x: np.ndarray = out.astype(np.float32)
    if rng.random() < 0.6 * p:
        x = _light(x, rng)
    if rng.random() < 0.3 * p:
        x = x + rng.normal(0.0, rng.uniform(2.0, 12.0), x.shape)
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if rng.random() < 0.25 * p:
        out = _jpeg(out, rng)
    if rng.random() < 0.15 * p:
        _occlude(out, rng)
    elif rng.random() < 0.2 * p:
        from .augment import random_erase

        random_erase(out, rng)
    return out
