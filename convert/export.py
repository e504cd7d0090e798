"""Keras model -> SavedModel whose serving function takes a fixed batch of one image.

A fixed [1,H,W,C] signature keeps the converted graph free of SHAPE/STRIDED_SLICE/PACK ops that a dynamic
batch brings in, which older interpreters (tflite-runtime) need to run fast and some need to run at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_runtime.model.spec import PreprocessSpec

INPUT_NAME = "image"


def export_fixed_batch(model: Any, out_dir: str | Path, spec: PreprocessSpec) -> Path:
    """Write ``out_dir`` (a SavedModel, ``serving_default`` signature, input float32 0..255 pixels)."""
    import tensorflow as tf

    signature = [tf.TensorSpec([1, spec.height, spec.width, spec.channels], tf.float32, name=INPUT_NAME)]
    model.export(str(out_dir), format="tf_saved_model", input_signature=signature, verbose=False)
    return Path(out_dir)
