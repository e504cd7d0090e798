"""Search training recipes on FER-2013 happy vs sad; one table of balanced accuracy (float, int8) and latency.

    python bench/fer_search.py --recipes origin48,compact48 [--epochs 30] [--out runs/search]

Every recipe trains with early stopping on a 10% split of fer2013/train, and is scored on the untouched
fer2013/val folder (given as the test split), through the real converter, so float and int8 numbers come
from the files a device would run. Results are appended to OUT/results.jsonl as they finish.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FER2013, REPO, p50_p90_ms, print_table, time_calls

# name -> TrainConfig overrides. "origin256" is the origin documents' recipe.
RECIPES: dict[str, dict] = {
    "origin256_noaug": {
        "arch": "origin",
        "image_size": 256,
        "channels": 3,
        "augment": False,
        "epochs": 10,
        "patience": 0,
        "class_weight": "none",
    },
    "origin256": {"arch": "origin", "image_size": 256, "channels": 3},
    "origin48": {"arch": "origin", "image_size": 48, "channels": 1},
    "origin48_noaug": {"arch": "origin", "image_size": 48, "channels": 1, "augment": False},
    "origin48_drop": {
        "arch": "origin",
        "image_size": 48,
        "channels": 1,
        "dropout": 0.5,
        "weight_decay": 1e-4,
        "lr_schedule": "cosine",
    },
    "compact48": {"arch": "compact", "image_size": 48, "channels": 1, "dropout": 0.3, "lr_schedule": "cosine"},
    "compact48_wd": {
        "arch": "compact",
        "image_size": 48,
        "channels": 1,
        "dropout": 0.4,
        "weight_decay": 5e-4,
        "lr_schedule": "cosine",
    },
    "compact64": {"arch": "compact", "image_size": 64, "channels": 1, "dropout": 0.3, "lr_schedule": "cosine"},
    "compact48_3class": {
        "arch": "compact",
        "image_size": 48,
        "channels": 1,
        "dropout": 0.3,
        "lr_schedule": "cosine",
        "classes": ["happy", "neutral", "sad"],
    },
    "compact48_rgb": {"arch": "compact", "image_size": 48, "channels": 3, "dropout": 0.3, "lr_schedule": "cosine"},
}
# Issue 10: the shipped recipe (``make model``: margin 0.03, uncertain band 0.15, so a search run of it is the
# shipped model) plus the accuracy levers: label smoothing, EMA of weights, random erasing, a wider net.
SHIPPED = {**RECIPES["compact48"], "margin": 0.03, "uncertain_band": 0.15}
LEVERS = {"label_smoothing": 0.1, "ema_momentum": 0.99, "random_erasing": 0.25, "flip_average": True}
RECIPES |= {
    "shipped48": SHIPPED,
    "levers48": {**SHIPPED, **LEVERS},
    "levers48_w15": {**SHIPPED, **LEVERS, "width": 1.5},
    "levers48_w2": {**SHIPPED, **LEVERS, "width": 2.0},
    "levers48_noerase": {**SHIPPED, **LEVERS, "random_erasing": 0.0},
    "levers48_w15_3class": {**SHIPPED, **LEVERS, "width": 1.5, "classes": ["happy", "neutral", "sad"]},
    # no EMA (levers48's validation loss jumped between epochs and stopped it at epoch 16, best 10), and a
    # patience that lets the cosine schedule reach its low learning rates
    "ls_re_w125": {
        **SHIPPED,
        "label_smoothing": 0.1,
        "random_erasing": 0.25,
        "flip_average": True,
        "width": 1.25,
        "patience": 10,
    },
}
RECIPES["ls_re_w125_3class"] = {**RECIPES["ls_re_w125"], "classes": ["happy", "neutral", "sad"]}


def int8_latency_ms(path: Path, runs: int = 200) -> float:
    """Median ms of one bare ``invoke`` at 1 thread on zeros, after 10 untimed ones."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    return p50_p90_ms(time_calls(it.invoke, runs, warmup=10))[0]


