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
MAX_MODEL_INFO_BYTES = 256 * 1024  # the shipped models need 3 KB; more is a hostile file, not a model

# BuiltinOperator names for the codes a small CNN and its conversions use (schema.fbs).
BUILTIN_NAMES = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE",
    9: "FULLY_CONNECTED",
    14: "LOGISTIC",
    17: "MAX_POOL_2D",
    18: "MUL",
    19: "RELU",
    21: "RELU6",
    22: "RESHAPE",
    25: "SOFTMAX",
    28: "TANH",
    32: "CUSTOM",
    34: "PAD",
    39: "TRANSPOSE",
    40: "MEAN",
    41: "SUB",
    42: "DIV",
    43: "SQUEEZE",
    45: "STRIDED_SLICE",
    53: "CAST",
    54: "PRELU",
    55: "MAXIMUM",
    56: "ARG_MAX",
    57: "MINIMUM",
    74: "SUM",
    77: "SHAPE",
    83: "PACK",
    98: "LEAKY_RELU",
    114: "QUANTIZE",
    117: "HARD_SWISH",
}


class FlatbufferError(ValueError):
    """The bytes are not a well-formed TFLite model."""


class OutsideFile(FlatbufferError):
    """An offset or length points past the end of the file: the file was cut short, or a byte changed."""


