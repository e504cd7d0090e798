"""Train a classifier on a folder of class subfolders and write a complete, self-describing run folder."""

from __future__ import annotations

import logging
import warnings
import math
import platform
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from edge_runtime import __version__ as hs_version
from edge_runtime.atomic import atomic_path, write_json
from edge_runtime.spec import FaceCrop, ModelInfo, PreprocessSpec

from . import rundir
from .callbacks import RunState
from .config import TrainConfig
from .dist_loop import fit_distributed
from .data import DataError, Sample, fingerprint, remove_overlap, scan, stratified_split
from .distribute import is_chief, make_strategy
from .metrics import classification_metrics, to_probabilities
from .model import build_model
from .pipeline import make_dataset
from .plots import plot_confusion, plot_curves

log = logging.getLogger("hs-train")
warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")


def make_spec(cfg: TrainConfig) -> PreprocessSpec:
    return PreprocessSpec.for_size(cfg.image_size, cfg.channels, face_crop=FaceCrop(roi=cfg.roi, margin=cfg.margin))


def prepare_splits(cfg: TrainConfig) -> tuple[dict[str, list[Sample]], list[str], dict[str, Any]]:
    """Scan, check and split the data; given val/test folders replace the split they name."""
    samples, report = scan(cfg.data, cfg.classes)
    classes = report.classes
    reports = {"train_data": report.to_dict()}
    fractions = {"val": 0.0 if cfg.val_data else cfg.val_fraction,
                 "test": 0.0 if cfg.test_data else cfg.test_fraction}
    splits = stratified_split(samples, {k: v for k, v in fractions.items() if v > 0}, cfg.seed)
    for name, folder in (("val", cfg.val_data), ("test", cfg.test_data)):
        if folder:
            held, rep = scan(folder, classes)
            if rep.classes != classes:
                raise DataError(f"{folder} has classes {rep.classes}, training data has {classes}")
            splits[name] = held
            reports[f"{name}_data"] = rep.to_dict()
    splits["train"], removed = remove_overlap(splits["train"], [splits.get("val", []), splits.get("test", [])])
    reports["removed_from_train_as_copies_of_eval_images"] = removed
    if not splits["train"]:
        raise DataError("no training images left after splitting")
    if not splits.get("val"):
        raise DataError("no validation images: give --val-data or a --val-fraction with enough images per class")
    reports["split_sizes"] = {k: {c: sum(1 for s in v if s.label == i) for i, c in enumerate(classes)}
                              for k, v in splits.items()}
    return splits, classes, reports


def class_weights(train: list[Sample], num_classes: int, mode: str) -> dict[int, float] | None:
    """Balanced weights n / (k * count_c), so a minority class counts as much as a majority one."""
    counts = np.bincount([s.label for s in train], minlength=num_classes)
    if mode == "none" or counts.min() == counts.max():
        return None
    return {c: float(len(train) / (num_classes * counts[c])) for c in range(num_classes)}


def _optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr: Any = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=max(1, cfg.epochs * steps_per_epoch),
                                                   alpha=0.05)
    elif cfg.lr_schedule != "constant":
        raise ValueError("--lr-schedule must be constant or cosine")
    if cfg.weight_decay > 0:
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay)
    return keras.optimizers.Adam(lr)


def _predict(model: keras.Model, samples: list[Sample], spec: PreprocessSpec, batch: int, k: int) -> tuple[
        np.ndarray, np.ndarray]:
    ds = make_dataset([s.path for s in samples], [s.label for s in samples], spec, batch)
    out = np.concatenate([np.asarray(model(x, training=False)) for x, _ in ds])  # works under any strategy
    return np.asarray([s.label for s in samples]), to_probabilities(out, k)


def _split_json(splits: dict[str, list[Sample]], classes: list[str]) -> dict[str, Any]:
    return {"classes": classes, "splits": {k: [{"path": s.path, "label": s.label, "sha1": s.sha1} for s in v]
                                           for k, v in splits.items()}}


def _build(cfg: TrainConfig, strategy: tf.distribute.Strategy, k: int, steps: int, resume_from: Path | None
           ) -> keras.Model:
    """The compiled model, fresh or (``--resume``) with the optimizer state of the last checkpoint."""
    with strategy.scope():
        if resume_from is not None:
            return keras.models.load_model(resume_from)
        model = build_model(cfg.image_size, cfg.channels, k, cfg.arch, cfg.dropout)
        loss = "binary_crossentropy" if k == 2 else "sparse_categorical_crossentropy"
        model.compile(optimizer=_optimizer(cfg, steps), loss=loss, metrics=["accuracy"])
        return model


