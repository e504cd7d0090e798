"""Train a classifier on a folder of class subfolders and write a complete, self-describing run folder."""

from __future__ import annotations

import logging
import math
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from edge_runtime import __version__ as hs_version
from edge_runtime.io.atomic import atomic_path, write_json
from edge_runtime.model.spec import ModelInfo, PreprocessSpec

from . import rundir
from .callbacks import LAST, RunState, load_checkpoint_model
from .config import TrainConfig, make_spec
from .data import DataError, Sample, fingerprint, remove_overlap, scan, stratified_split
from .dist_loop import fit_distributed
from .distribute import make_strategy, writes_run_folder
from .metrics import classification_metrics, mirror_mean, to_probabilities
from .model import build_model
from .pipeline import SkippedFiles, make_dataset
from .plots import plot_confusion, plot_curves

log = logging.getLogger("hs-train")
warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")


def prepare_splits(cfg: TrainConfig) -> tuple[dict[str, list[Sample]], list[str], dict[str, Any]]:
    """Scan, check and split the data; given val/test folders replace the split they name."""
    samples, report = scan(cfg.data, cfg.classes, max_pixels=cfg.max_pixels)
    classes = report.classes
    reports: dict[str, Any] = {"train_data": report.to_dict()}
    fractions = {"val": 0.0 if cfg.val_data else cfg.val_fraction, "test": 0.0 if cfg.test_data else cfg.test_fraction}
    splits = stratified_split(samples, {k: v for k, v in fractions.items() if v > 0}, cfg.seed)
    for name, folder in (("val", cfg.val_data), ("test", cfg.test_data)):
        if folder:
            held, rep = scan(folder, classes, max_pixels=cfg.max_pixels)
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
    reports["split_sizes"] = {
        k: {c: sum(1 for s in v if s.label == i) for i, c in enumerate(classes)} for k, v in splits.items()
    }
    return splits, classes, reports


def class_weights(train: list[Sample], num_classes: int, mode: str) -> dict[int, float] | None:
    """Balanced weights n / (k * count_c), so a minority class counts as much as a majority one."""
    counts = np.bincount([s.label for s in train], minlength=num_classes)
    if mode == "none" or counts.min() == counts.max():
        return None
    return {c: float(len(train) / (num_classes * counts[c])) for c in range(num_classes)}


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr: Any = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            cfg.learning_rate, decay_steps=max(1, cfg.epochs * steps_per_epoch), alpha=0.05
        )
    elif cfg.lr_schedule != "constant":
        raise ValueError("--lr-schedule must be constant or cosine")
    ema = ema_options(cfg.ema_momentum, steps_per_epoch)
    if cfg.weight_decay > 0:
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay, **ema)
    return keras.optimizers.Adam(lr, **ema)


def ema_options(momentum: float, steps_per_epoch: int) -> dict[str, Any]:
    """Optimizer arguments for an exponential moving average of the weights (none when ``momentum`` is 0).

    The average overwrites the model's weights at the last step of every epoch, so what is validated, kept
    as the best epoch, saved and exported is the average (Keras' ``finalize_variable_values`` does the same
    once more when fit ends); training then goes on from the average.
    """
    if momentum <= 0:
        return {}
    if momentum >= 1:
        raise ValueError(f"--ema-momentum {momentum}: must be below 1 (0: off)")
    return {"use_ema": True, "ema_momentum": momentum, "ema_overwrite_frequency": max(1, steps_per_epoch)}


@keras.saving.register_keras_serializable(package="happysad")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy of integer labels with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, name: str = "sparse_smoothed_ce", **kw: Any):
        super().__init__(name=name, **kw)
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def call(self, y_true: Any, y_pred: Any) -> Any:
        onehot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return keras.losses.categorical_crossentropy(onehot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes, "label_smoothing": self.label_smoothing}


def make_loss(num_classes: int, label_smoothing: float = 0.0) -> Any:
    """The training loss: targets pulled ``label_smoothing`` towards uniform, so the net stops pushing
    probabilities to 0/1 on FER's noisy labels (Keras' own names when off, so older runs load unchanged)."""
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"--label-smoothing {label_smoothing}: must be in [0, 1)")
    if num_classes == 2:
        if label_smoothing == 0:
            return "binary_crossentropy"
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    if label_smoothing == 0:
        return "sparse_categorical_crossentropy"
    return SparseSmoothedCrossentropy(num_classes, label_smoothing)


