"""Checkpoint each epoch atomically, keep the best weights, stop early, and resume after interruption."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import keras

from edge_runtime.errors import first_line
from edge_runtime.io.atomic import atomic_path, write_json

STATE = "state.json"
LAST = "last.keras"
BEST = "best.weights.h5"


class CheckpointError(ValueError):
    """A checkpoint that exists but cannot be read back (cut short by a crash or a full disk)."""


def corrupt(path: Path, exc: BaseException | None = None) -> CheckpointError:
    why = f" ({first_line(exc)})" if exc is not None else ""
    return CheckpointError(f"{path} is corrupt or truncated{why}; start again with --overwrite")


def load_checkpoint_model(path: Path) -> keras.Model:
    """The model and optimizer of ``last.keras``; a damaged file is named as such, not 'File not found'
    (Keras says that for any file that is not a complete zip)."""
    if not zipfile.is_zipfile(path):
        raise corrupt(path)
    try:
        return keras.models.load_model(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise corrupt(path, exc) from exc


class RunState(keras.callbacks.Callback):
    """One callback owns the epoch state, so a resumed run continues exactly where it stopped.

    Each epoch: ``last.keras`` (model and optimizer), ``best.weights.h5`` when validation loss improves,
    and ``state.json`` (epoch, best loss, patience counter, history), each written then renamed. Early
    stopping on validation loss restores the best weights at the end.
    """

    def __init__(self, ckpt_dir: Path, patience: int, write: bool = True, monitor: str = "val_loss") -> None:
        super().__init__()
        self.dir = Path(ckpt_dir)
        self.patience = patience
        self.write = write
        self.monitor = monitor
        self.state: dict[str, Any] = {"epoch": -1, "best": math.inf, "best_epoch": -1, "wait": 0, "history": {}}
        self.stopped_early = False

    @classmethod
    def load_state(cls, ckpt_dir: Path) -> dict | None:
        path = Path(ckpt_dir) / STATE
        if not path.is_file() or not (Path(ckpt_dir) / LAST).is_file():
            return None
        try:
            state = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise corrupt(path, exc) from exc
        if not isinstance(state, dict) or not {"epoch", "best", "best_epoch", "wait", "history"} <= state.keys():
            raise corrupt(path)
        return state

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        for k, v in logs.items():
            self.state["history"].setdefault(k, []).append(float(v))
        current = float(logs.get(self.monitor, logs.get("loss", math.inf)))
        improved = current < self.state["best"]
        if improved:
            self.state.update(best=current, best_epoch=epoch, wait=0)
        else:
            self.state["wait"] += 1
        self.state["epoch"] = epoch
        if self.write:
            self.dir.mkdir(parents=True, exist_ok=True)
            if improved:
                with atomic_path(self.dir / BEST) as tmp:
                    self.model.save_weights(tmp)
            with atomic_path(self.dir / LAST) as tmp:
                self.model.save(tmp)
            write_json(self.dir / STATE, self.state)
        if self.patience > 0 and self.state["wait"] >= self.patience:
            self.stopped_early = True
            self.model.stop_training = True

    def restore_best(self) -> int:
        """Load the best epoch's weights; returns that epoch (0-based), or -1 if none was saved."""
        best = self.dir / BEST
        if self.state["best_epoch"] >= 0 and best.is_file() and self.state["best_epoch"] != self.state["epoch"]:
            try:
                self.model.load_weights(best)
            except (OSError, ValueError, KeyError) as exc:
                raise corrupt(best, exc) from exc
        return int(self.state["best_epoch"])
