"""Refuse a corrupt .tflite before LiteRT sees it (LiteRT trusts sizes and offsets and may allocate gigabytes).

LiteRT trusts the flatbuffer: one changed byte can declare an input of (1, 5767216, 48, 1), and the
interpreter then allocates gigabytes inside C++ where no signal reaches it, or reads through an index that
is out of range. So every offset, index and shape the interpreter will follow is checked here first, in
pure Python (no TensorFlow), against the file's own size and against bounds no classifier comes near.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from edge_runtime.model.tflite_meta import FlatbufferError, OutsideFile, Reader, check_header

SCHEMA_VERSION = 3
MAX_RANK = 8  # TFLite kernels handle up to 6 dimensions
MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # all tensors together: far above any model this runtime ships
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_CHANNELS = 4
MAX_BUILTIN_CODE = 1000  # BuiltinOperator has about 210 codes; a larger one is a flipped byte

# TensorType code -> bytes per element; None where the size is not fixed (string, int4, resource, variant).
TYPE_SIZES: dict[int, int | None] = {
    0: 4,
    1: 2,
    2: 4,
    3: 1,
    4: 8,
    5: None,
    6: 1,
    7: 2,
    8: 8,
    9: 1,
    10: 8,
    11: 16,
    12: 8,
    13: None,
    14: None,
    15: 4,
    16: 2,
    17: None,
    18: 2,
}


class CorruptModel(FlatbufferError):
    """A structural check failed; ``truncated`` when an offset points past the end of the file."""

    def __init__(self, message: str, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


@dataclass(frozen=True)
class Tensor:
    """One tensor as the interpreter will see it."""

    index: int
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    type_code: int
    buffer: int
    variable: bool


def elements(shape: tuple[int, ...]) -> int:
    """Element count, a dynamic (-1) dimension counted as 1."""
    n = 1
    for d in shape:
        n *= max(d, 1)
    return n


def _millions(n: int) -> str:
    return f"{n / 1e6:.0f} M" if n >= 1e6 else str(n)


def _check_indices(indices: list[int], limit: int, what: str, optional: bool = False) -> None:
    low = -1 if optional else 0
    for i in indices:
        if not low <= i < limit:
            raise CorruptModel(f"{what} names tensor {i}, but there are {limit}")


def _check_buffers(r: Reader, buffers: list[int]) -> list[int]:
    """Every buffer's bytes inside the file; returns each buffer's data size (for the constant-tensor check)."""
    sizes = []
    for i, b in enumerate(buffers):
        with _part(f"buffer {i}"):
            _, n = r.vector(b, 0)
            offset, size = r.scalar(b, 1, "Q", 0), r.scalar(b, 2, "Q", 0)
        if offset > 1 and offset + size > len(r.buf):
            raise CorruptModel(
                f"buffer {i} data at byte {offset} (+{size}) lies outside the file ({len(r.buf)} bytes)", truncated=True
            )
        sizes.append(n or (size if offset > 1 else 0))
    return sizes


def _read_tensor(r: Reader, t: int, index: int) -> Tensor:
    shape, signature = tuple(r.ints(t, 0)), tuple(r.ints(t, 7))
    return Tensor(
        index=index,
        shape=shape,
        signature=signature,
        type_code=r.scalar(t, 1, "b", 0),
        buffer=r.scalar(t, 2, "I", 0),
        variable=bool(r.scalar(t, 5, "B", 0)),
    )


def _check_quantization(r: Reader, t: int, tensor: Tensor) -> None:
    """Per-channel scales must match the channel dimension; LiteRT reads zero points by the scales' count."""
    q = r.table_field(t, 4)
    if q is None:
        return
    _, n_scale = r.vector(q, 2, 4)
    _, n_zp = r.vector(q, 3, 8)
    r.vector(q, 0, 4)  # min
    r.vector(q, 1, 4)  # max
    if n_scale and n_zp != n_scale:
        raise CorruptModel(f"tensor {tensor.index} has {n_scale} quantization scales but {n_zp} zero points")
    qdim = r.scalar(q, 6, "i", 0)
    if n_scale > 1 and not (0 <= qdim < len(tensor.shape) and tensor.shape[qdim] == n_scale):
        raise CorruptModel(
            f"tensor {tensor.index} of shape {list(tensor.shape)} has {n_scale} scales along dimension {qdim}"
        )