def _write_outputs(cfg: TrainConfig, model: keras.Model, spec: PreprocessSpec, classes: list[str],
                   train_s: list[Sample], history: dict, metrics: dict[str, Any]) -> None:
    """Model, SavedModel, model description, history, metrics and plots: each written then renamed."""
    run, k = cfg.run_dir, len(classes)
    info = ModelInfo(labels=tuple(classes), preprocessing=spec, threshold=cfg.threshold,
                     uncertain_band=cfg.uncertain_band if k == 2 else 0.0,
                     output="sigmoid" if k == 2 else "softmax",
                     extra={"arch": cfg.arch, "data_fingerprint": fingerprint(train_s),
                            "training_metrics": {n: {m: s[m] for m in ("accuracy", "balanced_accuracy", "roc_auc")}
                                                 for n, s in metrics["splits"].items()},
                            "versions": {"happysad_edge": hs_version, "tensorflow": tf.__version__,
                                         "keras": keras.__version__, "python": platform.python_version()}})
    with atomic_path(run / rundir.MODEL_KERAS) as tmp:
        model.save(tmp)
    with atomic_path(run / rundir.SAVED_MODEL) as tmp:
        model.export(str(tmp), verbose=False)
    write_json(run / rundir.MODEL_INFO, info.to_dict())
    write_json(run / rundir.HISTORY, history)
    write_json(run / rundir.METRICS, metrics)
    plot_curves(history, run / rundir.CURVES_PNG, title=f"{cfg.arch} on {Path(cfg.data).name}")
    report_split = "test" if "test" in metrics["splits"] else "val"
    plot_confusion(metrics["splits"][report_split]["confusion_matrix"], classes, run / rundir.CONFUSION_PNG,
                   title=f"{report_split} split")


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run the whole job; returns metrics.json's content. Raises DataError/ValueError for bad input."""
    run = cfg.run_dir
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(cfg.distribute)
    chief = is_chief()  # every worker trains; only the chief writes files
    ckpt_dir = run / rundir.CHECKPOINTS
    state = RunState.load_state(ckpt_dir) if cfg.resume else None
    if cfg.resume and state is None:
        raise DataError(f"--resume: no checkpoint in {ckpt_dir}")
    if not cfg.resume and (run / rundir.MODEL_KERAS).exists():
        log.warning("%s already holds a finished run; its files will be replaced when this one finishes", run)

    splits, classes, data_reports = prepare_splits(cfg)
    k = len(classes)
    spec = make_spec(cfg)
    run.mkdir(parents=True, exist_ok=True)
    if chief:
        write_json(run / rundir.SPLITS, _split_json(splits, classes))
        write_json(run / rundir.DATA_REPORT, data_reports)
        write_json(run / rundir.CONFIG, cfg.to_dict())
    for name, rep in data_reports.items():
        if isinstance(rep, dict) and "skipped" in rep:
            log.info("%s: usable %s, skipped %s, duplicates dropped %s", name, rep["usable"], rep["skipped"] or "none",
                     rep["duplicates_dropped"])

    train_s, val_s = splits["train"], splits["val"]
    train_ds = make_dataset([s.path for s in train_s], [s.label for s in train_s], spec, cfg.batch_size,
                            shuffle=True, augment=cfg.augment, seed=cfg.seed, cache=cfg.cache,
                            augment_strength=cfg.augment_strength)
    val_ds = make_dataset([s.path for s in val_s], [s.label for s in val_s], spec, cfg.batch_size, cache=cfg.cache)
    model = _build(cfg, strategy, k, math.ceil(len(train_s) / cfg.batch_size),
                   ckpt_dir / "last.keras" if state is not None else None)
    callback = RunState(ckpt_dir, cfg.patience, write=chief)
    initial_epoch = 0
    if state is not None:
        callback.state = state
        initial_epoch = state["epoch"] + 1
        log.info("resuming after epoch %d (best val_loss %.4f at epoch %d)", initial_epoch, state["best"],
                 state["best_epoch"] + 1)
    callbacks = [callback, keras.callbacks.TensorBoard(log_dir=str(run / rundir.LOGS))] if chief else [callback]
    weights = class_weights(train_s, k, cfg.class_weight)
    t0 = time.perf_counter()
    if initial_epoch < cfg.epochs and not (state and state["wait"] >= cfg.patience > 0):
        if cfg.distribute == "multiworker":
            fit_distributed(model, strategy, train_ds, val_ds, cfg.epochs, initial_epoch, cfg.batch_size, k,
                            weights, callback, cfg.verbose)
        else:
            model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, initial_epoch=initial_epoch,
                      class_weight=weights, callbacks=callbacks, verbose=cfg.verbose)
    seconds = time.perf_counter() - t0
    best_epoch = callback.restore_best()
    history = callback.state["history"]
    epochs_now = max(1, callback.state["epoch"] + 1 - initial_epoch)
    metrics: dict[str, Any] = {"classes": classes, "best_epoch": best_epoch + 1,
                               "epochs_run": len(history.get("loss", [])), "stopped_early": callback.stopped_early,
                               "train_seconds": round(seconds, 1), "seconds_per_epoch": round(seconds / epochs_now, 1),
                               "splits": {}}
    for name, samples in splits.items():
        if samples:
            y, p = _predict(model, samples, spec, max(cfg.batch_size, 64), k)
            metrics["splits"][name] = classification_metrics(y, p, classes, cfg.threshold)
    if chief:
        _write_outputs(cfg, model, spec, classes, train_s, history, metrics)
    return metrics
