"""An honest accuracy for frame mode on the origin documents' own seed-scenes (whole stock photos).

    python bench/seed_kfold.py [--folds 5] [--repeats 3] [--epochs 10] [--image-size 256]

Repeated stratified k-fold: every photo is tested exactly once per repeat by a model that never saw it
(nor a byte-identical copy), with the origin recipe (origin CNN, frame mode). Prints each fold and the mean
and spread of accuracy and balanced accuracy, beside the 100% the origin documents claimed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, SEED_SCENES, print_table, write_json


def link_split(samples, classes, folder: Path) -> None:
    for s in samples:
        dst = folder / classes[s.label] / f"{s.sha1[:12]}{Path(s.path).suffix}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            dst.symlink_to(s.path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SEED_SCENES)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--augment", action="store_true", help="augment (the origin recipe did not)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "seed_kfold.json")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"seed_kfold: {args.data} not found; pass --data")
    from train.tfenv import quiet_tensorflow

    quiet_tensorflow()
    from train.config import TrainConfig
    from train.data import scan
    from train.trainer import train

    samples, report = scan(args.data)
    classes = report.classes
    print(report.summary())
    rows = []
    for rep in range(args.repeats):
        rng = np.random.default_rng(1000 + rep)
        fold_of = {}
        for label in range(len(classes)):
            group = sorted((s for s in samples if s.label == label), key=lambda s: s.sha1)
            for i, k in enumerate(rng.permutation(len(group))):
                fold_of[group[k].sha1] = i % args.folds
        for fold in range(args.folds):
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                link_split([s for s in samples if fold_of[s.sha1] != fold], classes, tmp / "train")
                link_split([s for s in samples if fold_of[s.sha1] == fold], classes, tmp / "test")
                m = train(
                    TrainConfig(
                        data=str(tmp / "train"),
                        test_data=str(tmp / "test"),
                        out=str(tmp / "run"),
                        epochs=args.epochs,
                        image_size=args.image_size,
                        augment=args.augment,
                        roi="frame",
                        val_fraction=0.15,
                        patience=0,
                        seed=rep * 100 + fold,
                        class_weight="none",
                        cache=True,
                        verbose=0,
                        deterministic=False,
                    )
                )
            t = m["splits"]["test"]
            rows.append(
                {
                    "repeat": rep,
                    "fold": fold,
                    "n": t["n"],
                    "accuracy": t["accuracy"],
                    "balanced_accuracy": t["balanced_accuracy"],
                    "roc_auc": t["roc_auc"],
                }
            )
            print(
                f"repeat {rep} fold {fold}: n={t['n']} accuracy {t['accuracy']:.3f} "
                f"balanced {t['balanced_accuracy']:.3f} AUC {t['roc_auc']:.3f}",
                flush=True,
            )
    acc = np.array([r["accuracy"] for r in rows])
    bal = np.array([r["balanced_accuracy"] for r in rows])
    per_repeat = [np.mean([r["balanced_accuracy"] for r in rows if r["repeat"] == k]) for k in range(args.repeats)]
    majority = max(report.usable.values()) / sum(report.usable.values())
    summary = {
        "folds": args.folds,
        "repeats": args.repeats,
        "epochs": args.epochs,
        "image_size": args.image_size,
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std(ddof=1)),
        "balanced_accuracy_mean": float(bal.mean()),
        "balanced_accuracy_std": float(bal.std(ddof=1)),
        "balanced_accuracy_repeat_means": per_repeat,
        "majority_class_rate": majority,
        "origin_claim": 1.0,
        "folds_detail": rows,
        "data": report.to_dict(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, summary)
    print(f"\n{args.repeats}x{args.folds}-fold, origin CNN {args.image_size}px frame mode, {args.epochs} epochs")
    table = [
        [name, v.mean(), v.std(ddof=1), v.min(), v.max()] for name, v in (("accuracy", acc), ("balanced accuracy", bal))
    ]
    print_table(["measure", "mean", "std", "min", "max"], table, ["", ".3f", ".3f", ".3f", ".3f"])
    print(f"chance 0.5; majority-class rate {majority:.3f}; the origin documents claimed 1.000")


if __name__ == "__main__":
    main()
