"""Train on several labelled sources at once (``hs-train --source ...``), for faces in the wild.

Every source is loaded into memory through the device's preprocessing, split into train and a held-out
validation part of its own (or given one), sampled so each source and, within it, each class gets an equal
share of every epoch, and augmented as a real camera would degrade it (``camera_augment``). Targets are
probabilities (FER+'s crowd votes are soft), the loss is cross-entropy on them. After training, one
temperature fitted on the held-out parts is folded into the last layer, so the scores the device reads
are calibrated; every source's validation part is then scored by ``source_metrics``.

Only Keras' backend-neutral API is used here (no TensorFlow), so the same recipe trains under
``KERAS_BACKEND=jax`` or ``torch`` on an accelerator and under TensorFlow on a workstation CPU.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from edge_runtime import __version__ as hs_version
from edge_runtime.io.atomic import atomic_path, write_json
from edge_runtime.model.spec import ModelInfo, PreprocessSpec

from . import rundir
from .callbacks import load_checkpoint_model
from .camera_augment import camera_augment
from .config import TrainConfig, make_spec
from .metrics import mirror_mean
from .model import build_model
from .source_metrics import source_scores
from .sources import Source, holdout, load_source, sampling_weights

log = logging.getLogger("hs-train")
LAST_EPOCH = "last.keras"


@dataclass
class Split:
    """The sources' train and validation parts, source by source, in the order given."""

    train: list[Source]
    val: list[Source]
    shares: list[float]


@dataclass
class SourceArg:
    """One ``--source``: ``[NAME=]PATH[,val=VALPATH][,share=S][,size=N]``."""

    path: str
    val: str | None = None
    share: float = 1.0
    size: int | None = None  # read at this (native) size, resized to the input size when training


def parse_source(text: str) -> SourceArg:
    head, *opts = text.split(",")
    arg = SourceArg(head)
    for opt in opts:
        key, _, value = opt.partition("=")
        try:
            if key == "val":
                arg.val = value
            elif key == "share":
                arg.share = float(value)
                if not arg.share > 0:
                    raise ValueError
            elif key == "size":
                arg.size = int(value)
                if arg.size < 8:
                    raise ValueError
            else:
                raise KeyError(key)
        except (ValueError, KeyError):
            raise ValueError(f"--source {text}: bad option {opt!r} (val=PATH, share=S > 0, size=N >= 8)") from None
    return arg


def load_split(cfg: TrainConfig, classes: list[str]) -> Split:
    """Each ``--source`` loaded, with its given validation source or a seeded hold-out of it."""
    train, val, shares = [], [], []
    for text in cfg.sources or []:
        arg = parse_source(text)
        spec = PreprocessSpec.for_size(arg.size or cfg.image_size, cfg.channels)
        src = load_source(arg.path, classes, spec, cfg.fold)
        if arg.val:
            held = load_source(arg.val, classes, spec, cfg.fold)
            held.name = src.name
        else:
            src, held = holdout(src, cfg.val_fraction, cfg.seed)
        log.info("%s: train %d, val %d, skipped %s", src.name, len(src), len(held), src.skipped or "none")
        train.append(src)
        val.append(held)
        shares.append(arg.share)
    return Split(train, val, shares)


def cache_key(cfg: TrainConfig, classes: list[str]) -> dict[str, Any]:
    """What a source cache must have been made from to stand in for loading the sources."""
    return {
        "sources": cfg.sources,
        "classes": classes,
        "fold": cfg.fold,
        "channels": cfg.channels,
        "val_fraction": cfg.val_fraction,
        "seed": cfg.seed,
    }


