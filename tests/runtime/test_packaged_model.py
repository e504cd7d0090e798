"""The model shipped inside edge_runtime: present, self-describing, used when --model is not given."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from edge_runtime.cli.hs_run import app
from edge_runtime.model.classifier import PACKAGED_MODEL, load_classifier
from edge_runtime.model.tflite_meta import read
from tests.runtime.helpers import drawn

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_model_carries_its_preprocessing_and_card():
    """The default knows 'neither': happy, neutral, sad, calibrated, trained on several sources."""
    info = read(PACKAGED_MODEL).model_info_dict()
    assert info["labels"] == ["happy", "neutral", "sad"] and info["output"] == "softmax"
    pre = info["preprocessing"]
    assert (pre["height"], pre["width"], pre["channels"], pre["color_order"]) == (64, 64, 1, "GRAY")
    assert pre["face_crop"]["roi"] == "face" and 0.0 <= pre["face_crop"]["margin"] <= 0.1
    assert info["flip_average"] and info["fold"] == "neutral" and info["temperature"] > 0
    assert set(info["sources"]) == {"ferplus", "sfew", "nhfi"}
    assert info["training_metrics"]["ferplus"]["balanced_accuracy"] > 0.75
    assert json.loads(PACKAGED_MODEL.with_suffix(".json").read_text())["labels"] == ["happy", "neutral", "sad"]
    assert (PACKAGED_MODEL.parent / "MODEL_CARD.md").is_file()
    assert PACKAGED_MODEL.stat().st_size < 1_000_000


def test_binary_model_is_chosen_by_name():
    from edge_runtime.model.classifier import MODELS_DIR, PACKAGED, resolve_model

    assert resolve_model("happysad-binary") == MODELS_DIR / PACKAGED["happysad-binary"]
    info = read(resolve_model("happysad-binary")).model_info_dict()
    assert info["labels"] == ["happy", "sad"] and info["output"] == "sigmoid" and info["uncertain_band"] == 0.15


def test_hs_run_uses_the_packaged_model_without_tensorflow(tmp_path):
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 255, (60, 80, 3), np.uint8))
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from edge_runtime.cli.hs_run import main\n"
        f"sys.argv = ['hs-run', '--source', {str(tmp_path)!r}, '--roi', 'frame', '--headless', '--json', '-']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    assert rec["results"][0]["label"] in ("happy", "neutral", "sad", "uncertain")
    assert "happysad_wild_int8.tflite" in proc.stderr


def test_packaged_model_tells_a_drawn_smile_from_a_frown():
    """Not a benchmark: a sanity check that the shipped weights are the trained ones, not noise."""
    clf = load_classifier(PACKAGED_MODEL)
    faces = {lab: np.hsplit(drawn(row), 10) for lab, row in (("happy", "smiles"), ("sad", "frowns"))}
    from edge_runtime.faces.haar import HaarDetector
    from edge_runtime.model.preprocess import region_pixels

    det = HaarDetector(width=96)
    p = {}
    for lab, imgs in faces.items():
        scores = []
        for img in imgs:
            boxes = det.full(img, "BGR")
            box = max(boxes, key=lambda b: b[2] * b[3]) if boxes else None
            probs = clf.classify(region_pixels(img, box, clf.spec, "BGR")[None])[0]
            scores.append(probs[clf.info.labels.index("happy")])
        p[lab] = float(np.mean(scores))
    assert p["happy"] > p["sad"], p  # P(happy) of the smiles above that of the frowns


def test_cli_runner_default_model(tmp_path):
    cv2.imwrite(str(tmp_path / "b.png"), np.full((50, 50, 3), 128, np.uint8))
    res = CliRunner().invoke(
        app, ["--source", str(tmp_path / "b.png"), "--roi", "frame", "--headless", "--json", str(tmp_path / "o.jsonl")]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])["frame"] == 0


def test_three_class_model_is_chosen_by_name(tmp_path):
    from edge_runtime.model.classifier import MODELS_DIR, PACKAGED

    info = read(MODELS_DIR / PACKAGED["happysad-neutral"]).model_info_dict()
    assert info["labels"] == ["happy", "neutral", "sad"] and info["output"] == "softmax"
    cv2.imwrite(str(tmp_path / "c.png"), np.full((50, 50, 3), 90, np.uint8))
    res = CliRunner().invoke(
        app,
        [
            "--model",
            "happysad-neutral",
            "--source",
            str(tmp_path / "c.png"),
            "--roi",
            "frame",
            "--headless",
            "--json",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])
    assert set(rec["results"][0]["scores"]) == {"happy", "neutral", "sad"}
