"""The one rule from probabilities to a label, used by training metrics, the conversion parity report,
the tracker and the benches: with two labels, labels[1] when P(labels[1]) >= threshold; with more, the
most probable label (softmax)."""

from __future__ import annotations

import numpy as np


def label_indices(probs: np.ndarray, threshold: float) -> np.ndarray:
    """[N, C] probabilities -> [N] label indices."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"expected [N, classes] probabilities, got shape {probs.shape}")
    if probs.shape[1] == 2:
        return np.asarray(probs[:, 1] >= threshold, dtype=np.int64)
    return np.asarray(probs.argmax(axis=1), dtype=np.int64)


def label_index(probs: np.ndarray, threshold: float) -> int:
    """One [C] probability row -> its label index."""
    return int(label_indices(np.asarray(probs)[None], threshold)[0])
