"""Camera-like augmentation on uint8 pixels with OpenCV: flip, rotation, zoom, shift, brightness, contrast,
and optionally random erasing (one rectangle of noise, so no single cue such as visible teeth decides alone).

Done per image inside the parallel decode stage (OpenCV releases the GIL), because Keras' random layers
cost ~25 ms per 256x256 image on a 2-core CPU and starve training. Rotation, zoom and shift are one affine
warp. Each image gets its own seed from the pipeline, so a run is reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np

ERASE_AREA = (0.02, 0.2)  # fraction of the image one erased rectangle covers
ERASE_ASPECT = (0.3, 3.3)  # its height / width


def augment_pixels(px: np.ndarray, seed: int, strength: float = 1.0, erase: float = 0.0) -> np.ndarray:
    """A randomly varied copy of ``px`` (uint8 HxWxC); ``strength`` scales every range (0: unchanged);
    ``erase`` is the probability of random erasing on top (drawn last, so 0 keeps older runs identical)."""
    rng = np.random.default_rng(seed)
    h, w, c = px.shape
    out = px[:, ::-1] if rng.random() < 0.5 else px
    angle = rng.uniform(-12.0, 12.0) * strength
    scale = 1.0 + rng.uniform(-0.1, 0.1) * strength
    m = np.asarray(cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale), dtype=np.float64)  # 2x3 float64
    m[:, 2] += rng.uniform(-0.05, 0.05, 2) * strength * (w, h)
    out = cv2.warpAffine(
        np.ascontiguousarray(out), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    out = out.reshape(h, w, c).astype(np.float32)
    contrast = 1.0 + rng.uniform(-0.2, 0.2) * strength
    brightness = rng.uniform(-0.15, 0.15) * strength * 255.0
    mean = out.mean()
    out = (out - mean) * contrast + mean + brightness
    out8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if erase > 0 and rng.random() < erase:
        random_erase(out8, rng)
    return out8


def random_erase(px: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill one random rectangle of ``px`` (uint8 HxWxC, in place) with uniform noise (Zhong et al. 2017):
    the net must also read the eyes, brows and face shape when the mouth is hidden."""
    h, w = px.shape[:2]
    for _ in range(10):  # a rectangle that fits, as in the paper; none after 10 tries leaves px as is
        area = rng.uniform(*ERASE_AREA) * h * w
        aspect = np.exp(rng.uniform(np.log(ERASE_ASPECT[0]), np.log(ERASE_ASPECT[1])))
        eh, ew = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < eh < h and 0 < ew < w:
            y, x = int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1))
            px[y : y + eh, x : x + ew] = rng.integers(0, 256, (eh, ew, px.shape[2]), dtype=np.uint8)
            break
    return px
