"""Model loading, tensor I/O parity with preprocess, bad model files, and the no-TensorFlow guarantee."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.errors import RuntimeFailure
from edge_runtime.io.imageio import read_image
from edge_runtime.io.sources import ImageListSource, VideoFileSource
from edge_runtime.model.classifier import ModelOptions, load_classifier
from edge_runtime.model.preprocess import quantize, region_pixels, to_model_pixels
from edge_runtime.run.pipeline import Pipeline
from edge_runtime.run.track import Tracker
from tests.runtime.helpers import face_image, write_video

REPO = Path(__file__).resolve().parents[2]


def test_int8_input_tensor_equals_quantized_preprocess(models, tmp_path):
    """What the runtime hands the interpreter for an image == quantize(to_model_pixels(image))."""
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), face_image(80, seed=3))
    clf = load_classifier(models["int8_frame"])
    pipe = Pipeline(clf, None, Tracker(clf.info.labels), [])
    summary = pipe.run(ImageListSource([path], str(path)))
    assert summary.frames == 1
    inp = clf.runner.input
    fed = clf.runner.interp.get_tensor(inp.index)
    rgb, _ = read_image(path)
    expected = quantize(to_model_pixels(rgb, clf.spec), inp.scale, inp.zero_point, np.int8)[None]
    assert fed.dtype == np.int8 and np.array_equal(fed, expected)


def test_bgr_video_frame_face_crop_matches_rgb_preprocess(models):
    """A BGR camera frame cropped to a face box gives the same tensor as the RGB image would."""
    clf = load_classifier(models["int8"])
    bgr = face_image(120, seed=5)
    box = (30, 20, 50, 60)
    from_bgr = clf.to_tensor(region_pixels(bgr, box, clf.spec, "BGR"))
    from_rgb = quantize(
        region_pixels(bgr[:, :, ::-1].copy(), box, clf.spec, "RGB"),
        clf.runner.input.scale,
        clf.runner.input.zero_point,
        np.int8,
    )[None]
    assert np.array_equal(from_bgr, from_rgb)


def test_float_and_int8_agree_and_probabilities_sum_to_one(models):
    f32, i8 = load_classifier(models["float"]), load_classifier(models["int8"])
    batch = np.stack([to_model_pixels(face_image(48, seed=s)[:, :, ::-1], f32.spec) for s in range(4)])
    pf, pq = f32.classify(batch), i8.classify(batch)
    assert pf.shape == (4, 2) and np.allclose(pf.sum(axis=1), 1.0)
    assert np.abs(pf - pq).max() < 0.05


def test_video_source_reads_every_frame(models, tmp_path):
    video = write_video(tmp_path / "v.avi", frames=9)
    clf = load_classifier(models["int8_frame"])
    summary = Pipeline(clf, None, Tracker(clf.info.labels), []).run(VideoFileSource(str(video)))
    assert summary.frames == 9 and summary.results == 9


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "model file not found"),
        ("truncated", "truncated or corrupt|not a usable TFLite model"),
        ("not_tflite", "not a usable TFLite model"),
        ("wrong", "not a 2-label sigmoid classifier"),
        ("bare", "no happysad metadata; pass --labels"),
    ],
)
def test_bad_model_files_fail_with_one_clear_line(models, tmp_path, case, message):
    path = {"missing": tmp_path / "nope.tflite", "wrong": models["wrong"], "bare": models["bare"]}.get(case)
    if case == "truncated":
        path = tmp_path / "cut.tflite"
        path.write_bytes(models["int8"].read_bytes()[:900])
    elif case == "not_tflite":
        path = tmp_path / "model.tflite"
        path.write_bytes(b"<html>404 not found</html>" * 10)
    with pytest.raises(RuntimeFailure, match=message) as err:
        load_classifier(path)
    assert "\n" not in str(err.value)


def test_model_without_metadata_runs_with_command_line_options(models):
    clf = load_classifier(models["bare"], ModelOptions(labels=("happy", "sad"), threshold=0.7, roi="frame"))
    assert clf.info.labels == ("happy", "sad") and clf.info.threshold == 0.7
    assert (clf.spec.height, clf.spec.channels) == (32, 3) and clf.info.preprocessing.face_crop.roi == "frame"
    with pytest.raises(RuntimeFailure, match="preprocessing says"):
        load_classifier(models["bare"], ModelOptions(labels=("happy", "sad"), size=64))


def test_runtime_never_imports_tensorflow(models, tmp_path):
    """A fresh interpreter runs the CLI on a model with TensorFlow and Keras made unimportable."""
    video = write_video(tmp_path / "v.avi", frames=4)
    script = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        from edge_runtime.cli.hs_run import app
        app(["--model", {str(models["int8"])!r}, "--source", {str(video)!r}, "--json", {str(tmp_path / "o.jsonl")!r},
             "--headless"], standalone_mode=False)
        print("LOADED", sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout
    assert "ai_edge_litert" in out.stderr or "tflite_runtime" in out.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 4


def test_a_folder_or_a_huge_file_as_model_is_one_clear_line(tmp_path):
    import os

    from edge_runtime.errors import RuntimeFailure
    from edge_runtime.model.classifier import MAX_MODEL_BYTES, load_classifier

    with pytest.raises(RuntimeFailure, match="is a folder"):
        load_classifier(tmp_path)
    huge = tmp_path / "huge.tflite"
    with open(huge, "wb") as f:  # sparse: no disk used, but stat says 3 GB
        f.truncate(MAX_MODEL_BYTES + (1 << 30))
    assert os.path.getsize(huge) > MAX_MODEL_BYTES
    with pytest.raises(RuntimeFailure, match="MB; a classifier for this runtime is under"):
        load_classifier(huge)
