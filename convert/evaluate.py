"""Scores of the Keras model and of converted files on arrays of pixels, and the metrics that compare them.

A converted file is scored by the device's own code (``edge_runtime.model.classifier.Classifier``: its interpreter,
input quantization, output dequantization and sigmoid handling), so the parity check measures exactly what
hs-run will run. The metrics are training's own (``train.metrics``), so the Keras row matches metrics.json,
and labels come from the one decision rule (``edge_runtime.model.decision``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.model.classifier import Classifier, ModelOptions, load_classifier
from edge_runtime.model.decision import label_indices
from edge_runtime.model.interpreter import TensorSpec

from .errors import ConvertError
from .native import native_stderr_to

NEAR_CONSTANT_STD = 1e-3  # scores spread less than this over the test set: the model says one thing
NEAR_CONSTANT_MIN_DISTINCT = 2  # fewer distinct score vectors than this: constant output


# ---------------------------------------------------------------------------------------------- scoring


def to_probabilities(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """Model output ([N,1] sigmoid or [N,C]) -> [N, n_classes] probabilities, as training computes them."""
    from train.metrics import to_probabilities as train_to_probabilities

    return train_to_probabilities(scores, n_classes)


def keras_probabilities(model: Any, pixels: np.ndarray, n_classes: int, flip_average: bool = False) -> np.ndarray:
    """The reference the converted files are held to: Keras on the same uint8 pixels, as float32 0..255;
    with ``flip_average`` (the model's metadata) the mean over each image and its mirror, as the device does."""
    from train.metrics import mirror_mean

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(batch.astype(np.float32), batch_size=32, verbose=0), dtype=np.float32)

    return to_probabilities(mirror_mean(predict, pixels, flip_average), n_classes)


def device_classifier(path: Path, threads: int = 1) -> Classifier:
    """The file loaded exactly as hs-run loads it; a file the device refuses is a ConvertError."""
    try:
        with tempfile.TemporaryFile() as sink, native_stderr_to(sink):  # "Created XNNPACK delegate" lines
            return load_classifier(path, ModelOptions(), threads=threads)
    except RuntimeFailure as exc:
        raise ConvertError(f"{path.name} does not load in the device runtime: {first_line(exc)}") from exc


def classifier_probabilities(classifier: Classifier, pixels: np.ndarray) -> np.ndarray:
    """uint8 [N,H,W,C] -> [N, labels] probabilities through the device's ``Classifier.classify``."""
    if len(pixels) == 0:
        return np.zeros((0, len(classifier.info.labels)), np.float32)
    return classifier.classify(pixels)


def _tensor_quantization(spec: TensorSpec) -> dict[str, Any]:
    return {
        "dtype": spec.dtype.name,
        "shape": [int(s) for s in spec.shape],
        "scale": float(spec.scale),
        "zero_point": int(spec.zero_point),
    }


def io_quantization(classifier: Classifier) -> dict[str, Any]:
    """Input and output dtype, shape, scale and zero point, as the device's runner sees them."""
    return {
        "input": _tensor_quantization(classifier.runner.input),
        "output": _tensor_quantization(classifier.runner.output),
    }


# ---------------------------------------------------------------------------------------------- metrics


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, labels: list[str], threshold: float = 0.5
) -> dict[str, Any]:
    """Training's own metrics (train.metrics, numpy only) plus one-vs-rest ROC AUC for every class."""
    from train.metrics import classification_metrics as train_metrics
    from train.metrics import roc_auc

    probs = to_probabilities(scores, len(labels))
    m = train_metrics(y_true, probs, list(labels), threshold)
    y = np.asarray(y_true, dtype=np.int64)
    m["roc_auc_per_class"] = {name: roc_auc(y == c, probs[:, c]) for c, name in enumerate(labels)}
    m["f1"] = {name: pc["f1"] for name, pc in m["per_class"].items()}
    return m


def predicted_labels(scores: np.ndarray, n_classes: int, threshold: float = 0.5) -> np.ndarray:
    """Label indices by the device's decision rule."""
    return label_indices(to_probabilities(scores, n_classes), threshold)


def near_constant(scores: np.ndarray) -> str | None:
    """A reason when the output barely varies over the test set (e.g. broken quantization), else None."""
    s = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    if len(s) < 2:
        return None
    std = float(s.std(axis=0).max())
    distinct = len(np.unique(np.round(s, 6), axis=0))
    if std < NEAR_CONSTANT_STD or distinct < NEAR_CONSTANT_MIN_DISTINCT:
        return f"near-constant output (score std {std:.2g}, {distinct} distinct value(s) over {len(s)} images)"
    return None


def compare(reference: np.ndarray, scores: np.ndarray, n_classes: int, threshold: float = 0.5) -> dict[str, Any]:
    """Agreement of predicted labels and the largest probability difference against the reference."""
    if len(reference) == 0:
        return {"agreement": None, "max_abs_prob_diff": None}
    a = predicted_labels(reference, n_classes, threshold)
    b = predicted_labels(scores, n_classes, threshold)
    diff = np.abs(to_probabilities(reference, n_classes) - to_probabilities(scores, n_classes))
    return {"agreement": float(np.mean(a == b)), "max_abs_prob_diff": float(diff.max())}
