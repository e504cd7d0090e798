"""Damaged copies of the shipped model either run or are refused with one line; never hang, crash or blow up
memory (issue 8: one changed byte declared an input of (1, 5767216, 48, 1) and LiteRT ate 1 GB/s).

Each mutated file first goes through load_classifier in-process with a tripwire in place of LiteRT: a file
the pure-Python checks refuse never reaches the interpreter, so that part is safe in-process. A file that
passes is loaded for real (load_classifier + one classify) in a child process with a time and memory limit.
"""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edge_runtime.cli.kit import exit_code_for
from edge_runtime.errors import EXIT_USAGE, RuntimeFailure
from edge_runtime.model import tflite_meta, validate
from edge_runtime.model.classifier import PACKAGED_MODEL, load_classifier
from edge_runtime.model.interpreter import Backend
from tests.runtime import fuzz_load

ISSUE8_MODEL = PACKAGED_MODEL.parent / "happysad_int8.tflite"  # the 48x48 model of the issue-8 report

REPO = Path(__file__).resolve().parents[2]
N_CASES = 300
SEED = 8
TIME_LIMIT_S = fuzz_load.TIME_LIMIT_S
MEMORY_LIMIT = fuzz_load.MEMORY_LIMIT
WORKERS = 2
CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # 2 shared cores
LITERT_INFO = "INFO: "  # LiteRT's own notice ("Created TensorFlow Lite XNNPACK delegate"), not ours


class _Reached(Exception):
    """The file passed every check before the interpreter: it must be tried in a child process."""


def _tripwire(**_kwargs: object) -> None:
    raise _Reached


TRIPWIRE = Backend(module=SimpleNamespace(Interpreter=_tripwire), name="tripwire", version="0")


def _limit_child() -> None:
    """Runs in the child before exec: a runaway allocation fails there instead of taking the machine."""
    fuzz_load.limit_memory()


def _weight_spans(buf: bytes) -> list[tuple[int, int]]:
    """Where the big constant buffers (weights, metadata) lie: flips there only change numbers."""
    r = tflite_meta.Reader(buf)
    spans = []
    for b in r.tables(r.indirect(0), 4):
        start, n = r.vector(b, 0)
        if n > 64:
            spans.append((start, start + n))
    return spans


def _structure_positions(buf: bytes) -> list[int]:
    spans = _weight_spans(buf)
    return [p for p in range(len(buf)) if not any(a <= p < b for a, b in spans)]


def _shape_positions(buf: bytes) -> list[int]:
    """Byte offsets of every tensor's shape dimensions: the issue-8 damage, aimed at directly."""
    r = tflite_meta.Reader(buf)
    positions = []
    for t in r.tables(r.tables(r.indirect(0), 2)[0], 0):
        start, n = r.vector(t, 0, 4)
        positions += [start + 4 * k for k in range(n)]
    return positions


def mutate(buf: bytes, rng: random.Random, structure: list[int], shapes: list[int]) -> tuple[bytes, str]:
    """One damaged copy; two thirds of the edits land in the flatbuffer's tables, the rest anywhere."""
    data = bytearray(buf)

    def pos() -> int:
        return rng.choice(structure) if rng.random() < 2 / 3 else rng.randrange(len(data))

    kind = rng.choice(["flip", "flip", "flip", "truncate", "zero", "copy", "int32", "shape"])
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            data[pos()] = rng.randrange(256)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    elif kind == "zero":
        p, n = pos(), rng.randint(1, 64)
        data[p : p + n] = bytes(len(data[p : p + n]))
    elif kind == "copy":
        n, src, dst = rng.randint(4, 64), rng.randrange(len(data) - 64), pos()
        data[dst : dst + n] = data[src : src + n]
    else:
        p = pos() & ~3 if kind == "int32" else rng.choice(shapes)
        value = rng.choice([0, -1, -2, 2, 3, 0x10000, 5767216, 0x7FFFFFFF, rng.randrange(-(2**31), 2**31)])
        data[p : p + 4] = struct.pack("<i", value)
    return bytes(data), kind


def _refusal_in_process(path: Path) -> str | None:
    """The RuntimeFailure line when load_classifier refuses the file before building an interpreter."""
    try:
        load_classifier(path, backend=TRIPWIRE)
    except _Reached:
        return None
    except RuntimeFailure as exc:
        return str(exc)
    raise AssertionError(f"{path}: load_classifier accepted a file without building an interpreter")


def _run_child(path: Path) -> subprocess.CompletedProcess:
    """One model in a fresh interpreter process, exactly as a user would start it."""
    return subprocess.run(
        [sys.executable, "-m", "tests.runtime.fuzz_load", str(path)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
        preexec_fn=_limit_child,
    )


def _run_forked(paths: list[Path]) -> list[tuple[str, str]]:
    """(exit status or 'timeout', stderr) per model: one forked, limited process each (tests/runtime/fuzz_load.py)."""
    if not paths:
        return []
    proc = subprocess.run(
        [sys.executable, "-m", "tests.runtime.fuzz_load", "--serve"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        input="".join(f"{p}\n" for p in paths),
        preexec_fn=_limit_child,
        timeout=len(paths) * (TIME_LIMIT_S + 1) + 30,
        env={**os.environ, **CHILD_ENV},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    status = dict(line.split("\t")[::-1] for line in proc.stdout.splitlines())
    return [(status[str(p)], Path(f"{p}.stderr").read_text(errors="replace")) for p in paths]


def _reason(message: str, path: Path) -> str:
    """'<path> is corrupt: tensor 3 declares shape [...]' -> 'corrupt: tensor N declares shape' (for counts)."""
    text = message.replace(str(path), "").strip()
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)|b'[^']*'", "", text)
    text = re.sub(r"-?\d+", "N", text)
    return " ".join(text.split()[:6])


def _check_child(case: str, path: Path, status: str, stderr: str) -> str:
    """'ran' or the refusal reason; fails on a hang, a signal, a traceback or more than one line of refusal."""
    assert status != "timeout", f"{case}: still loading after {TIME_LIMIT_S} s"
    rc = int(status)
    assert rc >= 0, f"{case}: killed by signal {-rc}\n{stderr[-2000:]}"
    assert "Traceback" not in stderr, f"{case}: traceback\n{stderr[-2000:]}"
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(LITERT_INFO)]
    if rc == 0:
        return "ran"
    assert rc == EXIT_USAGE, f"{case}: exit {rc}\n{stderr[-2000:]}"
    assert len(lines) == 1, f"{case}: refused with {len(lines)} lines:\n{stderr[-2000:]}"
    return "LiteRT: " + _reason(lines[0], path)


