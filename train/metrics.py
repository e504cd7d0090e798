"""Classification metrics in plain numpy, shared by training and the converter's parity report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edge_runtime.model.decision import label_indices


def to_probabilities(out: np.ndarray, num_classes: int) -> np.ndarray:
    """Model output -> [N, num_classes] probabilities (a sigmoid unit is P(class 1))."""
    out = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
    if num_classes == 2 and out.shape[1] == 1:
        return np.concatenate([1.0 - out, out], axis=1)
    return out


def mirror_mean(predict: Callable[[Any], Any], x: Any, flip_average: bool) -> np.ndarray:
    """``predict(x)`` as an array; with ``flip_average`` its mean with ``predict`` of the mirrored batch
    ([N, H, W, C], width reversed): the device's rule for such a model (``Classifier.probabilities``). Sigmoid
    or softmax outputs are probabilities, so their mean is the mean probability."""
    out = np.asarray(predict(x))
    if flip_average:
        out = (out + np.asarray(predict(x[:, :, ::-1]))) / 2.0
    return out


def output_labels(out: np.ndarray, num_classes: int, threshold: float) -> np.ndarray:
    """Raw model output -> label indices by the one decision rule (edge_runtime.model.decision)."""
    return label_indices(to_probabilities(out, num_classes), threshold)


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve via the rank statistic (ties averaged); None when one class is absent."""
    y_true = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s), dtype=np.float64)
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, labels: list[str], threshold: float = 0.5
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision/recall/F1, ROC AUC and the confusion matrix."""
    y_true = np.asarray(y_true, dtype=np.int64)
    k = len(labels)
    y_pred = label_indices(probs, threshold)
    cm = confusion(y_true, y_pred, k)
    per_class: dict[str, dict[str, float | int]] = {}
    recalls = []
    for c, name in enumerate(labels):
        tp = cm[c, c]
        support = int(cm[c].sum())
        predicted = int(cm[:, c].sum())
        precision = float(tp / predicted) if predicted else 0.0
        recall = float(tp / support) if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if support:
            recalls.append(recall)
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    if k == 2:
        auc = roc_auc(y_true == 1, probs[:, 1])
    else:
        per_class_auc = [roc_auc(y_true == c, probs[:, c]) for c in range(k)]
        aucs = [a for a in per_class_auc if a is not None]
        auc = float(np.mean(aucs)) if aucs else None
    return {
        "n": len(y_true),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
        "roc_auc": auc,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "threshold": threshold,
    }
