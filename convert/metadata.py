"""Embed the model's ModelInfo JSON inside a .tflite file, as a named entry of the flatbuffer's metadata.

The device reads it back with ``edge_runtime.tflite_meta`` (no TensorFlow), so one copied file is enough.
"""

from __future__ import annotations

import json
from typing import Any

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema_fb

from edge_runtime.tflite_meta import MODEL_INFO_KEY, parse


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
