"""The training input pipeline: stream files from disk, decode in parallel, prefetch.

Decoding and resizing call the device runtime's own functions (``edge_runtime.io.imageio`` and
``edge_runtime.model.preprocess``), so the tensors the network learns from are the ones it is served.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from edge_runtime.io.imageio import read_image
from edge_runtime.model.preprocess import to_model_pixels
from edge_runtime.model.spec import PreprocessSpec

from .augment import augment_pixels


class SkippedFiles:
    """Files that were fine when the data set was scanned but unusable when training read them (deleted,
    rewritten, unmounted): skipped, and recorded once each with the reason, however many epochs met them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # tf.data decodes in parallel threads
        self.files: dict[str, str] = {}

    def add(self, path: str, reason: str) -> None:
        with self._lock:
            self.files.setdefault(path, reason)

    def __len__(self) -> int:
        return len(self.files)

    def by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reason in self.files.values():
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def read_pixels(path: str, spec: PreprocessSpec) -> tuple[np.ndarray | None, str | None]:
    """(uint8 HxWxC model pixels exactly as the device makes them, None), or (None, why unusable)."""
    rgb, reason = read_image(path)
    if rgb is None:
        return None, reason or "unreadable"
    return to_model_pixels(rgb, spec), None


def load_pixels(path: str, spec: PreprocessSpec) -> np.ndarray | None:
    """uint8 HxWxC model pixels of one file; None if unusable."""
    return read_pixels(path, spec)[0]


def load_arrays(paths: list[str], labels: list[int], spec: PreprocessSpec) -> tuple[np.ndarray, np.ndarray, int]:
    """All files as one uint8 array (for calibration and evaluation sets that fit in memory)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        pixels = list(pool.map(lambda p: load_pixels(p, spec), paths))
    keep = [(i, px) for i, px in enumerate(pixels) if px is not None]
    x = np.stack([px for _, px in keep]) if keep else np.zeros((0, spec.height, spec.width, spec.channels), np.uint8)
    y = np.asarray([labels[i] for i, _ in keep], dtype=np.int64)
    return x, y, len(paths) - len(keep)


def _decode_fn(spec: PreprocessSpec, skipped: SkippedFiles):
    """(pixels, label, usable): a file that became unusable since the scan is marked, not faked."""
    blank = np.zeros((spec.height, spec.width, spec.channels), np.uint8)

    def decode(path: bytes) -> tuple[np.ndarray, bool]:
        px, reason = read_pixels(path.decode(), spec)
        if px is None:
            skipped.add(path.decode(), reason or "unreadable")
            return blank, False
        return px, True

    def fn(path, label):
        px, usable = tf.numpy_function(decode, [path], (tf.uint8, tf.bool), stateful=False)
        px.set_shape((spec.height, spec.width, spec.channels))
        return px, label, usable

    return fn


def _augment_fn(spec: PreprocessSpec, strength: float, erase: float = 0.0):
    def aug(px: np.ndarray, seed: np.int64) -> np.ndarray:
        return augment_pixels(px, int(seed), strength, erase)

    def fn(px, label, seed):
        out = tf.numpy_function(aug, [px, seed], tf.uint8, stateful=False)
        out.set_shape((spec.height, spec.width, spec.channels))
        return out, label

    return fn


def make_dataset(
    paths: list[str],
    labels: list[int],
    spec: PreprocessSpec,
    batch_size: int,
    *,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
    cache: bool = False,
    augment_strength: float = 1.0,
    random_erasing: float = 0.0,
    skipped: SkippedFiles | None = None,
) -> tf.data.Dataset:
    """(float32 0..255 [B,H,W,C], label) batches, streamed from disk so any data set size trains.

    ``cache`` keeps decoded images in memory after the first epoch (small data sets, searches).
    Shuffling and augmentation are seeded, and maps keep their order, so an epoch is reproducible.
    A file that cannot be read any more is left out and recorded in ``skipped``. ``random_erasing`` is the
    probability of erasing a rectangle of an augmented image.
    """
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), tf.constant(labels, tf.int64)))
    if shuffle and not cache:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(
        _decode_fn(spec, skipped if skipped is not None else SkippedFiles()),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.filter(lambda px, label, usable: usable).map(lambda px, label, usable: (px, label))
    if cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if augment and augment_strength > 0:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda xy, s: (xy[0], xy[1], s))
        ds = ds.map(
            _augment_fn(spec, augment_strength, random_erasing), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
