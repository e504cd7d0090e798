"""A model newer than the installed interpreter is refused in one line naming both versions and the fix.

Runtime only: no TensorFlow, no interpreter needed (fake backends), so it also runs inside `make pi-check`.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from edge_runtime.cli.kit import exit_code_for
from edge_runtime.errors import EXIT_USAGE, RuntimeFailure
from edge_runtime.model.classifier import MODELS_DIR, PACKAGED_MODEL
from edge_runtime.model.compat_check import check_runtime_version, parse_version, runtime_version_problem
from edge_runtime.model.interpreter import Backend
from edge_runtime.model.tflite_meta import FlatModel, read


def backend(name: str, version: str) -> Backend:
    return Backend(module=SimpleNamespace(Interpreter=object), name=name, version=version)


TFLRT_214 = backend("tflite_runtime.interpreter", "2.14.0")
LITERT = backend("ai_edge_litert.interpreter", "2.3.0")


def needing(version: str | None) -> FlatModel:
    """The packaged model's description with its min_runtime_version entry replaced (or removed)."""
    flat = read(PACKAGED_MODEL)
    meta = {k: v for k, v in flat.metadata.items() if k != "min_runtime_version"}
    if version is not None:
        meta["min_runtime_version"] = version.encode() + b"\x00" * 4  # the converter pads the entry
    return dataclasses.replace(flat, metadata=meta)


def test_parse_version():
    assert parse_version("2.14.0") == (2, 14, 0)
    assert parse_version("2.17.0rc1") == (2, 17, 0)
    assert parse_version("1.14") == (1, 14, 0)
    assert parse_version("unknown") is None and parse_version(None) is None and parse_version("") is None


@pytest.mark.parametrize("name", sorted(p.name for p in MODELS_DIR.glob("*.tflite")))
def test_shipped_models_run_on_tflite_runtime_214(name):
    flat = read(MODELS_DIR / name)
    assert flat.min_runtime_version is not None
    check_runtime_version(flat, TFLRT_214)


def test_newer_model_on_tflite_runtime_is_refused_with_both_versions_and_the_fix():
    with pytest.raises(RuntimeFailure) as info:
        check_runtime_version(needing("2.17.0"), TFLRT_214, path="model.tflite")
    message = str(info.value)
    assert exit_code_for(info.value) == EXIT_USAGE and "\n" not in message
    assert message.startswith("model.tflite: ")
    assert "2.17.0" in message and "tflite_runtime.interpreter is 2.14.0" in message
    assert "hs-convert" in message and "--target tflite-runtime" in message


def test_same_or_older_requirement_passes():
    check_runtime_version(needing("2.14.0"), TFLRT_214)
    check_runtime_version(needing("2.13.1"), TFLRT_214)
    check_runtime_version(needing("2.17.0"), backend("tensorflow.lite", "2.21.0"))


def test_tensorflow_backend_is_compared_too():
    problem = runtime_version_problem(needing("2.21.0"), backend("tensorflow.lite", "2.16.1"))
    assert problem is not None and "2.21.0" in problem and "2.16.1" in problem


@pytest.mark.parametrize(
    ("flat", "be"),
    [
        (needing("9.0.0"), LITERT),  # LiteRT's own numbering says nothing about TensorFlow's
        (needing("9.0.0"), backend("tripwire", "0")),  # an unknown backend is not guessed at
        (needing("9.0.0"), backend("tflite_runtime.interpreter", "unknown")),
        (needing(None), TFLRT_214),  # no entry in the file
        (needing("not-a-version"), TFLRT_214),
    ],
)
def test_versions_that_cannot_be_compared_pass(flat, be):
    assert runtime_version_problem(flat, be) is None
    check_runtime_version(flat, be)