def sources_split(cfg: TrainConfig, classes: list[str]) -> Split:
    """The loaded sources at the input size: from ``--source-cache`` when it holds them, else read (and
    then saved there, when named)."""
    from .split_cache import load_split_cache, resized, save_split

    key = cache_key(cfg, classes)
    cache = Path(cfg.source_cache) if cfg.source_cache else None
    if cache is not None and cache.is_file():
        split, made_from = load_split_cache(cache)
        if not cfg.sources:
            key["sources"] = made_from.get("sources")
        if made_from != key:
            raise ValueError(f"--source-cache {cache} was made from other sources or settings; name a new file")
        log.info("sources read from %s", cache)
    else:
        if not cfg.sources:
            raise ValueError("no --source given (and no --source-cache file to read them from)")
        split = load_split(cfg, classes)
        if cache is not None:
            save_split(split, cache, key)
    return resized(split, cfg.image_size)


class Batches(keras.utils.PyDataset):
    """An epoch of ``steps`` batches drawn by the sampling weights, each image camera-augmented.

    The draw for epoch e and the augmentation of batch i use seeds made of (seed, e, i), so a run repeats."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray,
        batch: int,
        steps: int,
        seed: int,
        augment: bool,
        strength: float,
        workers: int = 1,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=False)
        self.x, self.y, self.w = x, y, weights
        self.batch, self.steps, self.seed = batch, steps, seed
        self.augment, self.strength = augment, strength
        self.epoch = 0
        self._draw()

    def _draw(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.order = rng.choice(len(self.x), size=self.batch * self.steps, p=self.w)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._draw()

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.order[i * self.batch : (i + 1) * self.batch]
        xb = self.x[idx]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            xb = np.stack([camera_augment(px, rng, self.strength) for px in xb])
        return xb.astype(np.float32), self.y[idx]


def predict(model: keras.Model, x: np.ndarray, flip_average: bool, batch: int = 512) -> np.ndarray:
    """Probabilities, averaged with the mirrored image's when the device will do so."""
    out = mirror_mean(lambda b: model.predict(b, batch_size=batch, verbose=0), x.astype(np.float32), flip_average)
    return np.asarray(out, np.float64)


def fit_temperature(logp: np.ndarray, targets: np.ndarray) -> float:
    """The T minimising the cross-entropy of softmax(log p / T) against the targets (a grid, then refined)."""

    def nll(t: float) -> float:
        z = logp / t
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float(-(targets * (z - lse[:, None])).sum(axis=1).mean())

    grid = np.exp(np.linspace(np.log(0.4), np.log(4.0), 60))
    best = float(grid[int(np.argmin([nll(t) for t in grid]))])
    for step in (0.05, 0.01):
        cands = best * np.exp(np.arange(-5, 6) * step)
        best = float(cands[int(np.argmin([nll(t) for t in cands]))])
    return best


def fold_temperature(model: keras.Model, t: float) -> None:
    """Divide the softmax layer's logits by ``t`` by scaling its weights: same network, calibrated scores."""
    head = model.get_layer("prob")
    kernel, bias = head.get_weights()
    head.set_weights([kernel / t, bias / t])


def _optimizer(cfg: TrainConfig, steps: int) -> keras.optimizers.Optimizer:
    total = steps * cfg.epochs
    warm = min(total // 10, steps * 2)
    lr: Any = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            0.0, total - warm, alpha=0.01, warmup_target=cfg.learning_rate, warmup_steps=warm
        )
    ema = {"use_ema": True, "ema_momentum": cfg.ema_momentum} if cfg.ema_momentum > 0 else {}
    return keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg.weight_decay, **ema)


def evaluate(model: keras.Model, split: Split, classes: list[str], cfg: TrainConfig) -> dict[str, Any]:
    out = {}
    for src in split.val:
        probs = predict(model, src.pixels, cfg.flip_average)
        out[src.name] = source_scores(probs, src.hard(), classes, cfg.threshold, cfg.uncertain_band)
    return out


def _splits_json(split: Split, classes: list[str]) -> dict[str, Any]:
    """hs-convert's view of the data: paths, majority labels and content hashes per split."""
    import hashlib

    def rows(sources: list[Source]) -> list[dict[str, Any]]:
        out = []
        for src in sources:
            for f, y, px in zip(src.files, src.hard(), src.pixels, strict=True):
                out.append(
                    {"path": f, "label": int(y), "sha1": hashlib.sha1(px.tobytes()).hexdigest(), "source": src.name}
                )
        return out

    held = rows(split.val)  # fitted only one temperature, so it also stands as hs-convert's test split
    return {"classes": classes, "splits": {"train": rows(split.train), "val": held, "test": held}}


