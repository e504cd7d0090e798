"""Test-time flip averaging: a model file's metrics on a class-folder set with and without it.

    python bench/flip_tta.py edge_runtime/models/happysad_int8.tflite [--data ../shared/data/fer2013/val]

Scores each face and its mirror through the device's own Classifier (its interpreter, quantization and
sigmoid handling), one invoke each at batch 1 as on the device, and reports balanced accuracy and ROC AUC
of the plain probabilities and of the mean of the two, plus the median ms of one invoke at 1 thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FER2013_VAL, p50_p90_ms, print_table, time_calls


def plain_probabilities(clf: Any, pixels: np.ndarray) -> np.ndarray:
    """[N, labels] probabilities of single invokes, whatever the model's metadata says about flipping
    (``Classifier.infer`` would add the mirror for a flip-averaged model: the runner is called directly)."""
    return np.stack([clf.probabilities(clf.runner.invoke(clf.to_tensor(p))) for p in pixels])


def load_set(data: Path, labels: list[str], spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Model pixels and label indices of every usable file of ``data``'s class folders named ``labels``."""
    from train.data import scan
    from train.pipeline import load_arrays

    samples, _ = scan(data, labels)
    x, y, _ = load_arrays([s.path for s in samples], [s.label for s in samples], spec)
    return x, y


def flip_report(model: Path, data: Path = FER2013_VAL) -> dict[str, Any]:
    """Metrics of ``model`` on ``data`` without and with flip averaging, and its ms per face at 1 thread."""
    from edge_runtime.model.classifier import load_classifier
    from train.metrics import classification_metrics

    clf = load_classifier(model, threads=1)
    labels = list(clf.info.labels)
    x, y = load_set(data, labels, clf.spec)
    plain = plain_probabilities(clf, x)
    mirror = plain_probabilities(clf, x[:, :, ::-1])
    out: dict[str, Any] = {"model": str(model), "n": int(len(y)), "flip_average_in_metadata": _flag(clf)}
    for name, probs in (("plain", plain), ("flip_tta", (plain + mirror) / 2.0)):
        m = classification_metrics(y, probs, labels, clf.info.threshold)
        out[name] = {"balanced_accuracy": m["balanced_accuracy"], "accuracy": m["accuracy"], "roc_auc": m["roc_auc"]}
    out["ms_per_invoke_1thread"] = round(_ms_per_invoke(clf, x[0]), 4)
    return out


def _flag(clf: Any) -> bool:
    return bool(getattr(clf.info, "flip_average", False))


def _ms_per_invoke(clf: Any, pixels: np.ndarray, runs: int = 300) -> float:
    """Median ms of one invoke of the model's runner on ``pixels``, after 20 untimed ones."""
    tensor = clf.to_tensor(pixels)
    return p50_p90_ms(time_calls(lambda: clf.runner.invoke(tensor), runs, warmup=20))[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=FER2013_VAL)
    args = ap.parse_args()
    from train.tfenv import quiet_tensorflow

    quiet_tensorflow()  # train.pipeline (the set's loading) imports TensorFlow
    rows = []
    for model in args.models:
        rep = flip_report(model, args.data)
        for mode in ("plain", "flip_tta"):
            m = rep[mode]
            scores = [m["balanced_accuracy"], m["accuracy"], m["roc_auc"]]
            rows.append(
                [model.name, mode, rep["n"], *scores, rep["ms_per_invoke_1thread"], rep["flip_average_in_metadata"]]
            )
    header = ["model", "scores", "n", "bal.acc", "accuracy", "AUC", "ms/invoke 1t", "flip in metadata"]
    print_table(header, rows, ["", "", "d", ".4f", ".4f", ".4f", ".4f", ""])


if __name__ == "__main__":
    main()