def test_mutated_models_run_or_are_refused_in_one_line(tmp_path):
    original = PACKAGED_MODEL.read_bytes()
    structure, shapes = _structure_positions(original), _shape_positions(original)
    rng = random.Random(SEED)
    start = time.monotonic()
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    to_run = []
    for i in range(N_CASES):
        data, kind = mutate(original, rng, structure, shapes)
        kinds[kind] += 1
        path = tmp_path / f"case{i:03d}_{kind}.tflite"
        path.write_bytes(data)
        refusal = _refusal_in_process(path)  # the checks read the header, not the weights (the suite's timeout)
        if refusal is None:
            to_run.append(path)
            continue
        assert "\n" not in refusal and str(path) in refusal, refusal
        outcomes["checks: " + _reason(refusal, path)] += 1
    with ThreadPoolExecutor(WORKERS) as pool:
        results = [r for chunk in pool.map(_run_forked, [to_run[k::WORKERS] for k in range(WORKERS)]) for r in chunk]
    for path, (status, stderr) in zip([p for k in range(WORKERS) for p in to_run[k::WORKERS]], results):
        outcomes[_check_child(path.name, path, status, stderr)] += 1
    refused = N_CASES - outcomes["ran"]
    print(
        f"\nmodel fuzz: {N_CASES} cases ({dict(kinds)}) in {time.monotonic() - start:.1f} s: "
        f"ran {outcomes['ran']}, refused {refused} ({len(to_run)} loaded in a child process)"
    )
    for reason, n in outcomes.most_common():
        print(f"  {n:4d}  {reason}")
    assert outcomes["ran"] > 0 and refused > 0


def _input_dim_offset(buf: bytes, dim: int) -> int:
    """Byte offset of dimension ``dim`` of the input tensor's shape, found with the runtime's own reader."""
    r = tflite_meta.Reader(buf)
    sg = r.tables(r.indirect(0), 2)[0]
    tensor = r.tables(sg, 0)[r.ints(sg, 1)[0]]
    start, n = r.vector(tensor, 0, 4)
    assert n == 4
    return start + 4 * dim


def test_issue8_input_shape_is_refused_in_one_line_quickly(tmp_path):
    """The reported file: input (1, 5767216, 48, 1). Refused before the interpreter exists, in well under 1 s."""
    data = bytearray(ISSUE8_MODEL.read_bytes())
    at = _input_dim_offset(bytes(data), 1)
    assert struct.unpack_from("<i", data, at)[0] == 48
    struct.pack_into("<i", data, at, 5767216)
    path = tmp_path / "model.tflite"
    path.write_bytes(bytes(data))
    with pytest.raises(RuntimeFailure) as info:
        load_classifier(path, backend=TRIPWIRE)  # refused before any interpreter (TRIPWIRE would fail)
    message = str(info.value)
    assert "\n" not in message and exit_code_for(info.value) == EXIT_USAGE
    assert message.startswith(f"{path} is corrupt: input tensor 0 declares shape [1, 5767216, 48, 1] (277 M elements)")


def test_issue8_file_through_the_real_path_exits_2_with_one_line(tmp_path):
    data = bytearray(ISSUE8_MODEL.read_bytes())
    struct.pack_into("<i", data, _input_dim_offset(bytes(data), 1), 5767216)
    path = tmp_path / "model.tflite"
    path.write_bytes(bytes(data))
    proc = _run_child(path)
    assert proc.returncode == EXIT_USAGE and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "declares shape [1, 5767216, 48, 1]" in proc.stderr


@pytest.mark.parametrize("size", [0, 3, 7, 100, 4096, 200_000])
def test_truncated_file_is_named_as_such(tmp_path, size):
    path = tmp_path / "model.tflite"
    path.write_bytes(PACKAGED_MODEL.read_bytes()[:size])
    with pytest.raises(RuntimeFailure) as info:
        load_classifier(path, backend=TRIPWIRE)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    if size < 8:
        assert "empty" in message or "no TFL3 identifier" in message
    else:
        assert "truncated or corrupt" in message and "lies outside the file" in message


def test_garbage_file_is_not_a_tflite_model(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(RuntimeFailure, match="is not a usable TFLite model: no TFL3 identifier"):
        load_classifier(path, backend=TRIPWIRE)


@pytest.mark.parametrize("name", ["happysad_wild_int8.tflite", "happysad_int8.tflite", "happysad_neutral_int8.tflite"])
def test_shipped_models_pass_the_checks(name):
    validate.check_model((PACKAGED_MODEL.parent / name).read_bytes())