def _inputs(cfg: TrainConfig) -> tuple[list[str], PreprocessSpec, Split]:
    classes = list(cfg.classes or ["happy", "neutral", "sad"])
    if len(classes) < 3:
        raise ValueError("--source training is for three or more classes (use --data for two folders)")
    if cfg.fold and cfg.fold not in classes:
        raise ValueError(f"--fold {cfg.fold}: not one of the classes {', '.join(classes)}")
    return classes, make_spec(cfg), sources_split(cfg, classes)


def _held_out(split: Split) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([s.pixels for s in split.val]).astype(np.float32)
    return x, np.concatenate([s.targets for s in split.val]).astype(np.float32)


def train_sources(cfg: TrainConfig) -> dict[str, Any]:
    """Train by ``cfg`` on its sources and write the run folder."""
    if cfg.finish:
        return finish_cut_run(cfg)
    keras.utils.set_random_seed(cfg.seed)
    classes, spec, split = _inputs(cfg)
    run = cfg.run_dir
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / rundir.CONFIG, cfg.to_dict())
    write_json(run / rundir.SPLITS, _splits_json(split, classes))
    write_json(
        run / rundir.DATA_REPORT,
        {
            s.name: {"train": len(s), "val": len(v), "skipped": s.skipped, "share": sh}
            for s, v, sh in zip(split.train, split.val, split.shares, strict=True)
        },
    )

    x = np.concatenate([s.pixels for s in split.train])
    y = np.concatenate([s.targets for s in split.train]).astype(np.float32)
    weights = sampling_weights(split.train, split.shares)
    steps = max(1, math.ceil(len(x) / cfg.batch_size))
    data = Batches(
        x, y, weights, cfg.batch_size, steps, cfg.seed, cfg.augment, cfg.augment_strength, workers=cfg.workers
    )
    model, done = resumed(cfg, steps) if cfg.resume else (new_model(cfg, len(classes), steps), 0)
    t0 = time.monotonic()
    (run / rundir.CHECKPOINTS).mkdir(exist_ok=True)  # the last epoch's model, should the run be cut short
    last = keras.callbacks.ModelCheckpoint(str(run / rundir.CHECKPOINTS / LAST_EPOCH))
    hist = model.fit(
        data,
        validation_data=_held_out(split),
        epochs=cfg.epochs,
        initial_epoch=done,
        verbose=cfg.verbose,
        validation_batch_size=512,
        callbacks=[last],
    )
    # fit() itself ends by copying an EMA of the weights (--ema-momentum) into the model
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    return _finish(cfg, model, classes, spec, split, history, (time.monotonic() - t0) / (cfg.epochs - done))


def new_model(cfg: TrainConfig, n_classes: int, steps: int) -> keras.Model:
    """The compiled network to train: fresh, or with ``--init-from``'s weights (fine-tuning)."""
    model = build_model(cfg.image_size, cfg.channels, n_classes, cfg.arch, cfg.dropout, cfg.width)
    if cfg.init_from:
        start_from(model, Path(cfg.init_from))
    model.compile(
        optimizer=_optimizer(cfg, steps),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["categorical_accuracy"],
    )
    return model


def resumed(cfg: TrainConfig, steps: int) -> tuple[keras.Model, int]:
    """``--resume``: the last complete epoch's model with its optimizer (``checkpoints/last.keras``), and how
    many epochs it had run, read from the optimizer's step count: the learning-rate schedule goes on where it
    stopped, so a run cut short (a time limit, a lost machine) ends as the whole run would have."""
    ckpt = cfg.run_dir / rundir.CHECKPOINTS / LAST_EPOCH
    if not ckpt.is_file():
        raise ValueError(f"--resume: no checkpoint {ckpt}")
    model = load_checkpoint_model(ckpt)
    done, rest = divmod(int(model.optimizer.iterations), steps)
    if rest:
        raise ValueError(
            f"--resume: {ckpt} stopped after {int(model.optimizer.iterations)} steps, not a whole number of this "
            f"run's {steps}-step epochs: resume with the run's own sources and --batch-size"
        )
    if done >= cfg.epochs:
        raise ValueError(f"--resume: {ckpt} has run {done} of {cfg.epochs} epochs already; use --finish")
    log.info("resuming %s after epoch %d of %d (%s)", cfg.run_dir, done, cfg.epochs, ckpt)
    return model, done


