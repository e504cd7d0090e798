"""Shared fixtures: tiny synthetic data sets and runs, and the shared real data (skipped when absent).

Imports nothing heavy at the top: ``tests/runtime`` runs under it in a venv without TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def tiny_train_args(epochs: int = 2, batch_size: int = 16, augment: bool = True) -> list[str]:
    """hs-train options for a seconds-long run on ``tiny_data``: small images, small splits."""
    args = ["--epochs", str(epochs), "--image-size", "24", "--batch-size", str(batch_size), "--quiet"]
    args += ["--val-fraction", "0.2", "--test-fraction", "0.2"]
    return args if augment else [*args, "--no-augment"]


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test: a user's clone has no shared folder."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Two classes of small synthetic faces, 24 each."""
    from testkit.synthetic import write_dataset

    root = tmp_path_factory.mktemp("tiny_data")
    write_dataset(root, n_per_class=24, size=48, seed=1)
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A finished run folder of a 32x32 model trained for two epochs (shared, do not modify)."""
    from train.config import TrainConfig
    from train.trainer import train

    out = tmp_path_factory.mktemp("tiny_run")
    train(
        TrainConfig(
            data=str(tiny_data),
            out=str(out),
            epochs=2,
            image_size=32,
            batch_size=16,
            verbose=0,
            val_fraction=0.2,
            test_fraction=0.2,
        )
    )
    return out
