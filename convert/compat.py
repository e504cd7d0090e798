"""Which interpreter release a .tflite file needs, from its operator codes and versions.

The table maps (builtin op, op version) to the first TensorFlow Lite runtime release that registers that
kernel version. It is built from tensorflow/lite/tools/versioning/runtime_version.cc, restricted to the
ops a small image classifier converts to (convolutions, pooling, dense, activations, reshapes,
quantize/dequantize and the shape ops a dynamic batch brings in). FULLY_CONNECTED 12 (per-channel
dynamic-range dense) is not in the stored copy of that file; its 2.17.0 is what TF 2.21's converter
writes into ``min_runtime_version`` for a model whose newest op is that one.

A pair missing from the table is reported as unknown, never guessed; the converter's own
``min_runtime_version`` entry is also taken into account, and the larger of the two wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_runtime.model.tflite_meta import FlatModel

_V: dict[str, list[str | None]] = {
    "ADD": ["1.5.0", "1.14.0", "2.4.0", "2.6.0"],
    "AVERAGE_POOL_2D": ["1.5.0", "1.14.0", "2.3.0"],
    "CAST": ["1.5.0", "2.7.0", "2.8.0", "2.9.0", "2.12.0"],
    "CONCATENATION": ["1.5.0", "1.14.0", "2.3.0"],
    "CONV_2D": ["1.5.0", "1.14.0", "1.14.0", "2.3.0", "2.4.0", "2.9.0", "2.11.0"],
    "DEPTHWISE_CONV_2D": ["1.5.0", "1.12.0", "1.14.0", "2.2.0", "2.3.0", "2.3.0", "2.11.0"],
    "DEQUANTIZE": ["1.13.1", "1.14.0", "1.15.0", "2.2.0", "2.7.0"],
    "DIV": ["1.6.0", "2.3.0"],
    "FULLY_CONNECTED": [
        "1.5.0",
        "1.10.0",
        "1.14.0",
        "1.14.0",
        "2.0.0",
        "2.1.0",
        "2.3.0",
        "2.3.0",
        "2.3.0",
        "2.11.0",
        None,
        "2.17.0",
    ],
    "HARD_SWISH": ["1.15.0"],
    "LEAKY_RELU": ["1.13.1", "2.3.0"],
    "LOGISTIC": ["1.14.0", "1.14.0", "2.3.0"],
    "MAX_POOL_2D": ["1.5.0", "1.14.0", "2.3.0"],
    "MAXIMUM": ["1.14.0", "1.14.0", "2.3.0", "2.3.0"],
    "MEAN": ["1.6.0", "1.14.0", "2.4.0"],
    "MINIMUM": ["1.14.0", "1.14.0", "2.3.0", "2.3.0"],
    "MUL": ["1.5.0", "1.14.0", "1.15.0", "2.3.0", "2.6.0", "2.11.0"],
    "PACK": ["1.11.0", "1.14.0", "2.3.0"],
    "PAD": ["1.5.0", "1.14.0", "2.4.0", "2.6.0"],
    "PRELU": ["1.8.0"],
    "QUANTIZE": ["1.14.0", "1.15.0", "2.7.0"],
    "RELU": ["1.5.0", "2.1.0", "2.5.0"],
    "RELU6": ["1.5.0", "1.14.0", "2.5.0"],
    "RESHAPE": ["1.5.0"],
    "SHAPE": ["1.10.0"],
    "SOFTMAX": ["1.5.0", "1.14.0", "2.3.0"],
    "SQUEEZE": ["1.6.0", "2.5.0"],
    "STRIDED_SLICE": ["1.6.0", "1.14.0", "2.1.0", "2.2.0", "2.5.0", "2.6.0"],
    "SUB": ["1.6.0", "1.14.0", "2.3.0", "2.4.0", "2.4.0"],
    "SUM": ["1.10.0", "1.15.0"],
    "TANH": ["1.14.0", "1.14.0", "2.3.0"],
    "TRANSPOSE": ["1.6.0", "1.14.0", "1.15.0", "2.3.0", "2.4.0", "2.12.0"],
}

OP_MIN_RUNTIME: dict[tuple[str, int], str] = {
    (op, i + 1): v for op, versions in _V.items() for i, v in enumerate(versions) if v is not None
}

TARGETS = {"litert": None, "tflite-runtime": "2.14.0"}  # target name -> newest runtime it may need


def version_key(v: str) -> tuple[int, ...]:
    parts = []
    for p in v.split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def max_version(*versions: str | None) -> str | None:
    known = [v for v in versions if v]
    return max(known, key=version_key) if known else None


@dataclass(frozen=True)
class Compat:
    min_runtime_version: str | None  # the newest release any op needs (table and converter together)
    ops: tuple[tuple[str, int, str | None], ...]  # (op, version, first release or None when unknown)
    unknown: tuple[str, ...]  # "OP vN" pairs the table does not know
    converter_min_runtime: str | None  # what the converter wrote into the file

    def to_dict(self) -> dict:
        return {
            "min_runtime_version": self.min_runtime_version,
            "ops": [{"op": o, "version": v, "since": s} for o, v, s in self.ops],
            "unknown_ops": list(self.unknown),
            "converter_min_runtime_version": self.converter_min_runtime,
        }


def analyse(flat: FlatModel) -> Compat:
    ops = []
    unknown = []
    for oc in flat.op_codes:
        since = OP_MIN_RUNTIME.get((oc.name, oc.version))
        ops.append((oc.name, oc.version, since))
        if since is None:
            unknown.append(f"{oc.name} v{oc.version}")
    conv = flat.min_runtime_version
    overall = max_version(conv, *(s for _, _, s in ops))
    return Compat(min_runtime_version=overall, ops=tuple(ops), unknown=tuple(unknown), converter_min_runtime=conv)


def target_problem(compat: Compat, target: str) -> str | None:
    """Why a file cannot run on ``target`` (a one-line reason), or None when it can."""
    limit = TARGETS[target]
    if limit is None:
        return None
    if compat.unknown:
        return (
            f"ops {', '.join(compat.unknown)} are not in the op-version table, so loading in "
            f"{target} {limit} cannot be promised"
        )
    too_new = [f"{o} v{v} (needs {s})" for o, v, s in compat.ops if s and version_key(s) > version_key(limit)]
    if too_new:
        return f"{target} {limit} lacks {', '.join(too_new)}"
    if compat.min_runtime_version and version_key(compat.min_runtime_version) > version_key(limit):
        return f"the converter says the file needs runtime {compat.min_runtime_version}, newer than {limit}"
    return None
