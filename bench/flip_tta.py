"""Test-time flip averaging: a model file's metrics on a class-folder set with and without it.

    python bench/flip_tta.py edge_runtime/models/happysad_int8.tflite [--data ../shared/data/fer2013/val]

Scores each face and its mirror through the device's own Classifier (its interpreter, quantization and
sigmoid handling), one invoke each at batch 1 as on the device, and reports balanced accuracy and ROC AUC
of the plain probabilities and of the mean of the two, plus the median ms of one invoke at 1 thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FER_VAL = ROOT.parent / "shared" / "data" / "fer2013" / "val"


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


def flip_report(model: Path, data: Path = FER_VAL) -> dict[str, Any]:
    """Metrics of ``model`` on ``data`` without and with flip averaging, and its ms per face at 1 thread."""
    from edge_runtime.model import load_classifier
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
    tensor = clf.to_tensor(pixels)
    for _ in range(20):
        clf.runner.invoke(tensor)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        clf.runner.invoke(tensor)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=FER_VAL)
    args = ap.parse_args()
    for model in args.models:
        print(json.dumps(flip_report(model, args.data)), flush=True)


if __name__ == "__main__":
    main()
