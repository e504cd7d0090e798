"""SSD anchor centres for MediaPipe's BlazeFace models, computed from the models' documented options.

Both models use fixed-size anchors (width = height = 1), so an anchor is only a centre in [0, 1]. Layers with
the same stride share one grid; each grid cell holds two anchors per layer (the layer's scale and the
interpolated one) unless the model documents no interpolated anchor (``per_layer = 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnchorSpec:
    """The SSD anchor options of one BlazeFace model (MediaPipe's face_detection_*_range graphs)."""

    size: int  # square input side in pixels
    strides: tuple[int, ...]
    per_layer: int  # anchors per cell contributed by each layer (2 with an interpolated scale, else 1)
    offset: float = 0.5


SHORT_RANGE = AnchorSpec(size=128, strides=(8, 16, 16, 16), per_layer=2)
FULL_RANGE = AnchorSpec(size=192, strides=(4,), per_layer=1)


def anchor_centres(spec: AnchorSpec, width: int | None = None, height: int | None = None) -> np.ndarray:
    """[n, 2] (x, y) centres in the model's order: grid by grid (strides ascending), row-major, anchors last.
    ``width`` x ``height``: a model's input resized from its square ``spec.size`` (a fully convolutional
    model's grids follow its input)."""
    width, height = width or spec.size, height or spec.size
    blocks = []
    i = 0
    while i < len(spec.strides):
        stride = spec.strides[i]
        layers = 0
        while i < len(spec.strides) and spec.strides[i] == stride:
            layers, i = layers + 1, i + 1
        cols, rows = -(-width // stride), -(-height // stride)  # ceil: MediaPipe rounds the feature map up
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        grid = np.stack([(xs + spec.offset) / cols, (ys + spec.offset) / rows], axis=-1).reshape(-1, 1, 2)
        blocks.append(np.repeat(grid, layers * spec.per_layer, axis=1).reshape(-1, 2))
    return np.concatenate(blocks).astype(np.float32)