def start_from(model: keras.Model, path: Path) -> None:
    """``--init-from``: copy a trained model's weights into ``model``, which must have the same layers and
    shapes (same --arch, --width, --image-size, --channels and number of classes)."""
    if not path.is_file():
        raise ValueError(f"--init-from: no model file {path}")
    source = keras.models.load_model(path, compile=False)
    theirs, ours = source.get_weights(), model.get_weights()
    if [w.shape for w in theirs] != [w.shape for w in ours]:
        raise ValueError(f"--init-from {path}: its layers differ from this run's (arch, width, size, classes)")
    model.set_weights(theirs)
    log.info("weights from %s", path)


def finish_cut_run(cfg: TrainConfig) -> dict[str, Any]:
    """``--finish``: a run that was cut short (a time limit, a lost machine) made into a model from its last
    complete epoch, without more training: calibrated, scored and written as a finished run is."""
    ckpt = cfg.run_dir / rundir.CHECKPOINTS / LAST_EPOCH
    if not ckpt.is_file():
        raise ValueError(f"--finish: no checkpoint {ckpt}")
    classes, spec, split = _inputs(cfg)
    model = keras.models.load_model(ckpt, compile=False)
    log.info("finishing %s from %s", cfg.run_dir, ckpt)
    return _finish(cfg, model, classes, spec, split, {}, None)


def _finish(
    cfg: TrainConfig,
    model: keras.Model,
    classes: list[str],
    spec: PreprocessSpec,
    split: Split,
    history: dict[str, list[float]],
    seconds_per_epoch: float | None,
) -> dict[str, Any]:
    """Fold the held-out parts' temperature into the model, score every source, write the run's files."""
    run = cfg.run_dir
    val_x, val_y = _held_out(split)
    val_probs = predict(model, val_x, cfg.flip_average)
    temperature = fit_temperature(np.log(np.clip(val_probs, 1e-7, 1.0)), val_y.astype(np.float64))
    fold_temperature(model, temperature)
    per_source = evaluate(model, split, classes, cfg)
    epochs_done = len(history.get("loss", [])) or None
    metrics = {
        "splits": {
            n: {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "roc_auc")} for n, m in per_source.items()
        },
        "sources": per_source,
        "temperature": temperature,
        "seconds_per_epoch": round(seconds_per_epoch, 1) if seconds_per_epoch else None,
        "best_epoch": epochs_done or "last checkpoint (--finish)",
        "keras_backend": keras.backend.backend(),
    }
    info = ModelInfo(
        labels=tuple(classes),
        preprocessing=spec,
        threshold=cfg.threshold,
        uncertain_band=cfg.uncertain_band,
        output="softmax",
        flip_average=cfg.flip_average,
        extra={
            "arch": cfg.arch,
            "width": cfg.width,
            "sources": [s.name for s in split.train],
            "fold": cfg.fold,
            "temperature": temperature,
            "training_metrics": metrics["splits"],
            "versions": {
                "happysad_edge": hs_version,
                "keras": keras.__version__,
                "keras_backend": keras.backend.backend(),
                "python": platform.python_version(),
            },
        },
    )
    with atomic_path(run / rundir.MODEL_KERAS) as tmp:
        model.save(tmp)
    write_json(run / rundir.MODEL_INFO, info.to_dict())
    write_json(run / rundir.HISTORY, history)
    write_json(run / rundir.METRICS, metrics)
    log.info("per source: %s", json.dumps({n: round(m["balanced_accuracy"], 4) for n, m in per_source.items()}))
    return metrics
