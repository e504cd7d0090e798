"""Read a .tflite flatbuffer without TensorFlow: its metadata entries, operator codes and tensor shapes.

Only the few tables of the TFLite schema (tensorflow/lite/schema/schema.fbs) that the runtime needs are
walked, with ``struct``; this keeps the device install free of TensorFlow and of generated code.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_IDENTIFIER = b"TFL3"
MODEL_INFO_KEY = "happysad.model_info"  # our metadata entry: UTF-8 JSON of spec.ModelInfo.to_dict()

# BuiltinOperator names for the codes a small CNN and its conversions use (schema.fbs).
BUILTIN_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU",
    21: "RELU6", 22: "RESHAPE", 25: "SOFTMAX", 28: "TANH", 32: "CUSTOM", 34: "PAD", 39: "TRANSPOSE",
    40: "MEAN", 41: "SUB", 42: "DIV", 43: "SQUEEZE", 45: "STRIDED_SLICE", 53: "CAST", 54: "PRELU",
    55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM", 74: "SUM", 77: "SHAPE", 83: "PACK", 98: "LEAKY_RELU",
    114: "QUANTIZE", 117: "HARD_SWISH",
}


class FlatbufferError(ValueError):
    """The bytes are not a well-formed TFLite model."""


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf

    def u8(self, pos: int) -> int:
        return self.buf[pos]

    def i8(self, pos: int) -> int:
        return struct.unpack_from("<b", self.buf, pos)[0]

    def u16(self, pos: int) -> int:
        return struct.unpack_from("<H", self.buf, pos)[0]

    def i32(self, pos: int) -> int:
        return struct.unpack_from("<i", self.buf, pos)[0]

    def u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.buf, pos)[0]

    def u64(self, pos: int) -> int:
        return struct.unpack_from("<Q", self.buf, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None when absent."""
        vtable = table - self.i32(table)
        vt_size = self.u16(vtable)
        slot = 4 + 2 * index
        if slot >= vt_size:
            return None
        off = self.u16(vtable + slot)
        return table + off if off else None

    def indirect(self, pos: int) -> int:
        return pos + self.u32(pos)

    def table_field(self, table: int, index: int) -> int | None:
        pos = self.field(table, index)
        return None if pos is None else self.indirect(pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.indirect(pos)
        return vec + 4, self.u32(vec)

    def tables(self, table: int, index: int) -> list[int]:
        start, n = self.vector(table, index)
        return [self.indirect(start + 4 * i) for i in range(n)]

    def string(self, table: int, index: int) -> str | None:
        start, n = self.vector(table, index)
        return None if n == 0 and start == 0 else self.buf[start:start + n].decode("utf-8", "replace")

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        return default if pos is None else struct.unpack_from("<" + fmt, self.buf, pos)[0]


@dataclass(frozen=True)
class OpCode:
    name: str
    version: int


@dataclass(frozen=True)
class TensorDesc:
    name: str
    shape: tuple[int, ...]
    type_code: int


@dataclass(frozen=True)
class FlatModel:
    """What a model file says about itself, read without an interpreter."""

    metadata: dict[str, bytes]
    op_codes: tuple[OpCode, ...]
    inputs: tuple[TensorDesc, ...]
    outputs: tuple[TensorDesc, ...]
    version: int

    def model_info_dict(self) -> dict[str, Any] | None:
        raw = self.metadata.get(MODEL_INFO_KEY)
        if raw is None:
            return None
        try:
            return json.loads(raw.rstrip(b"\x00").decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FlatbufferError(f"metadata entry {MODEL_INFO_KEY!r} is not valid JSON: {exc}") from exc

    @property
    def min_runtime_version(self) -> str | None:
        raw = self.metadata.get("min_runtime_version")
        return raw.rstrip(b"\x00").decode("ascii", "replace") if raw else None


def _buffer_bytes(r: _Reader, buffer_table: int) -> bytes:
    start, n = r.vector(buffer_table, 0)
    if n:
        return bytes(r.buf[start:start + n])
    offset = r.scalar(buffer_table, 1, "Q", 0)
    size = r.scalar(buffer_table, 2, "Q", 0)
    if offset > 1 and size:
        return bytes(r.buf[offset:offset + size])
    return b""


def _tensor(r: _Reader, t: int) -> TensorDesc:
    start, n = r.vector(t, 0)
    shape = tuple(r.i32(start + 4 * i) for i in range(n))
    sig_start, sig_n = r.vector(t, 7)
    if sig_n == n and sig_n:
        shape = tuple(r.i32(sig_start + 4 * i) for i in range(sig_n))  # -1 marks a dynamic dimension
    return TensorDesc(name=r.string(t, 3) or "", shape=shape, type_code=r.scalar(t, 1, "b", 0))


def parse(buf: bytes) -> FlatModel:
    """Parse the parts of a TFLite flatbuffer the runtime and the converter's report need."""
    if len(buf) < 8 or buf[4:8] != FILE_IDENTIFIER:
        raise FlatbufferError("not a TFLite model (no TFL3 identifier)")
    r = _Reader(buf)
    try:
        root = r.indirect(0)
        buffers = r.tables(root, 4)
        metadata: dict[str, bytes] = {}
        for m in r.tables(root, 6):
            name = r.string(m, 0) or ""
            idx = r.scalar(m, 1, "I", 0)
            if idx < len(buffers):
                metadata[name] = _buffer_bytes(r, buffers[idx])
        ops = []
        for oc in r.tables(root, 1):
            code = max(r.scalar(oc, 0, "b", 0), r.scalar(oc, 3, "i", 0))
            name = r.string(oc, 1) if code == 32 else BUILTIN_NAMES.get(code, f"BUILTIN_{code}")
            ops.append(OpCode(name=name or "CUSTOM", version=r.scalar(oc, 2, "i", 1)))
        subgraphs = r.tables(root, 2)
        if not subgraphs:
            raise FlatbufferError("model has no subgraph")
        sg = subgraphs[0]
        tensors = r.tables(sg, 0)
        ins_start, n_in = r.vector(sg, 1)
        outs_start, n_out = r.vector(sg, 2)
        inputs = tuple(_tensor(r, tensors[r.i32(ins_start + 4 * i)]) for i in range(n_in))
        outputs = tuple(_tensor(r, tensors[r.i32(outs_start + 4 * i)]) for i in range(n_out))
        version = r.scalar(root, 0, "I", 0)
    except (struct.error, IndexError) as exc:
        raise FlatbufferError(f"truncated or corrupt TFLite model ({exc})") from exc
    return FlatModel(metadata=metadata, op_codes=tuple(ops), inputs=inputs, outputs=outputs, version=version)


def read(path: str | Path) -> FlatModel:
    return parse(Path(path).read_bytes())