def _check_tensor(tensor: Tensor, n_buffers: int, buffer_sizes: list[int]) -> int:
    """Shape, type and buffer of one tensor; returns its size in bytes."""
    i, shape = tensor.index, tensor.shape
    for dims in (shape, tensor.signature):
        if len(dims) > MAX_RANK or any(d < -1 for d in dims):
            raise CorruptModel(f"tensor {i} declares shape {list(dims)}")
    n = elements(shape)
    if n > MAX_TENSOR_ELEMENTS:
        raise CorruptModel(f"tensor {i} declares shape {list(shape)} ({_millions(n)} elements)")
    if tensor.signature and len(tensor.signature) != len(shape):
        raise CorruptModel(f"tensor {i} has shape {list(shape)} but signature {list(tensor.signature)}")
    if tensor.type_code not in TYPE_SIZES:
        raise CorruptModel(f"tensor {i} has unknown type code {tensor.type_code}")
    if not 0 <= tensor.buffer < n_buffers:
        raise CorruptModel(f"tensor {i} names buffer {tensor.buffer}, but there are {n_buffers}")
    size = TYPE_SIZES[tensor.type_code]
    data = buffer_sizes[tensor.buffer]
    if size is not None and data and data != n * size:
        raise CorruptModel(
            f"tensor {i} of shape {list(shape)} needs {n * size} bytes but its buffer {tensor.buffer} holds {data}"
        )
    return n * (size or 1)


def _check_input(tensor: Tensor) -> None:
    """The classifier's image input: [batch, H, W, C] of a size a camera frame crop could have."""
    if len(tensor.shape) != 4:
        return  # not an image classifier: model.py says so in its own words
    for dims, low in ((tensor.shape, 1), (tensor.signature, -1)):  # a signature may leave a side open (-1)
        if not dims:
            continue
        _, h, w, c = dims
        if not (
            low <= h <= MAX_IMAGE_SIDE
            and low <= w <= MAX_IMAGE_SIDE
            and low <= c <= MAX_IMAGE_CHANNELS
            and 0 not in (h, w, c)
        ):
            raise CorruptModel(
                f"input tensor {tensor.index} declares shape {list(dims)} "
                f"({_millions(elements(dims))} elements): an image input is [1, H, W, C] with "
                f"H, W <= {MAX_IMAGE_SIDE} and C in 1..{MAX_IMAGE_CHANNELS}"
            )


def _check_operators(
    r: Reader, sg: int, label: str, n_tensors: int, n_opcodes: int
) -> list[tuple[list[int], list[int]]]:
    """Operator codes and tensor indices in range; returns each operator's (inputs, outputs)."""
    ops = []
    for k, op in enumerate(r.tables(sg, 3)):
        where = f"{label}operator {k}"
        code = r.scalar(op, 0, "I", 0)
        if code >= n_opcodes:
            raise CorruptModel(f"{where} uses operator code {code}, but there are {n_opcodes}")
        ins, outs = r.ints(op, 1), r.ints(op, 2)
        for indices, what in ((ins, "inputs"), (outs, "outputs"), (r.ints(op, 8), "intermediates")):
            _check_indices(indices, n_tensors, f"{where} {what}", optional=True)
        r.table_field(op, 4)  # builtin options: its table must lie in the file
        r.vector(op, 5)  # custom options
        ops.append((ins, outs))
    return ops


def _check_dataflow(ops: list[tuple[list[int], list[int]]], ready: set[int], outputs: list[int], label: str) -> None:
    """Operators run in file order: each reads only the graph's inputs, constants and what an earlier one wrote.

    A lost operator or a changed index otherwise leaves a tensor nobody writes: LiteRT reads an unallocated
    or stale buffer (an output read that way fails with "Tensor data is null").
    """
    ready = set(ready)
    for k, (ins, outs) in enumerate(ops):
        for i in ins:
            if i != -1 and i not in ready:
                raise CorruptModel(f"{label}operator {k} reads tensor {i} before any operator writes it")
        ready.update(outs)
    for i in outputs:
        if i not in ready:
            raise CorruptModel(f"{label}output tensor {i} is not written by any operator")


