"""Flip averaging (issue 10): a model whose metadata records ``flip_average`` is run by the device on each
face and its mirror, with the mean of the two probabilities as the face's; without the field, as before.
Also: hs-train records it and hs-convert scores with the same rule, so the recorded metrics are the device's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convert.metadata import embed_model_info
from edge_runtime.errors import RuntimeFailure
from edge_runtime.model.classifier import PACKAGED_MODEL, Classifier, load_classifier
from edge_runtime.model.spec import ModelInfo
from edge_runtime.model.tflite_meta import parse


def _model_with(tmp_path: Path, name: str, **fields: object) -> Path:
    """The packaged happy/sad int8 model with its metadata's ``flip_average`` set as given (left out when None)."""
    data = (PACKAGED_MODEL.parent / "happysad_int8.tflite").read_bytes()  # sigmoid: its two scores sum to 1 exactly
    info = parse(data).model_info_dict()
    assert info is not None
    info.pop("flip_average", None)
    info.update({k: v for k, v in fields.items() if v is not None})
    path = tmp_path / name
    path.write_bytes(embed_model_info(data, info))
    return path


def _faces(clf: Classifier, n: int = 12) -> np.ndarray:
    """Left-right asymmetric pixels of the model's size: a face and its mirror score differently."""
    spec = clf.spec
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (n, spec.height, spec.width, spec.channels), dtype=np.uint8)
    x[:, :, : spec.width // 3] //= 3  # a dark left third
    return x


def _plain(clf: Classifier, pixels: np.ndarray) -> np.ndarray:
    """One invoke per image, no averaging: what a model without the field computes."""
    return np.stack([clf.probabilities(clf.runner.invoke(clf.to_tensor(p))) for p in pixels])


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Classifier, Classifier]:
    tmp = tmp_path_factory.mktemp("flip")
    return (
        load_classifier(_model_with(tmp, "flip.tflite", flip_average=True), threads=1),
        load_classifier(_model_with(tmp, "plain.tflite"), threads=1),
    )


def test_runtime_averages_a_face_and_its_mirror_when_the_metadata_says_so(pair):
    flip, plain = pair
    assert flip.info.flip_average and not plain.info.flip_average
    x = _faces(flip)
    got = flip.classify(x)
    want = (_plain(plain, x) + _plain(plain, x[:, :, ::-1])) / 2.0
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(got, _plain(plain, x), atol=1e-4), "the mirror does change the scores"
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_the_pipeline_path_averages_too(pair):
    """hs-run's pipeline calls to_tensor, infer and probabilities one by one (each stage timed)."""
    flip, plain = pair
    px = _faces(flip, 1)[0]
    raw = flip.infer(flip.to_tensor(px))
    assert raw.shape[0] == 2, "two invokes: the face and its mirror"
    want = (_plain(plain, px[None]) + _plain(plain, px[None, :, ::-1])) / 2.0
    np.testing.assert_allclose(flip.probabilities(raw), want[0], atol=1e-6)


def test_without_the_field_the_runtime_runs_each_face_once(pair, tmp_path):
    _, plain = pair
    x = _faces(plain)
    np.testing.assert_allclose(plain.classify(x), _plain(plain, x), atol=0)
    off = load_classifier(_model_with(tmp_path, "off.tflite", flip_average=False), threads=1)
    assert not off.info.flip_average
    np.testing.assert_allclose(off.classify(x), _plain(plain, x), atol=0)


def test_metadata_field_is_written_only_when_on_and_checked(tmp_path):
    info = ModelInfo.from_dict(parse(PACKAGED_MODEL.read_bytes()).model_info_dict() or {})
    from dataclasses import replace

    assert "flip_average" not in replace(info, flip_average=False).to_dict(), "older files stay as they were"
    on = replace(info, flip_average=True).to_dict()
    assert on["flip_average"] is True and ModelInfo.from_dict(on).flip_average
    with pytest.raises(RuntimeFailure, match="flip_average"):
        load_classifier(_model_with(tmp_path, "bad.tflite", flip_average="yes"))


def test_train_records_it_and_convert_scores_with_the_device_rule(tiny_data, tmp_path):
    """A tiny flip-averaged run: metrics.json, the Keras reference and every converted file use the mean over
    each image and its mirror, and the converter's int8 metrics are those of the device's Classifier."""
    from convert import convert_run
    from train.config import TrainConfig
    from train.metrics import classification_metrics
    from train.pipeline import load_arrays
    from train.trainer import train

    run = tmp_path / "run"
    cfg = TrainConfig(
        data=str(tiny_data),
        out=str(run),
        epochs=2,
        image_size=24,
        channels=1,
        arch="compact",
        batch_size=16,
        verbose=0,
        val_fraction=0.2,
        test_fraction=0.2,
        flip_average=True,
    )
    train(cfg)
    assert json.loads((run / "model_info.json").read_text())["flip_average"] is True
    report = convert_run(run, quantize=["int8"], max_accuracy_drop=100.0)
    assert report["flip_average"] is True
    path = run / "model_int8.tflite"
    assert parse(path.read_bytes()).model_info_dict()["flip_average"] is True  # type: ignore[index]
    clf = load_classifier(path, threads=1)
    splits = json.loads((run / "splits.json").read_text())["splits"]["test"]
    x, y, _ = load_arrays([s["path"] for s in splits], [s["label"] for s in splits], clf.spec)
    m = classification_metrics(y, clf.classify(x), list(clf.info.labels), clf.info.threshold)
    rec = report["models"]["int8"]["metrics"]
    assert rec["balanced_accuracy"] == pytest.approx(m["balanced_accuracy"])
    assert rec["roc_auc"] == pytest.approx(m["roc_auc"])
