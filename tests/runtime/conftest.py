"""The runtime tests' fixtures: the committed tiny models (no TensorFlow needed to run these tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.helpers import fixture_models


@pytest.fixture(scope="session")
def models() -> dict[str, Path]:
    """Tiny TFLite models by name (float, int8, int8_frame, bare, wrong, softmax2): read-only, shared."""
    return fixture_models()
