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


def augmenter(seed: int, strength: float = 1.0) -> tf.keras.Sequential:
    """Flip, small rotation and zoom, brightness and contrast: what a camera varies, on 0..255 pixels."""
    from keras import layers

    s = strength
    return tf.keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(0.04 * s, fill_mode="reflect", seed=seed + 1),
        layers.RandomZoom((-0.1 * s, 0.1 * s), fill_mode="reflect", seed=seed + 2),
        layers.RandomBrightness(0.15 * s, value_range=(0, 255), seed=seed + 3),
        layers.RandomContrast(0.2 * s, seed=seed + 4),
    ], name="augment")


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


def make_dataset(paths: list[str], labels: list[int], spec: PreprocessSpec, batch_size: int, *,
                 shuffle: bool = False, augment: bool = False, seed: int = 0, cache: bool = False,
                 augment_strength: float = 1.0) -> tf.data.Dataset:
    """(float32 0..255 [B,H,W,C], label) batches, streamed from disk so any data set size trains.

    ``cache`` keeps decoded images in memory after the first epoch (small data sets, searches).
    Shuffling is seeded and ordered maps keep the epoch order reproducible.
    """
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), tf.constant(labels, tf.int64)))
    if shuffle and not cache:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_decode_fn(spec), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        aug = augmenter(seed, augment_strength)
        ds = ds.map(lambda x, y: (tf.clip_by_value(aug(x, training=True), 0.0, 255.0), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
