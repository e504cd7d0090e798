"""Embed the model's ModelInfo JSON inside a .tflite file, as a named entry of the flatbuffer's metadata.

The device reads it back with ``edge_runtime.model.tflite_meta`` (no TensorFlow), so one copied file is enough.
"""

from __future__ import annotations

import json
from typing import Any

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema_fb

from edge_runtime.model.tflite_meta import MODEL_INFO_KEY, parse


def embed_metadata(tflite: bytes, entries: dict[str, bytes]) -> bytes:
    """Return ``tflite`` with each named metadata entry added, or replaced if already present."""
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(bytearray(tflite), 0))
    model.buffers = model.buffers or []
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() not in entries]
    for name, data in entries.items():
        buf = schema_fb.BufferT()
        buf.data = np.frombuffer(data, dtype=np.uint8)
        model.buffers.append(buf)
        md = schema_fb.MetadataT()
        md.name = name
        md.buffer = len(model.buffers) - 1
        model.metadata.append(md)
    builder = flatbuffers.Builder(len(tflite) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def embed_model_info(tflite: bytes, info: dict[str, Any]) -> bytes:
    """Add ``info`` (a ModelInfo dict) as UTF-8 JSON and check it reads back without TensorFlow."""
    out = embed_metadata(tflite, {MODEL_INFO_KEY: json.dumps(info, sort_keys=True).encode("utf-8")})
    if parse(out).model_info_dict() != json.loads(json.dumps(info, sort_keys=True)):
        raise RuntimeError("embedded model metadata did not read back identically")
    return out


def versions() -> dict[str, str]:
    """Versions of everything that shaped a converted file (recorded in its metadata and the report)."""
    import numpy

    out = {"happysad_edge": _dist_version("happysad-edge"), "numpy": numpy.__version__}
    for name, dist in (("tensorflow", "tensorflow"), ("keras", "keras"), ("ai_edge_litert", "ai-edge-litert")):
        out[name] = _dist_version(dist)
    out["converter"] = f"tf.lite.TFLiteConverter (TensorFlow {out['tensorflow']})"
    return out


def _dist_version(dist: str) -> str:
    from importlib import metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "unknown"


def describe(
    run_info: dict[str, Any],
    *,
    kind: str,
    quantization: dict[str, Any],
    compat: dict[str, Any],
    calibration_samples: int | None,
    data_fingerprint: str | None,
    training_metrics: Any,
    target: str,
    parity: dict[str, Any],
    versions_: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ModelInfo dict embedded in one converted file: the run's ModelInfo plus conversion provenance.

    ``run_info`` is ``ModelInfo.to_dict()`` of the run (labels, threshold, output, preprocessing and the
    trainer's extra keys such as its own versions); the keys added here live in ModelInfo.extra.
    """
    info = dict(run_info)
    got = info.get("versions")
    trained_with: dict[str, Any] = got if isinstance(got, dict) else {}
    info["versions"] = {**trained_with, **(versions_ or versions())}
    if trained_with:
        info["trained_with"] = trained_with
    info["quantization"] = {"kind": kind, **quantization}
    info["calibration_samples"] = calibration_samples
    info["data_fingerprint"] = data_fingerprint
    info["training_metrics"] = training_metrics
    info["min_runtime_version"] = compat.get("min_runtime_version")
    info["compatibility"] = compat
    info["target"] = target
    info["parity"] = parity
    return info
