"""The run folder's file names and readers: what hs-train writes and hs-convert reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_runtime.model.spec import ModelInfo

MODEL_KERAS = "model.keras"
SAVED_MODEL = "saved_model"
MODEL_INFO = "model_info.json"
SPLITS = "splits.json"
METRICS = "metrics.json"
CONFIG = "config.json"
DATA_REPORT = "data_report.json"
HISTORY = "history.json"
CURVES_PNG = "curves.png"
CONFUSION_PNG = "confusion_matrix.png"
LOGS = "logs"
CHECKPOINTS = "checkpoints"


class RunDirError(ValueError):
    """A run folder that is missing, incomplete or corrupt; shown to the user as one line."""


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise RunDirError(f"{path.name} not found in run folder {path.parent}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON ({exc.__class__.__name__})") from exc


def load_model_info(run_dir: str | Path) -> ModelInfo:
    try:
        return ModelInfo.from_dict(_read_json(Path(run_dir) / MODEL_INFO))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RunDirError):
            raise
        raise RunDirError(f"{Path(run_dir) / MODEL_INFO} is not a valid model description: {exc}") from exc


def load_splits(run_dir: str | Path) -> dict[str, Any]:
    return _read_json(Path(run_dir) / SPLITS)


def load_split(run_dir: str | Path, name: str) -> tuple[list[str], list[int]]:
    """Paths and labels of one split; a missing or empty split is a RunDirError."""
    entries = load_splits(run_dir).get("splits", {}).get(name) or []
    if not entries:
        raise RunDirError(f"run folder {run_dir} has no '{name}' split")
    return [e["path"] for e in entries], [int(e["label"]) for e in entries]
