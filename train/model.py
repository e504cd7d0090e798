"""The classifier networks. ``origin`` is exactly the CNN of the project's origin documents."""

from __future__ import annotations

import keras
from keras import layers

from .config import Arch

ARCHS = tuple(a.value for a in Arch)


def _head(x, num_classes: int):
    """One sigmoid unit for two classes (the origin's binary output), softmax over three or more."""
    if num_classes == 2:
        return layers.Dense(1, activation="sigmoid", name="prob")(x)
    return layers.Dense(num_classes, activation="softmax", name="prob")(x)


def scaled(units: int, width: float) -> int:
    """``units`` times the width multiplier, rounded to a multiple of 8 (int8 kernels like those), at least 8."""
    return max(8, int(round(units * width / 8.0)) * 8)


def build_model(
    image_size: int = 256,
    channels: int = 3,
    num_classes: int = 2,
    arch: str = "origin",
    dropout: float = 0.0,
    width: float = 1.0,
) -> keras.Model:
    """Build a network whose first layer rescales 0..255 pixels, so every exported model carries it.

    ``origin``: Conv2D 16, 32, 16 (3x3, stride 1, ReLU) each with 2x2 max pooling, Flatten, Dense 256 ReLU,
    Dense 1 sigmoid: 3,696,625 parameters at 256x256x3. ``compact``: a small, batch-normalised CNN with
    global pooling, for 48-96 px grey faces. ``dropout`` defaults to the origin's none (weight decay is
    the optimizer's, AdamW). ``width`` scales the compact net's filters and dense units (capacity for the
    fine mouth and eye cues the default 1.0 may lack); the origin net is fixed, so it must stay 1.0.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    if width <= 0 or (arch == "origin" and width != 1.0):
        raise ValueError(f"--width {width}: must be > 0, and 1.0 for the origin network")
    if num_classes < 2:
        raise ValueError("a classifier needs at least two classes")
    smallest = 22 if arch == "origin" else 16
    if image_size < smallest:
        raise ValueError(f"--image-size {image_size} is too small for the {arch} network (at least {smallest})")
    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if arch == "origin":
        for i, filters in enumerate((16, 32, 16)):
            x = layers.Conv2D(filters, 3, strides=1, activation="relu", name=f"conv{i + 1}")(x)
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        x = layers.Flatten(name="flatten")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name="dropout_flat")(x)
        x = layers.Dense(256, activation="relu", name="dense")(x)
    else:
        for i, filters in enumerate(scaled(f, width) for f in (16, 32, 64, 128)):
            for j in range(2):
                x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i + 1}_{j + 1}")(x)
                x = layers.BatchNormalization(name=f"bn{i + 1}_{j + 1}")(x)
                x = layers.ReLU(name=f"relu{i + 1}_{j + 1}")(x)
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        x = layers.Dense(scaled(128, width), activation="relu", name="dense")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes), name=f"happysad_{arch}")
