"""Labelled sources for training in the wild: class folders and FER+'s crowd votes, read as soft targets.

A source is one data set (FER+, SFEW, NHFI, a user's folders). Each is loaded whole into uint8 arrays
through the device's own preprocessing (``edge_runtime.model.preprocess.to_model_pixels`` on the whole image,
as every evaluation of crop data sets does), with one probability row per image over the run's classes.
A source without its own validation part gets a seeded, stratified hold-out, so every source is also
scored on faces it did not train on.

``fold`` names the class that absorbs every other expression: for the default three-class model the
labels are happy, neutral and sad, and ``neutral`` means "neither" (surprise, anger, fear ... too).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.io.imageio import read_image
from edge_runtime.model.preprocess import to_model_pixels
from edge_runtime.model.spec import PreprocessSpec

log = logging.getLogger(__name__)

# FER+ vote columns, and which expression word in it means which class name of ours.
FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
FERPLUS_NOISE = ("unknown", "not_face")
FERPLUS_NAMES = {"happiness": "happy", "sadness": "sad"}
MIN_FACE_VOTES = 6  # fewer usable votes (the rest 'unknown' or 'not a face'): the image is dropped


class SourceError(ValueError):
    """A source that cannot be read as asked (one line for the CLI)."""


@dataclass
class Source:
    """One data set as arrays: pixels (N,H,W,C) uint8, targets (N,K) float32 summing to 1, names (N,)."""

    name: str
    pixels: np.ndarray
    targets: np.ndarray
    files: list[str]
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.files)

    def hard(self) -> np.ndarray:
        """The majority class of each image (argmax of its target)."""
        return np.argmax(self.targets, axis=1)

    def take(self, idx: np.ndarray) -> Source:
        """The images at ``idx``; what was skipped while reading the source goes with it."""
        return Source(self.name, self.pixels[idx], self.targets[idx], [self.files[i] for i in idx], self.skipped)


def class_of(word: str, classes: list[str], fold: str | None) -> str | None:
    """Our class for an expression name: itself, else the fold class (when set), else None (ignored)."""
    word = FERPLUS_NAMES.get(word, word)
    if word in classes:
        return word
    return fold


def _pixels(path: Path, spec: PreprocessSpec) -> tuple[np.ndarray | None, str | None]:
    rgb, why = read_image(path)
    if rgb is None:
        return None, why or "unreadable"
    return to_model_pixels(rgb, spec, "RGB"), None


def _finish(
    name: str,
    rows: list[np.ndarray],
    targets: list[np.ndarray],
    files: list[str],
    spec: PreprocessSpec,
    skipped: dict[str, int],
) -> Source:
    if not rows:
        raise SourceError(f"source {name}: no usable image")
    px = np.stack(rows).reshape(len(rows), spec.height, spec.width, spec.channels)
    return Source(name, px, np.stack(targets).astype(np.float32), files, skipped)


def load_folders(
    root: Path, classes: list[str], spec: PreprocessSpec, fold: str | None = None, name: str | None = None
) -> Source:
    """``root/<expression>/*`` as one-hot targets; folders of other expressions fold in or are ignored."""
    if not root.is_dir():
        raise SourceError(f"source folder not found: {root}")
    rows: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    files: list[str] = []
    skipped: dict[str, int] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        cls = class_of(sub.name, classes, fold)
        if cls is None:
            continue
        onehot = np.eye(len(classes), dtype=np.float32)[classes.index(cls)]
        for f in sorted(p for p in sub.iterdir() if p.is_file()):
            px, why = _pixels(f, spec)
            if px is None:
                skipped[str(why)] = skipped.get(str(why), 0) + 1
                continue
            rows.append(px)
            targets.append(onehot)
            files.append(str(f))
    return _finish(name or root.name, rows, targets, files, spec, skipped)


def ferplus_target(votes: dict[str, int], classes: list[str], fold: str | None) -> np.ndarray | None:
    """The crowd's vote share over our classes, or None when too few votes say what the face shows."""
    out = np.zeros(len(classes), np.float32)
    for word in FERPLUS_VOTES:
        cls = class_of(word, classes, fold)
        if cls is not None:
            out[classes.index(cls)] += votes.get(word, 0)
    if out.sum() < MIN_FACE_VOTES:
        return None
    return out / out.sum()


def load_ferplus(
    csv_path: Path, classes: list[str], spec: PreprocessSpec, fold: str | None = None, name: str | None = None
) -> Source:
    """FER+ votes (``train.csv`` beside its image folder ``train/``) as soft targets over ``classes``."""
    images = csv_path.with_suffix("")
    if not csv_path.is_file() or not images.is_dir():
        raise SourceError(f"FER+ source needs {csv_path} and the image folder {images}")
    rows: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    files: list[str] = []
    skipped: dict[str, int] = {}
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"file", *FERPLUS_VOTES} - set(reader.fieldnames or [])
        if missing:
            raise SourceError(f"{csv_path} lacks column(s) {', '.join(sorted(missing))} (not a FER+ vote file?)")
        for row in reader:
            try:
                votes = {k: int(row[k] or 0) for k in (*FERPLUS_VOTES, *FERPLUS_NOISE) if k in row}
            except ValueError:
                skipped["bad row"] = skipped.get("bad row", 0) + 1
                continue
            target = ferplus_target(votes, classes, fold)
            if target is None:
                skipped["too few face votes"] = skipped.get("too few face votes", 0) + 1
                continue
            px, why = _pixels(images / Path(row["file"]).name, spec)
            if px is None:
                skipped[str(why)] = skipped.get(str(why), 0) + 1
                continue
            rows.append(px)
            targets.append(target)
            files.append(str(images / row["file"]))
    return _finish(name or f"ferplus-{images.name}", rows, targets, files, spec, skipped)


def load_source(spec_text: str, classes: list[str], spec: PreprocessSpec, fold: str | None = None) -> Source:
    """``NAME=PATH`` or ``PATH``: a ``.csv`` is FER+ votes, a folder is class folders."""
    name, _, path_text = spec_text.rpartition("=")
    path = Path(path_text)
    if path.suffix.lower() == ".csv":
        return load_ferplus(path, classes, spec, fold, name or None)
    return load_folders(path, classes, spec, fold, name or None)


def holdout_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Which items are held out: ``fraction`` of each class (rounded), drawn with ``seed``; the same items
    for the same labels in the same order, so an evaluation can find a run's hold-out again."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        mask[idx[: int(round(len(idx) * fraction))]] = True
    return mask


def holdout(src: Source, fraction: float, seed: int) -> tuple[Source, Source]:
    """A stratified, seeded (train, val) split of one source by majority class."""
    mask = holdout_mask(src.hard(), fraction, seed)
    return src.take(np.flatnonzero(~mask)), src.take(np.flatnonzero(mask))


def sampling_weights(sources: list[Source], shares: list[float]) -> np.ndarray:
    """One weight per image of the concatenated sources: each source gets its share of every epoch, and
    within a source each class (by majority) an equal part, so no source or class dominates by size."""
    out = []
    total = sum(shares)
    for src, share in zip(sources, shares, strict=True):
        hard = src.hard()
        present = np.unique(hard)
        counts = np.bincount(hard, minlength=src.targets.shape[1]).astype(np.float64)
        out.append(share / total / len(present) / counts[hard])
    w = np.concatenate(out)
    return w / w.sum()
