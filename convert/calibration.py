"""The representative dataset for full-integer quantization: a stratified sample of training images."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

DEFAULT_SAMPLES = 200
MIN_SAMPLES = 10  # fewer images than this cannot give usable activation ranges


def stratified_indices(labels: list[int] | np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` indices, each class in proportion to its share (at least one each), seeded and sorted.

    Shares are split by largest remainder so the total is exactly ``min(n, len(labels))``.
    """
    y = np.asarray(labels, dtype=np.int64)
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    exact = counts / counts.sum() * n
    take = np.minimum(np.maximum(np.floor(exact).astype(int), 1), counts)
    order = np.argsort(-(exact - np.floor(exact)))
    i = 0
    while take.sum() < n:
        c = order[i % len(order)]
        if take[c] < counts[c]:
            take[c] += 1
        i += 1
    while take.sum() > n:  # the minimum of one per class overshot a tiny n
        c = int(np.argmax(take))
        take[c] -= 1
    picked = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picked))


def representative(pixels: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's representative_dataset: one float32 [1,H,W,C] 0..255 image per step."""

    def gen() -> Iterator[list[np.ndarray]]:
        for px in pixels:
            yield [px[None].astype(np.float32)]

    return gen
