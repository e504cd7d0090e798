"""Bench hs-convert's files: size and single-image latency of each kind in ai-edge-litert.

    python bench/convert.py --run RUN_DIR [--runs 50] [--json out.json]
    python bench/convert.py --run RUN_DIR --sweep-calibration 25,50,100,200,400

Converts the run into a temporary folder (the run folder is not touched), loads each file as hs-run does
(edge_runtime.model.load_classifier) and times ``Classifier.infer`` on a batch-of-one input with 1 and 2
threads (median over --runs after warm-up): the per-face cost the device pays. For the origin CNN
(3,696,625 parameters) it checks that the int8 file is at most 26% of the float32 one (exit 1 if not).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ORIGIN_PARAMS = 3_696_625
ORIGIN_MAX_INT8_RATIO = 0.26


def latency_ms(path: Path, threads: int, runs: int, warmup: int = 5) -> dict[str, float]:
    """p50/p90 of one Classifier.infer (set input, invoke, read output) on random pixels, as hs-run runs it."""
    from edge_runtime.model import load_classifier

    classifier = load_classifier(path, threads=threads)
    spec = classifier.spec
    pixels = np.random.default_rng(0).integers(0, 256, (spec.height, spec.width, spec.channels), dtype=np.uint8)
    tensor = classifier.to_tensor(pixels)
    times = []
    for i in range(warmup + runs):
        t = time.perf_counter()
        classifier.infer(tensor)
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    return {"p50": statistics.median(times), "p90": times[min(len(times) - 1, int(0.9 * len(times)))]}


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


def print_bench(result: dict) -> bool:
    print(
        f"run {result['run_dir']}: {result['params']:,} params, input {result['input']}, "
        f"{result['test_images']} test images, {result['cpu_count']} CPUs (ai-edge-litert)"
    )
    head = (
        f"{'kind':8} {'size KB':>9} {'vs f32':>7} {'p50 1t ms':>10} {'p50 2t ms':>10} {'bal.acc':>8} "
        f"{'agree':>6} {'runtime':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in result["rows"]:
        print(
            f"{r['kind']:8} {r['size_bytes'] / 1024:9.1f} {100 * r['size_ratio']:6.1f}% {r['p50_ms_1_thread']:10.3f} "
            f"{r['p50_ms_2_threads']:10.3f} {r['balanced_accuracy']:8.3f} {r['agreement']:6.3f} "
            f"{r['min_runtime_version']:>8}"
        )
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


def print_sweep(rows: list[dict]) -> None:
    head = (
        f"{'N asked':>7} {'used':>5} {'int8 bal.acc':>12} {'keras':>6} {'drop pt':>8} {'AUC':>6} {'agree':>6} "
        f"{'max|dp|':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        auc = "-" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
        print(
            f"{r['calibration_samples']:7d} {r['used']:5d} {r['balanced_accuracy']:12.4f} "
            f"{r['keras_balanced_accuracy']:6.3f} {r['drop_points']:+8.2f} {auc:>6} {r['agreement']:6.3f} "
            f"{r['max_abs_prob_diff']:8.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="hs-train run folder")
    ap.add_argument("--runs", type=int, default=50, help="timed invokes per kind and thread count")
    ap.add_argument("--quantize", default="float16,dynamic,int8", help="kinds besides float32")
    ap.add_argument("--calibration-samples", type=int, default=200)
    ap.add_argument("--sweep-calibration", default=None, help="e.g. 25,50,100,200,400: int8 quality per size")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from convert.errors import ConvertError
    from edge_runtime.errors import first_line
    from train.tfenv import quiet_tensorflow

    quiet_tensorflow()

    try:
        if args.sweep_calibration:
            from convert.core import calibration_sweep

            sizes = [int(s) for s in args.sweep_calibration.split(",") if s.strip()]
            rows = calibration_sweep(args.run, sizes)
            print_sweep(rows)
            result, ok = {"sweep": rows}, True
        else:
            kinds = [k for k in args.quantize.split(",") if k.strip()]
            result = bench_run(args.run, args.runs, kinds, args.calibration_samples)
            ok = print_bench(result)
    except ConvertError as exc:
        print(f"bench/convert.py: error: {first_line(exc)}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        from edge_runtime.atomic import write_json

        write_json(args.json, result)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
