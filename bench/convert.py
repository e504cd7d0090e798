"""Bench hs-convert's files: size and single-image latency of each kind in ai-edge-litert.

    python bench/convert.py --run RUN_DIR [--runs 50] [--json out.json]
    python bench/convert.py --run RUN_DIR --sweep-calibration 25,50,100,200,400

Converts the run into a temporary folder (the run folder is not touched), loads each file as hs-run does
(edge_runtime.model.classifier.load_classifier) and times ``Classifier.infer`` on a batch-of-one input with 1 and 2
threads (median over --runs after warm-up): the per-face cost the device pays. For the origin CNN
(3,696,625 parameters) it checks that the int8 file is at most 26% of the float32 one (exit 1 if not).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import p50_p90_ms, print_table, time_calls

ORIGIN_PARAMS = 3_696_625
ORIGIN_MAX_INT8_RATIO = 0.26


def latency_ms(path: Path, threads: int, runs: int, warmup: int = 5) -> dict[str, float]:
    """p50/p90 of one Classifier.infer (set input, invoke, read output) on random pixels, as hs-run runs it."""
    from edge_runtime.model.classifier import load_classifier

    classifier = load_classifier(path, threads=threads)
    spec = classifier.spec
    pixels = np.random.default_rng(0).integers(0, 256, (spec.height, spec.width, spec.channels), dtype=np.uint8)
    tensor = classifier.to_tensor(pixels)
    p50, p90 = p50_p90_ms(time_calls(lambda: classifier.infer(tensor), runs, warmup))
    return {"p50": p50, "p90": p90}


def bench_run(run_dir: Path, runs: int, quantize: list[str], calibration_samples: int) -> dict:
    from convert.core import convert_run

    with tempfile.TemporaryDirectory(prefix="hs-bench-convert-") as tmp:
        report = convert_run(
            run_dir, quantize, out_dir=tmp, calibration_samples=calibration_samples, max_accuracy_drop=100.0
        )
        f32 = report["models"]["float32"]["size_bytes"]
        rows = []
        for kind, m in report["models"].items():
            if kind == "keras":
                continue
            path = Path(tmp) / m["file"]
            lat = {t: latency_ms(path, t, runs) for t in (1, 2)}
            rows.append(
                {
                    "kind": kind,
                    "size_bytes": m["size_bytes"],
                    "size_ratio": m["size_bytes"] / f32,
                    "p50_ms_1_thread": lat[1]["p50"],
                    "p50_ms_2_threads": lat[2]["p50"],
                    "p90_ms_1_thread": lat[1]["p90"],
                    "p90_ms_2_threads": lat[2]["p90"],
                    "balanced_accuracy": m["metrics"]["balanced_accuracy"],
                    "agreement": m["agreement"],
                    "min_runtime_version": m["min_runtime_version"],
                }
            )
    return {
        "run_dir": str(run_dir),
        "params": report["models"]["keras"]["params"],
        "test_images": report["test"]["n"],
        "input": report["models"]["float32"]["quantization"]["input"]["shape"],
        "rows": rows,
        "cpu_count": os.cpu_count(),
    }


def print_bench(result: dict, json_path: Path | None = None) -> bool:
    print(
        f"run {result['run_dir']}: {result['params']:,} params, input {result['input']}, "
        f"{result['test_images']} test images, {result['cpu_count']} CPUs (ai-edge-litert)"
    )
    columns = {  # row key: (column, format); the size columns are scaled below
        "kind": ("kind", ""),
        "size_bytes": ("size KB", ".1f"),
        "size_ratio": ("vs f32 %", ".1f"),
        "p50_ms_1_thread": ("p50 1t ms", ".3f"),
        "p50_ms_2_threads": ("p50 2t ms", ".3f"),
        "p90_ms_1_thread": ("p90 1t ms", ".3f"),
        "p90_ms_2_threads": ("p90 2t ms", ".3f"),
        "balanced_accuracy": ("bal.acc", ".3f"),
        "agreement": ("agree", ".3f"),
        "min_runtime_version": ("runtime", ""),
    }
    scale = {"size_bytes": 1 / 1024, "size_ratio": 100.0}
    rows = [[r[k] * scale[k] if k in scale else r[k] for k in columns] for r in result["rows"]]
    meta = {k: v for k, v in result.items() if k != "rows"}
    header, formats = zip(*columns.values())
    print_table(header, rows, formats, json_path=json_path, meta=meta)
    int8 = next((r for r in result["rows"] if r["kind"] == "int8"), None)
    ok = True
    if int8:
        ratio = int8["size_ratio"]
        line = f"int8 / float32 size ratio: {100 * ratio:.2f}%"
        if result["params"] == ORIGIN_PARAMS:
            ok = ratio <= ORIGIN_MAX_INT8_RATIO
            line += f"  (origin CNN: must be <= {100 * ORIGIN_MAX_INT8_RATIO:.0f}%: {'OK' if ok else 'FAILED'})"
        print(line)
    return ok


SWEEP_COLUMNS = {  # calibration_sweep's keys: (column, format)
    "calibration_samples": ("N asked", "d"),
    "used": ("used", "d"),
    "balanced_accuracy": ("int8 bal.acc", ".4f"),
    "keras_balanced_accuracy": ("keras", ".3f"),
    "drop_points": ("drop pt", "+.2f"),
    "roc_auc": ("AUC", ".3f"),
    "agreement": ("agree", ".3f"),
    "max_abs_prob_diff": ("max|dp|", ".4f"),
}


def print_sweep(rows: list[dict], json_path: Path | None = None) -> None:
    header = [title for title, _ in SWEEP_COLUMNS.values()]
    formats = [fmt for _, fmt in SWEEP_COLUMNS.values()]
    print_table(header, [[r[k] for k in SWEEP_COLUMNS] for r in rows], formats, json_path=json_path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="hs-train run folder")
    ap.add_argument("--runs", type=int, default=50, help="timed invokes per kind and thread count")
    ap.add_argument("--quantize", default="float16,dynamic,int8", help="kinds besides float32")
    ap.add_argument("--calibration-samples", type=int, default=200)
    ap.add_argument("--sweep-calibration", default=None, help="e.g. 25,50,100,200,400: int8 quality per size")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    from convert.errors import ConvertError
    from edge_runtime.errors import first_line
    from train.tfenv import quiet_tensorflow

    quiet_tensorflow()

    try:
        if args.sweep_calibration:
            from convert.core import calibration_sweep

            sizes = [int(s) for s in args.sweep_calibration.split(",") if s.strip()]
            print_sweep(calibration_sweep(args.run, sizes), args.json)
            ok = True
        else:
            kinds = [k for k in args.quantize.split(",") if k.strip()]
            result = bench_run(args.run, args.runs, kinds, args.calibration_samples)
            ok = print_bench(result, args.json)
    except ConvertError as exc:
        print(f"bench/convert.py: error: {first_line(exc)}", file=sys.stderr)
        return exc.exit_code
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
