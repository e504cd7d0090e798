"""The training input pipeline: stream files from disk, decode in parallel, prefetch.

Decoding and resizing call the device runtime's own functions (``edge_runtime.imageio`` and
``edge_runtime.preprocess``), so the tensors the network learns from are the ones it is served.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from edge_runtime.imageio import read_image
from edge_runtime.preprocess import to_model_pixels
from edge_runtime.spec import PreprocessSpec

from .augment import augment_pixels


def load_pixels(path: str, spec: PreprocessSpec) -> np.ndarray | None:
    """uint8 HxWxC model pixels of one file, exactly as the device makes them; None if unusable."""
    rgb, _ = read_image(path)
    if rgb is None:
        return None
    return to_model_pixels(rgb, spec)


def load_arrays(paths: list[str], labels: list[int], spec: PreprocessSpec) -> tuple[np.ndarray, np.ndarray, int]:
    """All files as one uint8 array (for calibration and evaluation sets that fit in memory)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        pixels = list(pool.map(lambda p: load_pixels(p, spec), paths))
    keep = [i for i, px in enumerate(pixels) if px is not None]
    x = np.stack([pixels[i] for i in keep]) if keep else np.zeros((0, spec.height, spec.width, spec.channels),
                                                                   np.uint8)
    y = np.asarray([labels[i] for i in keep], dtype=np.int64)
    return x, y, len(paths) - len(keep)


def _decode_fn(spec: PreprocessSpec):
    def decode(path: bytes) -> np.ndarray:
        px = load_pixels(path.decode(), spec)
        if px is None:  # checked before training; a file changed on disk since gives a black image
            px = np.zeros((spec.height, spec.width, spec.channels), np.uint8)
        return px

    def fn(path, label):
        px = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
        px.set_shape((spec.height, spec.width, spec.channels))
        return px, label

    return fn


def _augment_fn(spec: PreprocessSpec, strength: float):
    def aug(px: np.ndarray, seed: np.int64) -> np.ndarray:
        return augment_pixels(px, int(seed), strength)

    def fn(px, label, seed):
        out = tf.numpy_function(aug, [px, seed], tf.uint8, stateful=False)
        out.set_shape((spec.height, spec.width, spec.channels))
        return out, label

    return fn


def make_dataset(paths: list[str], labels: list[int], spec: PreprocessSpec, batch_size: int, *,
                 shuffle: bool = False, augment: bool = False, seed: int = 0, cache: bool = False,
                 augment_strength: float = 1.0) -> tf.data.Dataset:
    """(float32 0..255 [B,H,W,C], label) batches, streamed from disk so any data set size trains.

    ``cache`` keeps decoded images in memory after the first epoch (small data sets, searches).
    Shuffling and augmentation are seeded, and maps keep their order, so an epoch is reproducible.
    """
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), tf.constant(labels, tf.int64)))
    if shuffle and not cache:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_decode_fn(spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if augment and augment_strength > 0:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda xy, s: (xy[0], xy[1], s))
        ds = ds.map(_augment_fn(spec, augment_strength), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