class Reader:
    """Bounds-checked little-endian reads: a corrupt offset raises FlatbufferError instead of reading
    outside the file (Python's negative indices would otherwise wrap around silently)."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf

    def need(self, pos: int, size: int, what: str = "data") -> None:
        """Refuse a read of ``size`` bytes at ``pos`` that does not lie inside the file."""
        if pos < 0 or size < 0 or pos + size > len(self.buf):
            raise OutsideFile(f"{what} at byte {pos} (+{size}) lies outside the file ({len(self.buf)} bytes)")

    def _unpack(self, fmt: str, pos: int) -> int:
        self.need(pos, struct.calcsize(fmt))
        value: int = struct.unpack_from("<" + fmt, self.buf, pos)[0]
        return value

    def u8(self, pos: int) -> int:
        return self._unpack("B", pos)

    def i8(self, pos: int) -> int:
        return self._unpack("b", pos)

    def u16(self, pos: int) -> int:
        return self._unpack("H", pos)

    def i32(self, pos: int) -> int:
        return self._unpack("i", pos)

    def u32(self, pos: int) -> int:
        return self._unpack("I", pos)

    def u64(self, pos: int) -> int:
        return self._unpack("Q", pos)

    def vtable(self, table: int) -> tuple[int, int, int]:
        """(vtable position, vtable size, table size) of the table at ``table``, all checked."""
        self.need(table, 4, "table")
        vtable = table - self.i32(table)
        self.need(vtable, 4, "vtable")
        vt_size, obj_size = self.u16(vtable), self.u16(vtable + 2)
        if vt_size < 4 or vt_size % 2 or obj_size < 4:
            raise FlatbufferError(f"corrupt: vtable at byte {vtable} has size {vt_size}/{obj_size}")
        self.need(vtable, vt_size, "vtable")
        self.need(table, obj_size, "table")
        return vtable, vt_size, obj_size

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None when absent."""
        vtable, vt_size, obj_size = self.vtable(table)
        slot = 4 + 2 * index
        if slot >= vt_size:
            return None
        off = self.u16(vtable + slot)
        if off and off + 1 > obj_size:
            raise FlatbufferError(f"corrupt: field {index} of the table at byte {table} lies outside it")
        return table + off if off else None

    def indirect(self, pos: int) -> int:
        target = pos + self.u32(pos)
        self.need(target, 4, "offset target")
        return target

    def table_field(self, table: int, index: int) -> int | None:
        pos = self.field(table, index)
        return None if pos is None else self.indirect(pos)

    def vector(self, table: int, index: int, elem_size: int = 1) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) when absent. The elements are in the file."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.indirect(pos)
        n = self.u32(vec)
        self.need(vec + 4, n * elem_size, f"vector of {n} elements")
        return vec + 4, n

    def ints(self, table: int, index: int) -> list[int]:
        """An int32 vector field as a list; [] when absent."""
        start, n = self.vector(table, index, 4)
        return list(struct.unpack_from(f"<{n}i", self.buf, start)) if n else []

    def tables(self, table: int, index: int) -> list[int]:
        start, n = self.vector(table, index, 4)
        return [self.indirect(start + 4 * i) for i in range(n)]

    def string(self, table: int, index: int) -> str | None:
        pos = self.field(table, index)
        if pos is None:
            return None
        start, n = self.vector(table, index)
        return self.buf[start : start + n].decode("utf-8", "replace")

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        return default if pos is None else self._unpack(fmt, pos)


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
        """The model_info JSON object; damaged, hostile or oversized JSON is a FlatbufferError."""
        raw = self.metadata.get(MODEL_INFO_KEY)
        if raw is None:
            return None
        if len(raw) > MAX_MODEL_INFO_BYTES:
            raise FlatbufferError(
                f"metadata entry {MODEL_INFO_KEY!r} is {len(raw)} bytes (at most {MAX_MODEL_INFO_BYTES})"
            )
        try:
            info = json.loads(raw.rstrip(b"\x00").decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FlatbufferError(f"metadata entry {MODEL_INFO_KEY!r} is not valid JSON: {exc}") from exc
        except RecursionError:  # JSON nested thousands deep: a hostile file, not a model
            raise FlatbufferError(f"metadata entry {MODEL_INFO_KEY!r} is nested too deeply") from None
        if not isinstance(info, dict):
            raise FlatbufferError(f"metadata entry {MODEL_INFO_KEY!r} is not a JSON object")
        return info

    @property
    def min_runtime_version(self) -> str | None:
        raw = self.metadata.get("min_runtime_version")
        return raw.rstrip(b"\x00").decode("ascii", "replace") if raw else None


def _buffer_bytes(r: Reader, buffer_table: int) -> bytes:
    start, n = r.vector(buffer_table, 0)
    if n:
        return bytes(r.buf[start : start + n])
    offset = r.scalar(buffer_table, 1, "Q", 0)
    size = r.scalar(buffer_table, 2, "Q", 0)
    if offset > 1 and size:
        r.need(offset, size, "buffer data")
        return bytes(r.buf[offset : offset + size])
    return b""


def _tensor(r: Reader, t: int) -> TensorDesc:
    shape = tuple(r.ints(t, 0))
    signature = tuple(r.ints(t, 7))
    if signature and len(signature) == len(shape):
        shape = signature  # -1 marks a dynamic dimension
    return TensorDesc(name=r.string(t, 3) or "", shape=shape, type_code=r.scalar(t, 1, "b", 0))


def _io_tensors(r: Reader, tensors: list[int], indices: list[int], what: str) -> tuple[TensorDesc, ...]:
    """The subgraph's input or output tensors; an index outside the tensor list is corruption."""
    for i in indices:
        if not 0 <= i < len(tensors):
            raise FlatbufferError(f"corrupt: subgraph {what} names tensor {i} of {len(tensors)}")
    return tuple(_tensor(r, tensors[i]) for i in indices)


def check_header(buf: bytes) -> None:
    """Say plainly what an empty, garbage or cut-short file is, before any offset is followed."""
    if not buf:
        raise FlatbufferError("the file is empty (0 bytes)")
    if len(buf) < 8 or buf[4:8] != FILE_IDENTIFIER:
        raise FlatbufferError(f"no TFL3 identifier at byte 4 (a {len(buf)}-byte file starting {buf[:8]!r})")


def parse(buf: bytes) -> FlatModel:
    """Parse the parts of a TFLite flatbuffer the runtime and the converter's report need."""
    check_header(buf)
    r = Reader(buf)
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
            custom = r.string(oc, 1) if code == 32 else BUILTIN_NAMES.get(code, f"BUILTIN_{code}")
            ops.append(OpCode(name=custom or "CUSTOM", version=r.scalar(oc, 2, "i", 1)))
        subgraphs = r.tables(root, 2)
        if not subgraphs:
            raise FlatbufferError("model has no subgraph")
        sg = subgraphs[0]
        tensors = r.tables(sg, 0)
        inputs = _io_tensors(r, tensors, r.ints(sg, 1), "input")
        outputs = _io_tensors(r, tensors, r.ints(sg, 2), "output")
        version = r.scalar(root, 0, "I", 0)
    except (struct.error, IndexError) as exc:
        raise FlatbufferError(f"truncated or corrupt TFLite model ({exc})") from exc
    return FlatModel(metadata=metadata, op_codes=tuple(ops), inputs=inputs, outputs=outputs, version=version)


def read(path: str | Path) -> FlatModel:
    return parse(Path(path).read_bytes())
