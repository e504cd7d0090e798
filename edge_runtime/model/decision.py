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


def uncertain_distance(probs: np.ndarray, threshold: float) -> np.ndarray:
    """[N, C] probabilities -> [N] distance from a tie: two labels, |P(labels[1]) - threshold|; more, half
    the gap between the two most probable labels (the same thing for two labels at threshold 0.5)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[1] == 2:
        return np.asarray(np.abs(probs[:, 1] - threshold))
    top2 = np.sort(probs, axis=1)[:, -2:]
    return np.asarray((top2[:, 1] - top2[:, 0]) / 2.0)


def uncertain_mask(probs: np.ndarray, threshold: float, band: float) -> np.ndarray:
    """[N, C] probabilities -> [N] bool: too close to call ('uncertain'; a 0 band: never)."""
    if band <= 0.0:
        return np.zeros(len(probs), dtype=bool)
    return np.asarray(uncertain_distance(probs, threshold) < band)


def decide_indices(probs: np.ndarray, threshold: float, band: float) -> np.ndarray:
    """Label indices with 'uncertain' as index C (one past the labels), by the rules above."""
    out = label_indices(probs, threshold)
    out[uncertain_mask(probs, threshold, band)] = np.asarray(probs).shape[1]
    return out
