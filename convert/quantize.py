"""TFLite converter settings per quantization kind, and the conversion itself."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from edge_runtime.errors import first_line

from .native import native_stderr_to

KINDS = ("float32", "float16", "dynamic", "int8")
DESCRIPTIONS = {
    "float32": "no quantization",
    "float16": "float16 weights, float32 compute and I/O",
    "dynamic": "int8 weights, float activations (dynamic range), float32 I/O",
    "int8": "full integer: int8 weights and activations, int8 input and output",
}

Representative = Callable[[], Iterator[list[np.ndarray]]]


def model_file_name(kind: str) -> str:
    return f"model_{kind}.tflite"


def convert(
    saved_model: str | Path, kind: str, representative: Representative | None = None, per_channel_dense: bool = True
) -> bytes:
    """Convert the SavedModel to ``kind``. ``int8`` needs ``representative`` (calibration images).

    ``per_channel_dense=False`` quantizes dense weights per tensor, as runtimes before 2.17 need for
    dynamic-range models (per-channel dense layers become FULLY_CONNECTED version 12).
    """
    import tensorflow as tf

    if kind not in KINDS:
        raise ValueError(f"unknown quantization {kind!r}; choose from {', '.join(KINDS)}")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if kind != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        conv.target_spec.supported_types = [tf.float16]
    elif kind == "dynamic":
        conv._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
    elif kind == "int8":
        if representative is None:
            raise ValueError("int8 quantization needs a representative dataset")
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]  # fail rather than fall back to float
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    with tempfile.TemporaryFile() as sink, native_stderr_to(sink) as log:
        try:
            return bytes(conv.convert())
        except Exception as exc:  # the converter raises ConverterError and plain errors
            log.seek(0)
            native = [ln for ln in log.read().decode("utf-8", "replace").splitlines() if "error" in ln.lower()]
            detail = first_line(exc)
            raise ConversionFailed(f"conversion to {kind} failed: {(native[-1] if native else detail)[:300]}") from exc


class ConversionFailed(RuntimeError):
    """The TFLite converter could not convert the model."""
