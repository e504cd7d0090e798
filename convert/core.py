"""``convert_run``: a run folder in, self-describing .tflite files and a parity report out.

Everything is read, converted and evaluated in memory first; files are written (each atomically) only at
the end, so a bad input or a refused target leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import calibration, compat, evaluate, inputs
from .errors import ConvertError, TargetError
from .native import import_tensorflow
from .quantize import DESCRIPTIONS, KINDS, model_file_name

log = logging.getLogger("hs-convert")

FAILED_TAG = "FAILED_CHECK"
DEFAULT_MAX_DROP = 1.0  # points of balanced accuracy a converted model may lose against Keras


def failed_file_name(kind: str) -> str:
    return f"model_{kind}.{FAILED_TAG}.tflite"


def _kinds(quantize: list[str] | tuple[str, ...] | None) -> list[str]:
    asked = [q.strip().lower() for q in (quantize or []) if q and q.strip()]
    unknown = [q for q in asked if q not in KINDS]
    if unknown:
        raise ConvertError(f"unknown --quantize {', '.join(unknown)}; choose from {', '.join(KINDS[1:])}")
    return [k for k in KINDS if k == "float32" or k in asked]  # float32 always, fixed order


def _data_fingerprint(run: inputs.RunInputs) -> str | None:
    fp = run.info.extra.get("data_fingerprint")
    if fp:
        return str(fp)
    entries = run.splits.get("splits", {}).get("train") or []
    if not entries or not all(isinstance(e, dict) and "sha1" in e for e in entries):
        return None
    from train.data import Sample, fingerprint

    return fingerprint([Sample(e.get("path", ""), int(e.get("label", 0)), e["sha1"]) for e in entries])


def _training_metrics(run: inputs.RunInputs) -> Any:
    if run.info.extra.get("training_metrics") is not None:
        return run.info.extra["training_metrics"]
    splits = (run.metrics or {}).get("splits")
    if not isinstance(splits, dict):
        return None
    keys = ("n", "accuracy", "balanced_accuracy", "roc_auc")
    return {name: {k: m.get(k) for k in keys} for name, m in splits.items() if isinstance(m, dict)}


def _calibration_set(run: inputs.RunInputs, data: str | Path | None, n: int, seed: int) -> tuple[np.ndarray, dict]:
    if data is not None:
        paths, labels = inputs.folder_files(data, run.labels)
        source = f"--data {data}"
    else:
        paths, labels = inputs.split_files(run, "train")
        source = "the run's train split"
    if len(paths) < calibration.MIN_SAMPLES:
        raise ConvertError(f"too few calibration images: {len(paths)} in {source}, int8 needs at least "
                           f"{calibration.MIN_SAMPLES}")
    idx = calibration.stratified_indices(labels, n, seed)
    x, y, skipped = inputs.load_pixels([paths[i] for i in idx], [labels[i] for i in idx], run.info)
    if len(x) < min(n, calibration.MIN_SAMPLES):
        raise ConvertError(f"too few calibration images: {len(x)} usable of {len(idx)} drawn from {source} "
                           f"({skipped} unreadable), int8 needs at least {calibration.MIN_SAMPLES}")
    missing = [c for i, c in enumerate(run.labels) if not np.any(y == i)]
    if missing:
        raise ConvertError(f"calibration images from {source} include no {', '.join(missing)} image")
    return x, {"source": source, "requested": n, "used": int(len(x)), "skipped": int(skipped), "seed": seed,
               "per_class": {c: int(np.sum(y == i)) for i, c in enumerate(run.labels)}}


def convert_run(run_dir: str | Path, quantize: list[str] | tuple[str, ...] = ("int8",), *,
                out_dir: str | Path | None = None, data: str | Path | None = None,
                calibration_samples: int = calibration.DEFAULT_SAMPLES, max_accuracy_drop: float = DEFAULT_MAX_DROP,
                target: str = "litert", seed: int = 0, write: bool = True) -> dict[str, Any]:
    """Convert ``run_dir``'s model.keras to float32 plus each kind in ``quantize`` and return the report.

    Raises ConvertError (bad input, nothing written) or TargetError (a file would not run on ``target``,
    nothing written). A model that loses more than ``max_accuracy_drop`` points of balanced accuracy is
    written as ``model_<kind>.FAILED_CHECK.tflite`` and the report's ``passed`` is False.
    ``write=False`` evaluates only (used by the calibration sweep).
    """
    kinds = _kinds(quantize)
    if target not in compat.TARGETS:
        raise ConvertError(f"unknown --target {target!r}; choose from {', '.join(compat.TARGETS)}")
    if calibration_samples < calibration.MIN_SAMPLES:
        raise ConvertError(f"--calibration-samples must be at least {calibration.MIN_SAMPLES}")
    if not max_accuracy_drop >= 0:
        raise ConvertError("--max-accuracy-drop must be zero or more points")
    run = inputs.load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.run_dir
    if out.exists() and not out.is_dir():
        raise ConvertError(f"--out {out} exists and is not a folder")
    if data is not None:
        inputs.folder_files(data, run.labels)  # class set checked before any slow work
    test_paths, test_labels = inputs.split_files(run, "test")

    try:
        import_tensorflow()
    except ImportError as exc:
        raise ConvertError(f"TensorFlow is needed to convert ({exc}); install happysad-edge[train]") from exc
    x_test, y_test, test_skipped = inputs.load_pixels(test_paths, test_labels, run.info)
    if len(x_test) == 0:
        raise ConvertError(f"none of the {len(test_paths)} test images of {run.run_dir} could be read")
    cal_x, cal_info = (_calibration_set(run, data, calibration_samples, seed) if "int8" in kinds else (None, None))
    model = inputs.load_keras_model(run.model_path)
    inputs.check_model_matches(model, run.info)

    from .export import export_fixed_batch
    from .metadata import embed_model_info, versions
    from .quantize import ConversionFailed, convert

    labels, threshold = run.labels, run.info.threshold
    vers = versions()
    keras_scores = evaluate.keras_predict(model, x_test)
    keras_metrics = evaluate.classification_metrics(y_test, keras_scores, labels, threshold)
    report: dict[str, Any] = {
        "run_dir": str(run.run_dir.resolve()), "out_dir": str(out.resolve()),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "labels": labels, "output": run.info.output, "threshold": threshold, "target": target,
        "max_accuracy_drop_points": max_accuracy_drop, "versions": vers,
        "test": {"n": int(len(x_test)), "skipped": int(test_skipped), "source": "the run's test split"},
        "calibration": cal_info,
        "models": {"keras": {"file": run.model_path.name, "size_bytes": run.model_path.stat().st_size,
                             "params": int(model.count_params()), "metrics": keras_metrics,
                             "near_constant": evaluate.near_constant(keras_scores)}},
    }
    blobs: dict[str, bytes] = {}
    infos: dict[str, dict[str, Any]] = {}
    context = {"run_info": run.info.to_dict(), "data_fingerprint": _data_fingerprint(run),
               "training_metrics": _training_metrics(run), "target": target, "versions": vers,
               "max_accuracy_drop": max_accuracy_drop}
    with tempfile.TemporaryDirectory(prefix="hs-convert-") as tmp:
        saved = export_fixed_batch(model, Path(tmp) / "saved_model", run.info.preprocessing)
        for kind in kinds:
            rep = calibration.representative(cal_x) if kind == "int8" else None
            try:
                raw = convert(saved, kind, rep, per_channel_dense=(target != "tflite-runtime"))
            except ConversionFailed as exc:
                raise ConvertError(str(exc)) from exc
            entry, infos[kind] = _evaluate_one(kind, raw, x_test, y_test, keras_scores, keras_metrics, labels,
                                               threshold, cal_info["used"] if kind == "int8" else None, context)
            blobs[kind] = embed_model_info(raw, infos[kind])
            entry["size_bytes"] = len(blobs[kind])
            report["models"][kind] = entry
    failed = [kind for kind in kinds if report["models"][kind]["check"] != "passed"]
    report["passed"] = not failed
    report["failed"] = failed
    f32, i8 = report["models"]["float32"], report["models"].get("int8")
    if i8:
        report["int8_size_ratio"] = round(i8["size_bytes"] / f32["size_bytes"], 4)
    if write:
        _write_all(out, kinds, blobs, infos, report)
    return report


def _evaluate_one(kind: str, raw: bytes, x_test: np.ndarray, y_test: np.ndarray, keras_scores: np.ndarray,
                  keras_metrics: dict[str, Any], labels: list[str], threshold: float,
                  calibration_used: int | None, ctx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check one converted file against the target, score it on the test split, describe it.

    Returns the report entry and the ModelInfo dict to embed (and to write beside it as JSON).
    """
    from edge_runtime.tflite_meta import parse

    from .metadata import describe

    target, max_drop = ctx["target"], ctx["max_accuracy_drop"]
    comp = compat.analyse(parse(raw))
    problem = compat.target_problem(comp, target)
    if problem:
        raise TargetError(f"{model_file_name(kind)} cannot target {target}: {problem}")
    runner = evaluate.TFLiteRunner(raw)
    scores = runner.predict(x_test)
    met = evaluate.classification_metrics(y_test, scores, labels, threshold)
    drop = 100.0 * (keras_metrics["balanced_accuracy"] - met["balanced_accuracy"])
    passed = drop <= max_drop + 1e-9
    file = model_file_name(kind) if passed else failed_file_name(kind)
    entry = {
        "file": file, "model_info": Path(file).with_suffix(".json").name,
        "kind": kind, "description": DESCRIPTIONS[kind], "metrics": met,
        **evaluate.compare(keras_scores, scores, len(labels), threshold),
        "balanced_accuracy_drop_points": round(drop, 4), "near_constant": evaluate.near_constant(scores),
        "check": "passed" if passed else "FAILED",
        "check_reason": None if passed else (f"balanced accuracy {met['balanced_accuracy']:.4f} is {drop:.2f} "
                                             f"points below Keras {keras_metrics['balanced_accuracy']:.4f} "
                                             f"(allowed {max_drop})"),
        "min_runtime_version": comp.min_runtime_version, "compatibility": comp.to_dict(),
        "quantization": {"kind": kind, **runner.io_quantization()},
    }
    parity = {"test_images": int(len(x_test)), "balanced_accuracy": met["balanced_accuracy"],
              "keras_balanced_accuracy": keras_metrics["balanced_accuracy"], "agreement": entry["agreement"],
              "max_abs_prob_diff": entry["max_abs_prob_diff"], "passed": passed, "max_accuracy_drop_points": max_drop}
    info = describe(ctx["run_info"], kind=kind, quantization=entry["quantization"], compat=entry["compatibility"],
                    calibration_samples=calibration_used, data_fingerprint=ctx["data_fingerprint"],
                    training_metrics=ctx["training_metrics"], target=target, parity=parity,
                    versions_=ctx["versions"])
    return entry, info


