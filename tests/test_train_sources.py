"""hs-train --source: FER+ votes as soft targets, class folders with a fold class, per-source hold-outs,
balanced sampling, camera augmentation, the source cache, calibration and per-source scores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.model.decision import decide_indices, uncertain_mask
from edge_runtime.model.spec import PreprocessSpec
from train.camera_augment import camera_augment
from train.cli import app
from train.source_metrics import expected_calibration_error, happy_sad, source_scores
from train.sources import SourceError, ferplus_target, holdout, load_ferplus, load_folders, sampling_weights

CLASSES = ["happy", "neutral", "sad"]
SPEC = PreprocessSpec.for_size(24, 1)
runner = CliRunner()
# The tiny network and settings of the source runs below (the first run and its --finish must agree on them).
MODEL_ARGS = ["--fold", "neutral", "--image-size", "24", "--channels", "1", "--arch", "compact", "--width", "0.5",
              "--val-fraction", "0.2", "--flip-average"]  # fmt: skip


def _face(value: int, size: int = 48) -> np.ndarray:
    img = np.full((size, size), value, np.uint8)
    cv2.circle(img, (size // 2, size // 2), size // 4, 255 - value, -1)
    return img


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """A FER+-style vote CSV beside its images, and class folders with an expression outside the classes."""
    root = tmp_path_factory.mktemp("sources")
    fer = root / "ferplus" / "train"
    fer.mkdir(parents=True)
    header = [
        "file",
        "neutral",
        "happiness",
        "surprise",
        "sadness",
        "anger",
        "disgust",
        "fear",
        "contempt",
        "unknown",
        "not_face",
    ]
    rows = []
    rng = np.random.default_rng(0)
    for i in range(60):
        kind = i % 4  # happy, neutral, sad, surprise
        votes = [0] * 10
        votes[[1, 0, 3, 2][kind]] = 7
        votes[0 if kind != 1 else 1] += 3
        cv2.imwrite(str(fer / f"f{i:03d}.png"), _face(40 + kind * 50 + int(rng.integers(0, 10))))
        rows.append([f"f{i:03d}.png", *votes])
    rows.append(["noface.png", 0, 0, 0, 0, 0, 0, 0, 0, 2, 8])  # dropped: too few face votes
    cv2.imwrite(str(fer / "noface.png"), _face(0))
    with (root / "ferplus" / "train.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    folders = root / "wild"
    for k, name in enumerate(("happy", "neutral", "sad", "angry")):
        (folders / name).mkdir(parents=True)
        for j in range(12):
            cv2.imwrite(str(folders / name / f"{j}.jpg"), cv2.cvtColor(_face(30 + 50 * k, 64), cv2.COLOR_GRAY2BGR))
    (folders / "happy" / "broken.jpg").write_bytes(b"not an image")
    return {"ferplus": root / "ferplus" / "train.csv", "folders": folders}


def test_ferplus_votes_become_soft_targets_with_other_expressions_folded():
    votes = {"neutral": 2, "happiness": 5, "surprise": 2, "sadness": 1, "unknown": 0, "not_face": 0}
    t = ferplus_target(votes, CLASSES, "neutral")
    assert np.allclose(t, [0.5, 0.4, 0.1])
    t = ferplus_target(votes, CLASSES, None)  # no fold: surprise votes are not counted
    assert np.allclose(t, [5 / 8, 2 / 8, 1 / 8])
    assert ferplus_target({"neutral": 3, "not_face": 7}, CLASSES, "neutral") is None


def test_load_ferplus_and_folders(sources):
    fer = load_ferplus(sources["ferplus"], CLASSES, SPEC, "neutral")
    assert len(fer) == 60 and fer.skipped == {"too few face votes": 1}
    assert fer.pixels.shape == (60, 24, 24, 1) and fer.pixels.dtype == np.uint8
    assert np.allclose(fer.targets.sum(axis=1), 1.0)
    assert np.bincount(fer.hard(), minlength=3).tolist() == [15, 30, 15]  # surprise counted as neutral
    wild = load_folders(sources["folders"], CLASSES, SPEC, "neutral")
    assert len(wild) == 48 and wild.skipped == {"not_an_image": 1}
    assert np.bincount(wild.hard()).tolist() == [12, 24, 12]
    assert len(load_folders(sources["folders"], CLASSES, SPEC, None)) == 36  # angry ignored without a fold
    with pytest.raises(SourceError):
        load_folders(sources["folders"] / "missing", CLASSES, SPEC)


def test_holdout_is_stratified_and_seeded_and_weights_balance_sources(sources):
    fer = load_ferplus(sources["ferplus"], CLASSES, SPEC, "neutral")
    train, val = holdout(fer, 0.2, seed=3)
    again, _ = holdout(fer, 0.2, seed=3)
    assert train.files == again.files and not set(train.files) & set(val.files)
    assert np.bincount(val.hard()).tolist() == [3, 6, 3]
    wild = load_folders(sources["folders"], CLASSES, SPEC, "neutral")
    w = sampling_weights([fer, wild], [2.0, 1.0])
    assert np.isclose(w.sum(), 1.0)
    assert np.isclose(w[: len(fer)].sum(), 2 / 3) and np.isclose(w[len(fer) :].sum(), 1 / 3)
    per_class = [w[: len(fer)][fer.hard() == c].sum() for c in range(3)]
    assert np.allclose(per_class, 2 / 9)  # within a source, each class an equal part


def test_camera_augment_keeps_shape_and_type_and_repeats_by_seed():
    px = np.random.default_rng(0).integers(0, 256, (48, 48, 1), dtype=np.uint8)
    a = camera_augment(px, np.random.default_rng(5))
    b = camera_augment(px, np.random.default_rng(5))
    assert a.shape == px.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    outs = [camera_augment(px, np.random.default_rng(s)) for s in range(20)]
    assert sum(not np.array_equal(o, px) for o in outs) >= 18
    assert np.array_equal(camera_augment(px, np.random.default_rng(1), strength=0.0)[:, ::-1], px) or np.array_equal(
        camera_augment(px, np.random.default_rng(1), strength=0.0), px
    )


def test_uncertain_rule_for_three_labels():
    p = np.array([[0.5, 0.45, 0.05], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    assert uncertain_mask(p, 0.5, 0.1).tolist() == [True, False, False]
    assert decide_indices(p, 0.5, 0.1).tolist() == [3, 0, 2]
    assert not uncertain_mask(p, 0.5, 0.0).any()
    two = np.array([[0.45, 0.55], [0.1, 0.9]])
    assert uncertain_mask(two, 0.5, 0.1).tolist() == [True, False]


def test_scores_ece_and_happy_vs_sad():
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    truth = np.array([0, 2, 2, 1])
    hs = happy_sad(probs, truth, CLASSES)
    assert hs["happy_recall"] == 1.0 and hs["sad_recall"] == 0.5 and hs["balanced_accuracy"] == 0.75
    perfect = np.eye(3)[[0, 1, 2]]
    assert expected_calibration_error(perfect, np.array([0, 1, 2])) == 0.0
    assert np.isclose(expected_calibration_error(np.array([[0.9, 0.05, 0.05]]), np.array([1])), 0.9)
    s = source_scores(probs, truth, CLASSES)
    assert s["neutral_labelled"]["neutral"] == 1.0 and {"ece", "happy_vs_sad", "balanced_accuracy"} <= s.keys()


def test_split_cache_round_trip_is_lossless(sources, tmp_path):
    from train.split_cache import load_split_cache, save_split
    from train.wild import Split

    fer = load_ferplus(sources["ferplus"], CLASSES, SPEC, "neutral")
    train, val = holdout(fer, 0.2, 0)
    save_split(Split([train], [val], [1.0]), tmp_path / "c.npz", {"sources": ["x"]})
    back, made_from = load_split_cache(tmp_path / "c.npz")
    assert made_from == {"sources": ["x"]}
    assert np.array_equal(back.train[0].pixels, train.pixels) and np.array_equal(back.val[0].targets, val.targets)
    assert back.train[0].files == train.files


def test_hs_train_source_run_writes_a_calibrated_three_class_run(sources, tmp_path):
    out = tmp_path / "run"
    cache = tmp_path / "cache.npz"
    sources_args = ["--source", f"fer={sources['ferplus']},share=2", "--source", f"wild={sources['folders']}"]
    args = [*sources_args, *MODEL_ARGS, "--epochs", "1", "--batch-size", "16", "--source-cache", str(cache),
            "--out", str(out), "--quiet"]  # fmt: skip
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert cache.is_file()
    info = json.loads((out / "model_info.json").read_text())
    assert info["labels"] == CLASSES and info["output"] == "softmax" and info["flip_average"]
    assert info["temperature"] > 0 and info["sources"] == ["fer", "wild"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["sources"]) == {"fer", "wild"}
    assert {"ece", "happy_vs_sad"} <= metrics["sources"]["wild"].keys()
    splits = json.loads((out / "splits.json").read_text())
    assert splits["classes"] == CLASSES and splits["splits"]["test"] == splits["splits"]["val"]
    # --finish remakes the model from the last epoch's checkpoint, reading the sources from the cache alone
    (out / "model.keras").unlink()
    r = runner.invoke(app, ["--source-cache", str(cache), *MODEL_ARGS, "--out", str(out), "--finish", "--quiet"])
    assert r.exit_code == 0, r.output
    assert (out / "model.keras").is_file()
    # a cache made from other sources is refused in one line
    r = runner.invoke(
        app,
        [*sources_args, "--fold", "neutral", "--source-cache", str(cache), "--out", str(tmp_path / "other"), "--quiet"],
    )
    assert r.exit_code == 2 and "made from other sources" in r.output


def test_resume_goes_on_from_the_last_epoch_with_the_schedule_where_it_stopped(sources, tmp_path):
    """A run cut short after 2 of 3 epochs: --resume trains the third only, from the checkpoint's weights and
    optimizer step; once every epoch has run, --resume is refused in one line (--finish is the way)."""
    import keras

    out = tmp_path / "run"
    cache = tmp_path / "cache.npz"
    base = ["--source", f"fer={sources['ferplus']}", "--source", f"wild={sources['folders']}", *MODEL_ARGS,
            "--batch-size", "16", "--source-cache", str(cache), "--out", str(out), "--quiet"]  # fmt: skip
    r = runner.invoke(app, [*base, "--epochs", "2"])
    assert r.exit_code == 0, r.output
    ckpt = out / "checkpoints" / "last.keras"
    steps_done = int(keras.models.load_model(ckpt).optimizer.iterations)
    r = runner.invoke(app, [*base, "--epochs", "3", "--resume"])
    assert r.exit_code == 0, r.output
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 1  # epoch 3 alone
    assert int(keras.models.load_model(ckpt).optimizer.iterations) == steps_done * 3 // 2
    r = runner.invoke(app, [*base, "--epochs", "3", "--resume"])
    assert r.exit_code == 2 and "3 of 3 epochs already" in r.output and "--finish" in r.output
    other = [a if a != "16" else "7" for a in base]  # another --batch-size: other epochs, refused
    r = runner.invoke(app, [*other, "--epochs", "4", "--resume"])
    assert r.exit_code == 2 and "not a whole number" in r.output and "--batch-size" in r.output


def test_bad_source_options_are_one_line(sources, tmp_path):
    r = runner.invoke(app, ["--source", f"{sources['folders']},weight=2", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "bad option" in r.output
    r = runner.invoke(app, ["--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "not found" in r.output
    r = runner.invoke(
        app, ["--source", str(sources["folders"]), "--classes", "happy,sad", "--out", str(tmp_path / "o3")]
    )
    assert r.exit_code == 2 and "three or more classes" in r.output