def _predict(
    model: keras.Model,
    samples: list[Sample],
    spec: PreprocessSpec,
    batch: int,
    k: int,
    skipped: SkippedFiles,
    flip_average: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities of the files that could still be read (labels from the data set itself, so
    a file skipped on the way cannot shift them); with ``flip_average`` the mean over each image and its
    mirror, the device's rule for such a model."""
    ds = make_dataset([s.path for s in samples], [s.label for s in samples], spec, batch, skipped=skipped)
    ys, outs = [], []
    for x, y in ds:
        outs.append(mirror_mean(lambda b: model(b, training=False), x, flip_average))  # works under any strategy
        ys.append(y.numpy())
    if not outs:
        return np.zeros(0, np.int64), np.zeros((0, k))
    return np.concatenate(ys), to_probabilities(np.concatenate(outs), k)


def _split_json(splits: dict[str, list[Sample]], classes: list[str]) -> dict[str, Any]:
    return {
        "classes": classes,
        "splits": {k: [{"path": s.path, "label": s.label, "sha1": s.sha1} for s in v] for k, v in splits.items()},
    }


def _build(
    cfg: TrainConfig, strategy: tf.distribute.Strategy, k: int, steps: int, resume_from: Path | None
) -> keras.Model:
    """The compiled model, fresh or (``--resume``) with the optimizer state of the last checkpoint."""
    with strategy.scope():
        if resume_from is not None:
            return load_checkpoint_model(resume_from)
        model = build_model(cfg.image_size, cfg.channels, k, cfg.arch, cfg.dropout, cfg.width)
        loss = make_loss(k, cfg.label_smoothing)
        # Two classes: accuracy at the configured threshold, the device's decision rule, not Keras' 0.5.
        accuracy = keras.metrics.BinaryAccuracy(name="accuracy", threshold=cfg.threshold) if k == 2 else "accuracy"
        model.compile(optimizer=make_optimizer(cfg, steps), loss=loss, metrics=[accuracy])
        return model


def _write_outputs(
    cfg: TrainConfig,
    model: keras.Model,
    spec: PreprocessSpec,
    classes: list[str],
    train_s: list[Sample],
    history: dict,
    metrics: dict[str, Any],
) -> None:
    """Model, SavedModel, model description, history, metrics and plots: each written then renamed."""
    run, k = cfg.run_dir, len(classes)
    info = ModelInfo(
        labels=tuple(classes),
        preprocessing=spec,
        threshold=cfg.threshold,
        uncertain_band=cfg.uncertain_band if k == 2 else 0.0,
        output="sigmoid" if k == 2 else "softmax",
        flip_average=cfg.flip_average,
        extra={
            "arch": cfg.arch,
            "data_fingerprint": fingerprint(train_s),
            "training_metrics": {
                n: {m: s[m] for m in ("accuracy", "balanced_accuracy", "roc_auc")} for n, s in metrics["splits"].items()
            },
            "versions": {
                "happysad_edge": hs_version,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "python": platform.python_version(),
            },
        },
    )
    with atomic_path(run / rundir.MODEL_KERAS) as tmp:
        model.save(tmp)
    with atomic_path(run / rundir.SAVED_MODEL, folder_marker="saved_model.pb") as tmp:
        model.export(str(tmp), verbose=False)
    write_json(run / rundir.MODEL_INFO, info.to_dict())
    write_json(run / rundir.HISTORY, history)
    write_json(run / rundir.METRICS, metrics)
    plot_curves(history, run / rundir.CURVES_PNG, title=f"{cfg.arch} on {Path(cfg.data).name}")
    report_split = "test" if "test" in metrics["splits"] else "val"
    plot_confusion(
        metrics["splits"][report_split]["confusion_matrix"],
        classes,
        run / rundir.CONFUSION_PNG,
        title=f"{report_split} split",
    )


def _resume_state(cfg: TrainConfig) -> dict | None:
    """The checkpoint state to continue from (``--resume``), or None for a fresh run."""
    ckpt_dir = cfg.run_dir / rundir.CHECKPOINTS
    if not cfg.resume:
        if (cfg.run_dir / rundir.MODEL_KERAS).exists():
            log.warning(
                "%s already holds a finished run; its files will be replaced when this one finishes", cfg.run_dir
            )
        return None
    state = RunState.load_state(ckpt_dir)
    if state is None:
        raise DataError(f"--resume: no checkpoint in {ckpt_dir}")
    return state


def _write_inputs(
    cfg: TrainConfig, splits: dict[str, list[Sample]], classes: list[str], data_reports: dict[str, Any]
) -> None:
    """What the run was made from, written before training so an interrupted run still says so."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    write_json(cfg.run_dir / rundir.SPLITS, _split_json(splits, classes))
    write_json(cfg.run_dir / rundir.DATA_REPORT, data_reports)
    write_json(cfg.run_dir / rundir.CONFIG, cfg.to_dict())


def _log_data(data_reports: dict[str, Any]) -> None:
    for name, rep in data_reports.items():
        if isinstance(rep, dict) and "skipped" in rep:
            log.info(
                "%s: usable %s, skipped %s, duplicates dropped %s",
                name,
                rep["usable"],
                rep["skipped"] or "none",
                rep["duplicates_dropped"],
            )


def _fit(
    cfg: TrainConfig,
    strategy: tf.distribute.Strategy,
    splits: dict[str, list[Sample]],
    k: int,
    spec: PreprocessSpec,
    state: dict | None,
    chief: bool,
    skipped: SkippedFiles,
) -> tuple[keras.Model, RunState, float]:
    """Build (or reload) the model and train it; returns the model, the epoch state and the seconds spent."""
    train_s, val_s = splits["train"], splits["val"]
    train_ds = make_dataset(
        [s.path for s in train_s],
        [s.label for s in train_s],
        spec,
        cfg.batch_size,
        shuffle=True,
        augment=cfg.augment,
        seed=cfg.seed,
        cache=cfg.cache,
        augment_strength=cfg.augment_strength,
        random_erasing=cfg.random_erasing,
        skipped=skipped,
    )
    val_ds = make_dataset(
        [s.path for s in val_s], [s.label for s in val_s], spec, cfg.batch_size, cache=cfg.cache, skipped=skipped
    )
    ckpt_dir = cfg.run_dir / rundir.CHECKPOINTS
    model = _build(
        cfg, strategy, k, math.ceil(len(train_s) / cfg.batch_size), ckpt_dir / LAST if state is not None else None
    )
    callback = RunState(ckpt_dir, cfg.patience, write=chief)
    initial_epoch = 0
    if state is not None:
        callback.state = state
        initial_epoch = state["epoch"] + 1
        log.info(
            "resuming after epoch %d (best val_loss %.4f at epoch %d)",
            initial_epoch,
            state["best"],
            state["best_epoch"] + 1,
        )
    callbacks = [callback, keras.callbacks.TensorBoard(log_dir=str(cfg.run_dir / rundir.LOGS))] if chief else [callback]
    weights = class_weights(train_s, k, cfg.class_weight)
    t0 = time.perf_counter()
    if initial_epoch < cfg.epochs and not (state and state["wait"] >= cfg.patience > 0):
        if cfg.distribute == "multiworker":
            fit_distributed(
                model,
                strategy,
                train_ds,
                val_ds,
                cfg.epochs,
                initial_epoch,
                cfg.batch_size,
                k,
                weights,
                callback,
                cfg.threshold,
                cfg.verbose,
            )
        else:
            with warnings.catch_warnings():
                # Files unreadable since the scan are filtered out, so a data set's length is unknown until its
                # first pass ends: Keras then warns the input "ran out of data", the expected end of the epoch.
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                model.fit(
                    train_ds,
                    validation_data=val_ds,
                    epochs=cfg.epochs,
                    initial_epoch=initial_epoch,
                    class_weight=weights,
                    callbacks=callbacks,
                    verbose=cfg.verbose,
                )
    return model, callback, time.perf_counter() - t0


def _skipped_report(skipped: SkippedFiles) -> dict[str, Any]:
    return {
        "count": len(skipped),
        "by_reason": skipped.by_reason(),
        "files": [{"path": p, "reason": r} for p, r in sorted(skipped.files.items())[:1000]],
    }


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run the whole job; returns metrics.json's content. Raises DataError/ValueError for bad input."""
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(cfg.distribute)
    chief = writes_run_folder(cfg.distribute)  # every worker trains; only the chief writes files
    state = _resume_state(cfg)
    splits, classes, data_reports = prepare_splits(cfg)
    k, spec = len(classes), make_spec(cfg)
    if chief:
        _write_inputs(cfg, splits, classes, data_reports)
    _log_data(data_reports)
    skipped = SkippedFiles()
    model, callback, seconds = _fit(cfg, strategy, splits, k, spec, state, chief, skipped)
    best_epoch = callback.restore_best()
    history = callback.state["history"]
    epochs_now = max(1, callback.state["epoch"] + 1 - (state["epoch"] + 1 if state else 0))
    metrics: dict[str, Any] = {
        "classes": classes,
        "best_epoch": best_epoch + 1,
        "epochs_run": len(history.get("loss", [])),
        "stopped_early": callback.stopped_early,
        "train_seconds": round(seconds, 1),
        "seconds_per_epoch": round(seconds / epochs_now, 1),
        "replicas": int(strategy.num_replicas_in_sync),
        "splits": {},
    }
    for name, samples in splits.items():
        y, p = _predict(model, samples, spec, max(cfg.batch_size, 64), k, skipped, cfg.flip_average)
        if len(y):
            metrics["splits"][name] = classification_metrics(y, p, classes, cfg.threshold)
    metrics["skipped_during_training"] = len(skipped)
    if skipped:
        log.warning(
            "%d file(s) became unreadable after the data check and were skipped: %s",
            len(skipped),
            ", ".join(f"{r} {n}" for r, n in sorted(skipped.by_reason().items())),
        )
    if chief:
        write_json(
            cfg.run_dir / rundir.DATA_REPORT, {**data_reports, "skipped_during_training": _skipped_report(skipped)}
        )
        _write_outputs(cfg, model, spec, classes, splits["train"], history, metrics)
    return metrics