def _write_all(out: Path, kinds: list[str], blobs: dict[str, bytes], infos: dict[str, dict],
               report: dict[str, Any]) -> None:
    from edge_runtime.atomic import write_bytes, write_json

    from . import report as report_mod

    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        entry = report["models"][kind]
        good, bad = out / model_file_name(kind), out / failed_file_name(kind)
        keep, drop = (good, bad) if entry["check"] == "passed" else (bad, good)
        for stale in (drop, drop.with_suffix(".json")):  # a file from an earlier run must not contradict this one
            stale.unlink(missing_ok=True)
        write_bytes(keep, blobs[kind])
        write_json(keep.with_suffix(".json"), infos[kind])
    report_mod.write(report, out)


def calibration_sweep(run_dir: str | Path, sizes: list[int], **kwargs: Any) -> list[dict[str, Any]]:
    """int8 quality for each calibration size (nothing written): one row per size, for choosing the default."""
    rows = []
    for n in sizes:
        rep = convert_run(run_dir, ["int8"], calibration_samples=n, write=False, **kwargs)
        m = rep["models"]["int8"]
        rows.append({"calibration_samples": n, "used": rep["calibration"]["used"],
                     "balanced_accuracy": m["metrics"]["balanced_accuracy"],
                     "keras_balanced_accuracy": rep["models"]["keras"]["metrics"]["balanced_accuracy"],
                     "drop_points": m["balanced_accuracy_drop_points"], "roc_auc": m["metrics"]["roc_auc"],
                     "agreement": m["agreement"], "max_abs_prob_diff": m["max_abs_prob_diff"],
                     "input_scale": m["quantization"]["input"]["scale"]})
    return rows
