"""Camera-like augmentation on uint8 pixels with OpenCV: flip, rotation, zoom, shift, brightness, contrast.

Done per image inside the parallel decode stage (OpenCV releases the GIL), because Keras' random layers
cost ~25 ms per 256x256 image on a 2-core CPU and starve training. Rotation, zoom and shift are one affine
warp. Each image gets its own seed from the pipeline, so a run is reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np


def augment_pixels(px: np.ndarray, seed: int, strength: float = 1.0) -> np.ndarray:
    """A randomly varied copy of ``px`` (uint8 HxWxC); ``strength`` scales every range (0: unchanged)."""
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
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
