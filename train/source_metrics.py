"""Scores of a model on one labelled source, in plain numpy: shared by hs-train's source runs and
``bench/wild_eval.py``, so a number in a run's metrics and in the evaluation table mean the same thing.

Targets are probability rows (soft for FER+, one-hot elsewhere); the truth of an image is its majority
class. Predictions go through the device's one decision rule (``edge_runtime.model.decision``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_runtime.model.decision import decide_indices

from .metrics import classification_metrics, roc_auc


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = 15) -> float:
    """ECE of the top label: |confidence - accuracy| over equal-width confidence bins, weighted by count."""
    if len(truth) == 0:
        return 0.0
    conf = probs.max(axis=1)
    right = (probs.argmax(axis=1) == truth).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - right[m].mean())
    return float(ece)


def happy_sad(probs: np.ndarray, truth: np.ndarray, labels: list[str]) -> dict[str, float] | None:
    """Happy vs sad faces only, scored by P(sad) against P(happy) (the issue's 'balanced accuracy by
    score'): balanced accuracy, happy and sad recall, ROC AUC."""
    if "happy" not in labels or "sad" not in labels:
        return None
    h, s = labels.index("happy"), labels.index("sad")
    keep = (truth == h) | (truth == s)
    if not keep.any():
        return None
    is_sad = truth[keep] == s
    said_sad = probs[keep, s] > probs[keep, h]
    rec_h = float(np.mean(~said_sad[~is_sad])) if (~is_sad).any() else float("nan")
    rec_s = float(np.mean(said_sad[is_sad])) if is_sad.any() else float("nan")
    score = probs[keep, s] / np.maximum(probs[keep, s] + probs[keep, h], 1e-12)
    return {
        "balanced_accuracy": (rec_h + rec_s) / 2,
        "happy_recall": rec_h,
        "sad_recall": rec_s,
        "roc_auc": roc_auc(is_sad, score) or float("nan"),
        "n": int(keep.sum()),
    }


def neutral_split(labels_out: np.ndarray, truth: np.ndarray, labels: list[str], neutral_index: int | None) -> dict:
    """How the faces whose truth is neutral were labelled (share per output label, 'uncertain' included)."""
    if neutral_index is None:
        return {}
    m = truth == neutral_index
    if not m.any():
        return {}
    names = [*labels, "uncertain"]
    out = labels_out[m]
    return {names[i]: float(np.mean(out == i)) for i in range(len(names))} | {"n": int(m.sum())}


def source_scores(
    probs: np.ndarray,
    truth: np.ndarray,
    labels: list[str],
    threshold: float = 0.5,
    uncertain_band: float = 0.0,
    neutral_truth: np.ndarray | None = None,
) -> dict[str, Any]:
    """Everything the model card and the evaluation table report for one source.

    ``neutral_truth`` marks the faces that are neutral (for a binary model, which has no such class, they
    are kept out of ``truth``'s scores and only their labelling is reported)."""
    out: dict[str, Any] = {}
    if len(truth):
        out.update(classification_metrics(truth, probs, labels, threshold))
        out["ece"] = expected_calibration_error(probs, truth)
        out["happy_vs_sad"] = happy_sad(probs, truth, labels)
    said = decide_indices(probs, threshold, uncertain_band)
    if "neutral" in labels:
        out["neutral_labelled"] = neutral_split(said, truth, labels, labels.index("neutral"))
    elif neutral_truth is not None and len(neutral_truth):
        said_n = decide_indices(neutral_truth, threshold, uncertain_band)
        out["neutral_labelled"] = neutral_split(said_n, np.zeros(len(said_n), int), labels, 0)
    return out
