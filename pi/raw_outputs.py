"""The packaged models' raw outputs on fixed random inputs, as JSON: run on the host and on the emulated Pi with
the same interpreter package, the two must be identical (issue 11: with a Pi CPU model the int8 outputs are
bit-identical to x86; with qemu's default `max` the int8 model gives the same output for every input, which
`distinct` exposes).

Needs only numpy and an interpreter package (the same order as edge_runtime.model.interpreter.find_backend), so the
host's tflite-runtime venv (.cache/venv-tflrt, no OpenCV) can make the reference for the fallback.

    python pi/raw_outputs.py OUT.json [--models DIR] [--n 32]
    python pi/raw_outputs.py --compare HOST.json DEVICE.json    # one line; exit 1 unless identical
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


def find_interpreter() -> tuple[Any, str]:
    for module_name, dist in BACKENDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return module.Interpreter, f"{module_name} {metadata.version(dist)}"
    raise SystemExit("no TFLite interpreter installed")


def installed_models() -> Path:
    """edge_runtime/models of the installed package, found without importing it (it needs OpenCV)."""
    spec = importlib.util.find_spec("edge_runtime")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("edge_runtime is not installed: pass --models DIR")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def raw_outputs(models: Path, n: int) -> dict[str, dict[str, object]]:
    interpreter, backend = find_interpreter()
    result: dict[str, dict[str, object]] = {}
    for path in sorted(models.glob("*.tflite")):
        interp = interpreter(model_path=str(path))
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        shape, dtype = [1, *inp["shape"][1:]], np.dtype(inp["dtype"])
        if list(inp["shape"]) != shape:
            interp.resize_tensor_input(inp["index"], shape)
            interp.allocate_tensors()
        rng = np.random.default_rng(0)
        rows = []
        for _ in range(n):
            if np.issubdtype(dtype, np.integer):
                info = np.iinfo(dtype)
                x = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
            else:
                x = rng.random(size=shape, dtype=np.float32).astype(dtype)
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            rows.append(np.asarray(interp.get_tensor(out["index"])[0]).tolist())
        result[path.name] = {"backend": backend, "outputs": rows, "distinct": len({json.dumps(r) for r in rows})}
    return result


def compare(host_file: str, device_file: str) -> int:
    with open(host_file) as f:
        host = json.load(f)
    with open(device_file) as f:
        device = json.load(f)
    ok = host.keys() == device.keys()
    parts = []
    for name in sorted(host):
        h, d = host[name], device.get(name, {})
        same = h["outputs"] == d.get("outputs")
        varied = d.get("distinct", 0) > 1
        ok = ok and same and varied
        parts.append(
            f"{name}: {len(h['outputs'])} inputs, {'identical' if same else 'DIFFERENT'}, "
            f"{d.get('distinct', 0)} distinct outputs ({d.get('backend')} vs host {h['backend']})"
        )
    print(f"{'PASS' if ok else 'FAIL'}: raw outputs: " + "; ".join(parts))
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--models", type=Path, help="folder of .tflite files (default: the installed edge_runtime's)")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--compare", nargs=2, metavar=("HOST", "DEVICE"))
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        ap.error("OUT.json is needed")
    with open(args.out, "w") as f:
        json.dump(raw_outputs(args.models or installed_models(), args.n), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
