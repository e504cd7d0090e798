"""Everything hs-convert reads, loaded and checked before anything is written.

Run-folder files go through ``train.rundir`` and image files through ``train.pipeline`` (the training
preprocessing, no augmentation), so conversion sees exactly the pixels training saw.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import first_line
from edge_runtime.model.spec import ModelInfo

from .errors import ConvertError


@dataclass
class RunInputs:
    run_dir: Path
    info: ModelInfo
    labels: list[str]
    splits: dict[str, Any]
    metrics: dict[str, Any] | None
    model_path: Path
    warnings: list[str] = field(default_factory=list)  # problems that do not stop a conversion


def load_run(run_dir: str | Path) -> RunInputs:
    """The run's ModelInfo, splits and metrics; a missing or corrupt run folder is a ConvertError."""
    from train import rundir

    run = Path(run_dir)
    if not run.is_dir():
        raise ConvertError(f"run folder not found: {run}")
    model_path = run / rundir.MODEL_KERAS
    if not model_path.is_file():
        raise ConvertError(f"{rundir.MODEL_KERAS} not found in run folder {run} (is it a finished hs-train run?)")
    check_keras_archive(model_path)
    try:
        info = rundir.load_model_info(run)
        splits = rundir.load_splits(run)
    except rundir.RunDirError as exc:
        raise ConvertError(first_line(exc)) from exc
    if not isinstance(splits, dict) or not isinstance(splits.get("splits", {}), dict):
        raise ConvertError(f"{run / rundir.SPLITS} is not a splits file")
    labels = list(info.labels)
    classes = splits.get("classes")
    if classes is not None and list(classes) != labels:
        raise ConvertError(f"{rundir.SPLITS} has classes {classes} but the model's labels are {labels}")
    if info.output not in ("sigmoid", "softmax"):
        raise ConvertError(f"model output {info.output!r} is neither sigmoid nor softmax")
    metrics, problem = read_metrics(run / rundir.METRICS)
    return RunInputs(
        run_dir=run,
        info=info,
        labels=labels,
        splits=splits,
        metrics=metrics,
        model_path=model_path,
        warnings=[problem] if problem else [],
    )


def read_metrics(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """metrics.json and, when it is damaged, why it was ignored.

    The metrics are provenance only (``training_metrics`` in each file), so a damaged file does not stop a
    conversion; but the files then lack them, and the user must be told which file to look at.
    """
    if not path.is_file():
        return None, None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"ignoring {path}: {first_line(exc)}; the converted files carry no training metrics from it"
    if not isinstance(metrics, dict):
        return None, f"ignoring {path}: not a JSON object; the converted files carry no training metrics from it"
    return metrics, None


def check_keras_archive(path: Path) -> None:
    """A .keras file is a zip archive; Keras reports a truncated one as "File not found", so check it first."""
    if not zipfile.is_zipfile(path):
        raise ConvertError(
            f"{path} is corrupt or truncated: not a complete .keras (zip) archive; re-copy it or re-run hs-train"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise ConvertError(f"{path} is corrupt or truncated: {first_line(exc)}") from exc
    if bad is not None:
        raise ConvertError(f"{path} is corrupt: archive member {bad} fails its checksum")


def split_files(inputs: RunInputs, name: str) -> tuple[list[str], list[int]]:
    from train import rundir

    try:
        paths, labels = rundir.load_split(inputs.run_dir, name)
    except rundir.RunDirError as exc:
        raise ConvertError(first_line(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ConvertError(f"{rundir.SPLITS} in {inputs.run_dir} is malformed ({first_line(exc)})") from exc
    bad = sorted({lab for lab in labels if not 0 <= lab < len(inputs.labels)})
    if bad:
        raise ConvertError(f"split '{name}' has labels {bad} outside the model's {len(inputs.labels)} classes")
    return paths, labels


def folder_files(folder: str | Path, labels: list[str]) -> tuple[list[str], list[int]]:
    """Image files of a folder of class subfolders whose class set must be the model's."""
    from edge_runtime.io.imageio import is_image_name

    root = Path(folder)
    if not root.is_dir():
        raise ConvertError(f"--data folder not found: {root}")
    present = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if present != sorted(labels):
        raise ConvertError(f"--data folder {root} has classes {present or 'none'}, the model has {labels}")
    paths, ys = [], []
    for label, name in enumerate(labels):
        for p in sorted((root / name).rglob("*")):
            if p.is_file() and not p.name.startswith(".") and is_image_name(p):
                paths.append(str(p))
                ys.append(label)
    return paths, ys


def load_pixels(paths: list[str], labels: list[int], info: ModelInfo) -> tuple[np.ndarray, np.ndarray, int]:
    """uint8 [N,H,W,C], labels [N], number of unusable files: through training's own loader."""
    from train.pipeline import load_arrays

    return load_arrays(paths, labels, info.preprocessing)


def load_keras_model(path: Path) -> Any:
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds for a damaged archive
        raise ConvertError(f"cannot load {path}: {exc.__class__.__name__}: {first_line(exc)[:200]}") from exc


def check_model_matches(model: Any, info: ModelInfo) -> None:
    """The Keras model's input and output shapes must be what model_info.json describes."""
    spec = info.preprocessing
    want_in = (spec.height, spec.width, spec.channels)
    shape_in = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if shape_in != want_in:
        raise ConvertError(f"model input {shape_in} does not match model_info.json's {want_in}")
    units = model.output_shape[-1] if not isinstance(model.output_shape, list) else None
    want_units = 1 if info.output == "sigmoid" else len(info.labels)
    if units != want_units:
        raise ConvertError(
            f"model has {units} output unit(s); a {info.output} model over {len(info.labels)} labels needs {want_units}"
        )
