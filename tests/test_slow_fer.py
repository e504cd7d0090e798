"""Real data: a short training on FER-2013 must learn happy vs sad well above chance (marked slow)."""

import pytest

from tests.conftest import shared_path

pytestmark = pytest.mark.slow


def _subset(src, dst, per_class):
    for cls in ("happy", "sad"):
        (dst / cls).mkdir(parents=True)
        for f in sorted((src / cls).iterdir())[:per_class]:
            (dst / cls / f.name).symlink_to(f)


def test_short_fer_training_learns_well_above_chance(tmp_path):
    from train.config import TrainConfig
    from train.trainer import train

    fer = shared_path("fer2013")
    _subset(fer / "train", tmp_path / "train", 1500)
    _subset(fer / "val", tmp_path / "val", 300)
    metrics = train(
        TrainConfig(
            data=str(tmp_path / "train"),
            test_data=str(tmp_path / "val"),
            out=str(tmp_path / "run"),
            arch="origin",
            image_size=48,
            channels=1,
            epochs=6,
            batch_size=32,
            cache=True,
            verbose=0,
            deterministic=False,
        )
    )
    test = metrics["splits"]["test"]
    assert test["n"] == 600
    assert test["balanced_accuracy"] > 0.70, test
    assert test["roc_auc"] > 0.78, test
