"""``convert_run``: a run folder in, self-describing .tflite files and a parity report out.

Everything is read, converted and evaluated in memory first; files are written (each atomically) only at
the end, so a bad input or a refused target leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from train.tfenv import INSTALL_HINT

from . import calibration, compat, evaluate, inputs, outputs
from .errors import ConvertError, TargetError
from .native import import_tensorflow
from .outputs import FAILED_TAG, failed_file_name
from .quantize import DESCRIPTIONS, KINDS, model_file_name

log = logging.getLogger("hs-convert")

DEFAULT_MAX_DROP = 1.0  # points of balanced accuracy a converted model may lose against Keras
TEMP_PREFIX = "hs-convert-"  # the SavedModel and scoring files live here; removed on any exit

__all__ = ["FAILED_TAG", "calibration_sweep", "convert_run", "failed_file_name"]


@dataclass(frozen=True)
class Reference:
    """The test split and what Keras says about it: what every converted file is held to."""

    x: np.ndarray  # uint8 [N,H,W,C], the training preprocessing
    y: np.ndarray
    probs: np.ndarray  # Keras probabilities [N, labels]
    metrics: dict[str, Any]
    labels: list[str]
    threshold: float


def output_kinds(quantize: list[str] | tuple[str, ...] | None) -> list[str]:
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
        raise ConvertError(
            f"too few calibration images: {len(paths)} in {source}, int8 needs at least {calibration.MIN_SAMPLES}"
        )
    idx = calibration.stratified_indices(labels, n, seed)
    x, y, skipped = inputs.load_pixels([paths[i] for i in idx], [labels[i] for i in idx], run.info)
    if len(x) < min(n, calibration.MIN_SAMPLES):
        raise ConvertError(
            f"too few calibration images: {len(x)} usable of {len(idx)} drawn from {source} "
            f"({skipped} unreadable), int8 needs at least {calibration.MIN_SAMPLES}"
        )
    missing = [c for i, c in enumerate(run.labels) if not np.any(y == i)]
    if missing:
        raise ConvertError(f"calibration images from {source} include no {', '.join(missing)} image")
    return x, {
        "source": source,
        "requested": n,
        "used": len(x),
        "skipped": int(skipped),
        "seed": seed,
        "per_class": {c: int(np.sum(y == i)) for i, c in enumerate(run.labels)},
    }


def _check_options(
    quantize: list[str] | tuple[str, ...] | None, target: str, calibration_samples: int, max_accuracy_drop: float
) -> list[str]:
    """Option errors first: they need no file and no TensorFlow."""
    kinds = output_kinds(quantize)
    if target not in compat.TARGETS:
        raise ConvertError(f"unknown --target {target!r}; choose from {', '.join(compat.TARGETS)}")
    if calibration_samples < calibration.MIN_SAMPLES:
        raise ConvertError(f"--calibration-samples must be at least {calibration.MIN_SAMPLES}")
    if not max_accuracy_drop >= 0:
        raise ConvertError("--max-accuracy-drop must be zero or more points")
    return kinds


def _tensorflow() -> None:
    try:
        import_tensorflow()
    except ImportError as exc:
        raise ConvertError(f"TensorFlow is needed to convert ({exc}); {INSTALL_HINT}") from exc


def _reference(run: inputs.RunInputs, model: Any, x: np.ndarray, y: np.ndarray) -> Reference:
    probs = evaluate.keras_probabilities(model, x, len(run.labels), run.info.flip_average)
    metrics = evaluate.classification_metrics(y, probs, run.labels, run.info.threshold)
    return Reference(x=x, y=y, probs=probs, metrics=metrics, labels=run.labels, threshold=run.info.threshold)


def convert_run(
    run_dir: str | Path,
    quantize: list[str] | tuple[str, ...] = ("int8",),
    *,
    out_dir: str | Path | None = None,
    data: str | Path | None = None,
    calibration_samples: int = calibration.DEFAULT_SAMPLES,
    max_accuracy_drop: float = DEFAULT_MAX_DROP,
    target: str = "litert",
    seed: int = 0,
    write: bool = True,
    warn: Callable[[str], None] = log.warning,
) -> dict[str, Any]:
    """Convert ``run_dir``'s model.keras to float32 plus each kind in ``quantize`` and return the report.

    Raises ConvertError (bad input or an unwritable output folder, found before any slow work; nothing
    written), TargetError (a file would not run on ``target``; nothing written) or WriteError (the final
    writes failed). A model that loses more than ``max_accuracy_drop`` points of balanced accuracy is
    written as ``model_<kind>.FAILED_CHECK.tflite`` and the report's ``passed`` is False.
    ``write=False`` evaluates only (used by the calibration sweep). ``warn`` gets problems that do not stop
    the conversion (they are also listed in the report's ``warnings``).
    """
    kinds = _check_options(quantize, target, calibration_samples, max_accuracy_drop)
    run = inputs.load_run(run_dir)
    for message in run.warnings:
        warn(message)
    out = Path(out_dir) if out_dir is not None else run.run_dir
    if write:
        outputs.check_writable(out)
    if data is not None:
        inputs.folder_files(data, run.labels)  # class set checked before any slow work
    test_paths, test_labels = inputs.split_files(run, "test")

    _tensorflow()
    x_test, y_test, test_skipped = inputs.load_pixels(test_paths, test_labels, run.info)
    if len(x_test) == 0:
        raise ConvertError(f"none of the {len(test_paths)} test images of {run.run_dir} could be read")
    cal_x, cal_info = _calibration_set(run, data, calibration_samples, seed) if "int8" in kinds else (None, None)
    model = inputs.load_keras_model(run.model_path)
    inputs.check_model_matches(model, run.info)

    from .metadata import versions

    ref = _reference(run, model, x_test, y_test)
    vers = versions()
    report: dict[str, Any] = {
        "run_dir": str(run.run_dir.resolve()),
        "out_dir": str(out.resolve()),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "labels": run.labels,
        "output": run.info.output,
        "threshold": ref.threshold,
        "flip_average": run.info.flip_average,
        "target": target,
        "max_accuracy_drop_points": max_accuracy_drop,
        "versions": vers,
        "warnings": list(run.warnings),
        "test": {"n": len(x_test), "skipped": int(test_skipped), "source": "the run's test split"},
        "calibration": cal_info,
        "models": {
            "keras": {
                "file": run.model_path.name,
                "size_bytes": run.model_path.stat().st_size,
                "params": int(model.count_params()),
                "metrics": ref.metrics,
                "near_constant": evaluate.near_constant(ref.probs),
            }
        },
    }
    context = {
        "run_info": run.info.to_dict(),
        "data_fingerprint": _data_fingerprint(run),
        "training_metrics": _training_metrics(run),
        "target": target,
        "versions": vers,
        "max_accuracy_drop": max_accuracy_drop,
    }
    blobs, infos = _convert_all(model, run, kinds, cal_x, cal_info, ref, context, report)
    _summarise(report, kinds)
    if write:
        outputs.write_all(out, kinds, blobs, infos, report)
    return report


def _convert_all(
    model: Any,
    run: inputs.RunInputs,
    kinds: list[str],
    cal_x: np.ndarray | None,
    cal_info: dict | None,
    ref: Reference,
    ctx: dict[str, Any],
    report: dict[str, Any],
) -> tuple[dict[str, bytes], dict[str, dict[str, Any]]]:
    """Each kind converted, scored by the device runtime and described, in a temporary folder."""
    from .export import export_fixed_batch
    from .metadata import embed_model_info
    from .quantize import ConversionFailed, convert

    blobs: dict[str, bytes] = {}
    infos: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
        saved = export_fixed_batch(model, Path(tmp) / "saved_model", run.info.preprocessing)
        for kind in kinds:
            rep = None
            calibration_used = None
            if kind == "int8":
                if cal_x is None or cal_info is None:
                    raise ConvertError("int8 conversion needs a calibration set, and none was loaded")
                rep = calibration.representative(cal_x)
                calibration_used = cal_info["used"]
            try:
                raw = convert(saved, kind, rep, per_channel_dense=(ctx["target"] != "tflite-runtime"))
            except ConversionFailed as exc:
                raise ConvertError(str(exc)) from exc
            _check_target(kind, raw, ctx["target"])
            probs, quantization = _score_on_device(kind, raw, Path(tmp), ctx["run_info"], ref)
            entry, infos[kind] = _describe_one(kind, raw, probs, quantization, ref, calibration_used, ctx)
            blobs[kind] = embed_model_info(raw, infos[kind])
            entry["size_bytes"] = len(blobs[kind])
            report["models"][kind] = entry
    return blobs, infos


def _summarise(report: dict[str, Any], kinds: list[str]) -> None:
    failed = [kind for kind in kinds if report["models"][kind]["check"] != "passed"]
    report["passed"] = not failed
    report["failed"] = failed
    f32, i8 = report["models"]["float32"], report["models"].get("int8")
    if i8:
        report["int8_size_ratio"] = round(i8["size_bytes"] / f32["size_bytes"], 4)


def _check_target(kind: str, raw: bytes, target: str) -> None:
    from edge_runtime.model.tflite_meta import parse

    problem = compat.target_problem(compat.analyse(parse(raw)), target)
    if problem:
        raise TargetError(f"{model_file_name(kind)} cannot target {target}: {problem}")


def _score_on_device(
    kind: str, raw: bytes, tmp: Path, run_info: dict[str, Any], ref: Reference
) -> tuple[np.ndarray, dict[str, Any]]:
    """Test-split probabilities and I/O quantization of one converted file, through hs-run's own Classifier.

    The file is written with the run's metadata (labels, output, preprocessing) so the device loads it as it
    will load the final file; the provenance added afterwards does not change what it computes.
    """
    from .metadata import embed_model_info

    path = tmp / model_file_name(kind)
    path.write_bytes(embed_model_info(raw, run_info))
    classifier = evaluate.device_classifier(path)
    return evaluate.classifier_probabilities(classifier, ref.x), evaluate.io_quantization(classifier)


def _describe_one(
    kind: str,
    raw: bytes,
    probs: np.ndarray,
    quantization: dict[str, Any],
    ref: Reference,
    calibration_used: int | None,
    ctx: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report entry of one converted file and the ModelInfo dict to embed (and write beside it as JSON)."""
    from edge_runtime.model.tflite_meta import parse

    from .metadata import describe

    max_drop = ctx["max_accuracy_drop"]
    comp = compat.analyse(parse(raw))
    met = evaluate.classification_metrics(ref.y, probs, ref.labels, ref.threshold)
    drop = 100.0 * (ref.metrics["balanced_accuracy"] - met["balanced_accuracy"])
    passed = drop <= max_drop + 1e-9
    file = model_file_name(kind) if passed else failed_file_name(kind)
    entry = {
        "file": file,
        "model_info": Path(file).with_suffix(".json").name,
        "kind": kind,
        "description": DESCRIPTIONS[kind],
        "metrics": met,
        **evaluate.compare(ref.probs, probs, len(ref.labels), ref.threshold),
        "balanced_accuracy_drop_points": round(drop, 4),
        "near_constant": evaluate.near_constant(probs),
        "check": "passed" if passed else "FAILED",
        "check_reason": None
        if passed
        else (
            f"balanced accuracy {met['balanced_accuracy']:.4f} is {drop:.2f} "
            f"points below Keras {ref.metrics['balanced_accuracy']:.4f} "
            f"(allowed {max_drop})"
        ),
        "min_runtime_version": comp.min_runtime_version,
        "compatibility": comp.to_dict(),
        "quantization": {"kind": kind, **quantization},
    }
    parity = {
        "test_images": len(ref.x),
        "balanced_accuracy": met["balanced_accuracy"],
        "keras_balanced_accuracy": ref.metrics["balanced_accuracy"],
        "agreement": entry["agreement"],
        "max_abs_prob_diff": entry["max_abs_prob_diff"],
        "passed": passed,
        "max_accuracy_drop_points": max_drop,
    }
    info = describe(
        ctx["run_info"],
        kind=kind,
        quantization=entry["quantization"],
        compat=entry["compatibility"],
        calibration_samples=calibration_used,
        data_fingerprint=ctx["data_fingerprint"],
        training_metrics=ctx["training_metrics"],
        target=ctx["target"],
        parity=parity,
        versions_=ctx["versions"],
    )
    return entry, info


def calibration_sweep(run_dir: str | Path, sizes: list[int], **kwargs: Any) -> list[dict[str, Any]]:
    """int8 quality for each calibration size (nothing written): one row per size, for choosing the default."""
    rows = []
    for n in sizes:
        rep = convert_run(run_dir, ["int8"], calibration_samples=n, write=False, **kwargs)
        m = rep["models"]["int8"]
        rows.append(
            {
                "calibration_samples": n,
                "used": rep["calibration"]["used"],
                "balanced_accuracy": m["metrics"]["balanced_accuracy"],
                "keras_balanced_accuracy": rep["models"]["keras"]["metrics"]["balanced_accuracy"],
                "drop_points": m["balanced_accuracy_drop_points"],
                "roc_auc": m["metrics"]["roc_auc"],
                "agreement": m["agreement"],
                "max_abs_prob_diff": m["max_abs_prob_diff"],
                "input_scale": m["quantization"]["input"]["scale"],
            }
        )
    return rows