def _check_subgraph(r: Reader, sg: int, s: int, n_opcodes: int, buffer_sizes: list[int]) -> tuple[int, int]:
    """Tensors, operators and inputs/outputs of subgraph ``s``; returns (tensor count, tensor bytes)."""
    label = f"subgraph {s} " if s else ""
    tables = r.tables(sg, 0)
    tensors = []
    for i, t in enumerate(tables):
        with _part(f"{label}tensor {i}"):
            tensors.append(_read_tensor(r, t, i))
    inputs, outputs = r.ints(sg, 1), r.ints(sg, 2)
    _check_indices(inputs, len(tensors), f"{label}input list")
    _check_indices(outputs, len(tensors), f"{label}output list")
    if s == 0 and inputs:
        _check_input(tensors[inputs[0]])
    total = 0
    for tensor, t in zip(tensors, tables):
        total += _check_tensor(tensor, len(buffer_sizes), buffer_sizes)
        with _part(f"{label}tensor {tensor.index}"):
            _check_quantization(r, t, tensor)
            r.string(t, 3)
    with _part(f"{label}operators"):
        ops = _check_operators(r, sg, label, len(tensors), n_opcodes)
    constants = {t.index for t in tensors if buffer_sizes[t.buffer] or t.variable}
    _check_dataflow(ops, set(inputs) | constants, outputs, label)
    return len(tensors), total


def _check_opcodes(r: Reader, root: int) -> int:
    codes = r.tables(root, 1)
    for k, oc in enumerate(codes):
        code = max(r.scalar(oc, 0, "b", 0), r.scalar(oc, 3, "i", 0))
        if not 0 <= code <= MAX_BUILTIN_CODE:
            raise CorruptModel(f"operator code {k} has builtin code {code}")
        r.string(oc, 1)
    return len(codes)


def _check_signatures(r: Reader, root: int, tensor_counts: list[int]) -> None:
    for k, sd in enumerate(r.tables(root, 7)):
        s = r.scalar(sd, 4, "I", 0)
        if s >= len(tensor_counts):
            raise CorruptModel(f"signature {k} names subgraph {s}, but there are {len(tensor_counts)}")
        for field in (0, 1):
            for tm in r.tables(sd, field):
                r.string(tm, 0)
                _check_indices([r.scalar(tm, 1, "I", 0)], tensor_counts[s], f"signature {k}")
        r.string(sd, 2)


def _check_metadata(r: Reader, root: int, n_buffers: int) -> None:
    for k, m in enumerate(r.tables(root, 6)):
        r.string(m, 0)
        idx = r.scalar(m, 1, "I", 0)
        if idx >= n_buffers:
            raise CorruptModel(f"metadata entry {k} names buffer {idx}, but there are {n_buffers}")
    start, n = r.vector(root, 5, 4)
    for k in range(n):
        if not 0 <= r.i32(start + 4 * k) < n_buffers:
            raise CorruptModel(f"metadata buffer {k} is out of range")


@contextmanager
def _part(label: str) -> Iterator[None]:
    """Name the part of the model that was being read when an offset or a table turned out bad."""
    try:
        yield
    except OutsideFile as exc:
        raise CorruptModel(f"{label}: {exc}", truncated=True) from None
    except CorruptModel:
        raise
    except FlatbufferError as exc:
        raise CorruptModel(f"{label}: {exc}") from None


def check_model(buf: bytes) -> None:
    """Raise FlatbufferError (CorruptModel for a damaged file) unless every structure LiteRT follows is sound."""
    check_header(buf)
    r = Reader(buf)
    with _part("root table"):
        root = r.indirect(0)
        version = r.scalar(root, 0, "I", 0)
    if version != SCHEMA_VERSION:
        raise CorruptModel(f"schema version {version}, expected {SCHEMA_VERSION}")
    with _part("buffers"):
        buffer_sizes = _check_buffers(r, r.tables(root, 4))
    with _part("operator codes"):
        n_opcodes = _check_opcodes(r, root)
    with _part("subgraphs"):
        subgraphs = r.tables(root, 2)
    if not subgraphs:
        raise CorruptModel("the model has no subgraph")
    counts, total = [], 0
    for s, sg in enumerate(subgraphs):
        with _part(f"subgraph {s}"):
            n, size = _check_subgraph(r, sg, s, n_opcodes, buffer_sizes)
        counts.append(n)
        total += size
    if total > MAX_TOTAL_BYTES:
        raise CorruptModel(f"its tensors need {total / 2**20:.0f} MiB (more than {MAX_TOTAL_BYTES >> 20} MiB)")
    with _part("signatures"):
        _check_signatures(r, root, counts)
    with _part("metadata"):
        _check_metadata(r, root, len(buffer_sizes))
