"""Scores of a Keras or TFLite model on arrays of pixels, and the metrics that compare them (numpy only).

The metrics are training's own (``train.metrics``), so the report's Keras row matches metrics.json.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_runtime.preprocess import quantize

NEAR_CONSTANT_STD = 1e-3  # scores spread less than this over the test set: the model says one thing
NEAR_CONSTANT_MIN_DISTINCT = 2  # fewer distinct score vectors than this: constant output


# ---------------------------------------------------------------------------------------------- running

class TFLiteRunner:
    """One ai-edge-litert interpreter; float or integer input, always float probabilities out."""

    def __init__(self, model: bytes, num_threads: int = 1) -> None:
        import tempfile

        from ai_edge_litert.interpreter import Interpreter

        from .native import native_stderr_to

        with tempfile.TemporaryFile() as sink, native_stderr_to(sink):  # "Created XNNPACK delegate" lines
            self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def _prepare(self, pixels: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        x = pixels[None] if pixels.ndim == 3 else pixels
        if np.issubdtype(dtype, np.integer):
            scale, zp = self.input["quantization"]
            return quantize(x, scale, zp, dtype)
        return x.astype(dtype)

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        if np.issubdtype(raw.dtype, np.integer):
            scale, zp = self.output["quantization"]
            return (raw.astype(np.float32) - zp) * scale
        return raw.astype(np.float32)

    def predict_one(self, pixels: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], self._prepare(pixels))
        self.interpreter.invoke()
        return self._finish(self.interpreter.get_tensor(self.output["index"]))[0]

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [N,H,W,C] -> float32 [N, units], one image at a time (the file has a batch of 1)."""
        return np.stack([self.predict_one(p) for p in pixels]) if len(pixels) else np.zeros((0, 1), np.float32)

    def io_quantization(self) -> dict[str, Any]:
        def desc(d: dict) -> dict[str, Any]:
            scale, zp = d["quantization"]
            return {"dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]],
                    "scale": float(scale), "zero_point": int(zp)}
        return {"input": desc(self.input), "output": desc(self.output)}


def keras_predict(model: Any, pixels: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(pixels.astype(np.float32), batch_size=32, verbose=0), dtype=np.float32)


# ---------------------------------------------------------------------------------------------- metrics

def classification_metrics(y_true: np.ndarray, scores: np.ndarray, labels: list[str],
                           threshold: float = 0.5) -> dict[str, Any]:
    """Training's own metrics (train.metrics, numpy only) plus one-vs-rest ROC AUC for every class."""
    from train.metrics import classification_metrics as train_metrics
    from train.metrics import roc_auc, to_probabilities

    probs = to_probabilities(scores, len(labels))
    m = train_metrics(y_true, probs, list(labels), threshold)
    y = np.asarray(y_true, dtype=np.int64)
    m["roc_auc_per_class"] = {name: roc_auc(y == c, probs[:, c]) for c, name in enumerate(labels)}
    m["f1"] = {name: pc["f1"] for name, pc in m["per_class"].items()}
    return m


def predicted_labels(scores: np.ndarray, n_classes: int, threshold: float = 0.5) -> np.ndarray:
    from train.metrics import predict_labels, to_probabilities

    return predict_labels(to_probabilities(scores, n_classes), threshold)


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
    from train.metrics import to_probabilities

    diff = np.abs(to_probabilities(reference, n_classes) - to_probabilities(scores, n_classes))
    return {"agreement": float(np.mean(a == b)), "max_abs_prob_diff": float(diff.max())}