def run_recipe(name: str, out: Path, epochs: int, seed: int, score_only: bool = False) -> dict:
    """Train recipe ``name`` into OUT/name (or, ``score_only``, take the run already there), convert it and
    append its row to OUT/results.jsonl."""
    from convert import convert_run
    from train.config import TrainConfig
    from train.trainer import train

    params = {
        "data": str(FER2013 / "train"),
        "out": str(out / name),
        "classes": ["happy", "sad"],
        "test_data": str(FER2013 / "val"),
        "val_fraction": 0.1,
        "epochs": epochs,
        "patience": 6,
        "seed": seed,
        "cache": True,
        "batch_size": 64,
        "verbose": 2,
        "margin": 0.15,
    }
    params.update(RECIPES[name])
    cfg = TrainConfig(**params)
    t0 = time.perf_counter()
    metrics = json.loads((out / name / "metrics.json").read_text()) if score_only else train(cfg)
    report = convert_run(out / name, quantize=["int8"], max_accuracy_drop=100.0)
    models = report["models"]
    row = {
        "recipe": name,
        **{k: v for k, v in RECIPES[name].items() if k != "classes"},
        "classes": params["classes"],
        "epochs_run": metrics["epochs_run"],
        "best_epoch": metrics["best_epoch"],
        "s_per_epoch": metrics["seconds_per_epoch"],
        "val_split_bal_acc": metrics["splits"]["val"]["balanced_accuracy"],
        "fer_val_bal_acc_keras": models["keras"]["metrics"]["balanced_accuracy"],
        "fer_val_bal_acc_float32": models["float32"]["metrics"]["balanced_accuracy"],
        "fer_val_bal_acc_int8": models["int8"]["metrics"]["balanced_accuracy"],
        "fer_val_acc_int8": models["int8"]["metrics"]["accuracy"],
        "fer_val_auc_int8": models["int8"]["metrics"]["roc_auc"],
        "int8_kb": round((out / name / "model_int8.tflite").stat().st_size / 1024, 1),
        "int8_ms_1thread": round(int8_latency_ms(out / name / "model_int8.tflite"), 3),
        "params": models["keras"].get("params"),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    row |= flip_columns(out / name, params["classes"])
    with (out / "results.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def flip_columns(run: Path, classes: list[str]) -> dict:
    """Balanced accuracy and AUC of the float32 and int8 files on fer2013/val without and with flip averaging
    (scored as single invokes, whatever the file's metadata says), for two-class runs."""
    from bench.flip_tta import flip_report

    if len(classes) != 2:
        return {}
    cols = {}
    for kind in ("float32", "int8"):
        rep = flip_report(run / f"model_{kind}.tflite", FER2013 / "val")
        for mode in ("plain", "flip_tta"):
            cols[f"{kind}_{mode}_bal_acc"] = rep[mode]["balanced_accuracy"]
            cols[f"{kind}_{mode}_auc"] = rep[mode]["roc_auc"]
    return cols


TABLE = {  # results.jsonl key: (column, format)
    "recipe": ("recipe", ""),
    "params": ("params", "d"),
    "epochs_run": ("ep", "d"),
    "s_per_epoch": ("s/ep", ".1f"),
    "fer_val_bal_acc_float32": ("bal.acc f32", ".4f"),
    "fer_val_bal_acc_int8": ("bal.acc int8", ".4f"),
    "fer_val_auc_int8": ("AUC int8", ".4f"),
    "int8_ms_1thread": ("int8 ms", ".3f"),
    "int8_kb": ("KB", ".1f"),
}


def results_table(rows: list[dict]) -> None:
    header, formats = zip(*TABLE.values())
    print_table(header, [[r.get(k) for k in TABLE] for r in rows], formats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", default="origin48,compact48")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "search")
    ap.add_argument("--table", action="store_true", help="only print the table of results so far")
    ap.add_argument("--score-only", action="store_true", help="convert and score the runs already in OUT")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table:
        if not FER2013.is_dir():
            sys.exit(f"fer_search: {FER2013} not found")
        from train.tfenv import quiet_tensorflow

        quiet_tensorflow()
        for name in args.recipes.split(","):
            row = run_recipe(name, args.out, args.epochs, args.seed, args.score_only)
            print(json.dumps(row), flush=True)
    results = args.out / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    print()
    results_table(rows)


if __name__ == "__main__":
    main()
