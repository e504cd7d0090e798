"""Find a TFLite interpreter, build it once, and move tensors in and out of it.

Preference order matches what a Raspberry Pi has: LiteRT (``ai_edge_litert``), the older
``tflite_runtime`` wheel, and only as a last resort the full TensorFlow (imported lazily, never by default).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import RuntimeFailure, first_line

# (module with Interpreter/load_delegate, distribution name for the version)
_BACKENDS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


@dataclass(frozen=True)
class Backend:
    """Which interpreter package is in use; printed at start so a field report says what ran."""

    module: Any
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def find_backend(preferred: tuple[tuple[str, str], ...] = _BACKENDS) -> Backend:
    """The first importable interpreter package, or a clear error naming all that were tried."""
    for module_name, dist in preferred:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = getattr(module, "__version__", "unknown")
        interp = getattr(module, "Interpreter", None)
        if interp is not None:
            return Backend(module=module, name=module_name, version=version)
    tried = ", ".join(m for m, _ in preferred)
    raise RuntimeFailure(f"no TFLite interpreter installed (tried {tried}); pip install ai-edge-litert")


def load_delegate(backend: Backend, path: str) -> Any:
    """An external delegate (e.g. Coral's libedgetpu.so.1), or a one-line error saying why not."""
    loader = getattr(backend.module, "load_delegate", None)
    if loader is None:
        raise RuntimeFailure(f"{backend.name} cannot load external delegates")
    try:
        ctypes.CDLL(path)  # a clean OSError for a missing library, before LiteRT's noisier failure
    except OSError as exc:
        raise RuntimeFailure(f"cannot load delegate {path!r}: {first_line(exc)}") from None
    old_hook = sys.unraisablehook
    # A Delegate that failed to load complains again from its __del__; this run reports it once. Any other
    # thread's unraisable error in the meantime still reaches the hook that was there.
    sys.unraisablehook = lambda info: None if _from_delegate(info) else old_hook(info)
    try:
        return loader(path)
    except (ValueError, OSError, RuntimeError) as exc:
        raise RuntimeFailure(f"cannot load delegate {path!r}: {first_line(exc)}") from None
    finally:
        gc.collect()
        sys.unraisablehook = old_hook


def _from_delegate(info: Any) -> bool:
    return "Delegate" in str(getattr(info.object, "__qualname__", "") or info.object)


def build_interpreter(backend: Backend, model: Path, threads: int | None, delegate: str | None) -> Any:
    """One interpreter for the whole run, tensors allocated."""
    delegates = [load_delegate(backend, delegate)] if delegate else None
    try:
        interp = backend.module.Interpreter(
            model_path=str(model), num_threads=threads, experimental_delegates=delegates
        )
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise RuntimeFailure(f"{model} cannot be loaded by {backend.name}: {first_line(exc)}") from None
    return interp


@dataclass(frozen=True)
class TensorSpec:
    """What a tensor needs: its index, shape, dtype and (scale, zero point); scale 0 means float."""

    index: int
    shape: tuple[int, ...]
    signature: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)


def _spec(detail: dict[str, Any]) -> TensorSpec:
    scale, zp = detail.get("quantization", (0.0, 0))
    sig = detail.get("shape_signature", detail["shape"])
    return TensorSpec(
        index=int(detail["index"]),
        shape=tuple(int(v) for v in detail["shape"]),
        signature=tuple(int(v) for v in sig),
        dtype=np.dtype(detail["dtype"]),
        scale=float(scale),
        zero_point=int(zp),
    )


class Runner:
    """Set input, invoke, read the dequantized output: the only calls made per frame.

    Tensor indices and quantization are looked up once; a dynamic or larger batch is resized to 1 once,
    so the hot path never allocates tensors.
    """

    def __init__(self, interp: Any) -> None:
        self.interp = interp
        try:
            ins, outs = interp.get_input_details(), interp.get_output_details()
        except (UnicodeDecodeError, ValueError) as exc:  # a damaged tensor name or type in the flatbuffer
            raise RuntimeFailure(f"its tensors cannot be read: {first_line(exc)}") from None
        if len(ins) != 1 or len(outs) != 1:
            raise RuntimeFailure(f"not a classifier: expected 1 input and 1 output, found {len(ins)} and {len(outs)}")
        inp = _spec(ins[0])
        if len(inp.shape) == 4 and inp.shape[0] != 1:
            interp.resize_tensor_input(inp.index, [1, *inp.shape[1:]])
            interp.allocate_tensors()
            ins, outs = interp.get_input_details(), interp.get_output_details()
        self.input, self.output = _spec(ins[0]), _spec(outs[0])

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """One forward pass on a [1,H,W,C] tensor already in the input dtype; the raw output row."""
        self.interp.set_tensor(self.input.index, tensor)
        self.interp.invoke()
        out: np.ndarray = self.interp.get_tensor(self.output.index)[0]
        return out


def dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.quantized:
        return (values.astype(np.float32) - spec.zero_point) * spec.scale
    return values.astype(np.float32, copy=False)
