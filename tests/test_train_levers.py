"""The accuracy levers of issue 10: width multiplier, label smoothing, EMA of weights, random erasing, and the
hs-train options that set them (tiny images, seconds each)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import tiny_train_args
from train.augment import ERASE_AREA, augment_pixels, random_erase
from train.cli import app
from train.config import TrainConfig
from train.model import build_model, scaled
from train.trainer import SparseSmoothedCrossentropy, ema_options, make_loss, make_optimizer


def _filters(model: keras.Model) -> list[int]:
    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_width_multiplier_scales_every_compact_layer():
    base, wide, narrow = (build_model(48, 1, arch="compact", width=w) for w in (1.0, 1.5, 0.5))
    assert _filters(base) == [16, 16, 32, 32, 64, 64, 128, 128]
    assert _filters(wide) == [24, 24, 48, 48, 96, 96, 192, 192]
    assert _filters(narrow) == [8, 8, 16, 16, 32, 32, 64, 64]
    assert wide.get_layer("dense").units == 192 and narrow.get_layer("dense").units == 64
    assert narrow.count_params() < base.count_params() < wide.count_params()
    assert scaled(16, 0.1) == 8, "never fewer than 8 units"


def test_width_is_refused_where_it_means_nothing():
    with pytest.raises(ValueError, match="width"):
        build_model(32, 1, arch="origin", width=2.0)
    with pytest.raises(ValueError, match="width"):
        build_model(32, 1, arch="compact", width=0.0)


def test_binary_label_smoothing_pulls_targets_towards_one_half():
    assert make_loss(2) == "binary_crossentropy" and make_loss(3) == "sparse_categorical_crossentropy"
    loss = make_loss(2, 0.2)
    assert loss.get_config()["label_smoothing"] == pytest.approx(0.2)
    y, p = np.array([[1.0]]), np.array([[0.9]])
    want = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))  # target 1 -> 1 - 0.2/2
    assert float(loss(y, p)) == pytest.approx(want, rel=1e-4)


def test_categorical_label_smoothing_on_integer_labels():
    loss = make_loss(3, 0.3)
    assert isinstance(loss, SparseSmoothedCrossentropy)
    y, p = np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], np.float32)
    smooth = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])  # one-hot * 0.7 + 0.3 / 3
    want = float(np.mean(-(smooth * np.log(p)).sum(axis=1)))
    assert float(loss(y, p)) == pytest.approx(want, rel=1e-4)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert again.get_config() == loss.get_config(), "a checkpoint with this loss loads back (--resume)"
    with pytest.raises(ValueError):
        make_loss(2, 1.0)


def test_ema_weights_are_what_each_epoch_validates_and_saves():
    assert ema_options(0.0, 10) == {}
    assert ema_options(0.9, 7) == {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 7}
    with pytest.raises(ValueError):
        ema_options(1.0, 7)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(0, 255, (40, 16, 16, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 127).astype(np.float32)
    model = build_model(16, 1, arch="compact", width=0.5)
    steps = 5  # 40 images, batch 8
    opt = make_optimizer(TrainConfig(learning_rate=0.01, ema_momentum=0.8), steps)
    assert opt.use_ema and opt.ema_overwrite_frequency == steps
    model.compile(optimizer=opt, loss="binary_crossentropy")
    gaps: list[float] = []

    class Check(keras.callbacks.Callback):  # runs where RunState saves the epoch's (best) weights
        def on_epoch_end(self, epoch, logs=None):
            avg = [np.asarray(v) for v in opt._model_variables_moving_average]
            now = [np.asarray(v) for v in model.trainable_weights]
            gaps.append(max(float(np.max(np.abs(a - b))) for a, b in zip(avg, now, strict=True)))

    model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=[Check()])
    assert gaps == [0.0, 0.0, 0.0]


def test_random_erasing_fills_one_rectangle_with_noise():
    px = np.full((48, 48, 1), 128, np.uint8)
    out = random_erase(px.copy(), np.random.default_rng(3))
    changed = np.argwhere(out[..., 0] != 128)
    assert len(changed)
    (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0)
    box = (y1 - y0 + 1) * (x1 - x0 + 1)
    assert box <= ERASE_AREA[1] * 48 * 48 + 48, "one rectangle of at most the largest area"
    assert len(changed) >= 0.9 * box, "the rectangle is filled (noise equal to 128 aside)"


def test_random_erasing_in_augmentation_is_seeded_and_off_by_default():
    px = np.random.default_rng(0).integers(0, 256, (24, 24, 1), dtype=np.uint8)
    plain = augment_pixels(px, 5)
    assert np.array_equal(plain, augment_pixels(px, 5, erase=0.0)), "erase 0 leaves older runs identical"
    erased = augment_pixels(px, 5, erase=1.0)
    assert np.array_equal(erased, augment_pixels(px, 5, erase=1.0))
    assert not np.array_equal(erased, plain)
    mask = erased != plain
    assert mask.mean() <= ERASE_AREA[1] + 0.05


def test_hs_train_options_reach_the_run(tiny_data, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(tiny_data), "--out", str(out), "--arch", "compact", "--channels", "1"]
    args += ["--width", "0.5", "--label-smoothing", "0.1", "--ema-momentum", "0.9", "--random-erasing", "0.5"]
    args += ["--flip-average", *tiny_train_args(epochs=1)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["width"], cfg["label_smoothing"], cfg["ema_momentum"]) == (0.5, 0.1, 0.9)
    assert cfg["random_erasing"] == 0.5 and cfg["flip_average"] is True
    assert json.loads((out / "model_info.json").read_text())["flip_average"] is True
    model = keras.models.load_model(out / "model.keras", compile=False)
    assert model.get_layer("dense").units == 64


def test_defaults_change_nothing(tiny_run):
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert (cfg["width"], cfg["label_smoothing"], cfg["ema_momentum"], cfg["random_erasing"]) == (1.0, 0.0, 0.0, 0.0)
    assert "flip_average" not in json.loads((tiny_run / "model_info.json").read_text())
