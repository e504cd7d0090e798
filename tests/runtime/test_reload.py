"""`systemctl reload hs-run` (SIGHUP) swaps the model while the stream runs: no frame lost, no restart; a bad
model is refused in one line and the old one keeps running. Every JSON row names the model that made it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_runtime.errors import RuntimeFailure
from edge_runtime.model.classifier import MODELS_DIR, load_classifier
from edge_runtime.run.reload import check_model

from .headless_helpers import REPO, wait_for
from .helpers import FIXTURES, fixture_models

pytestmark = pytest.mark.timeout(300)


def scene_video(path: Path, frames: int = 30) -> Path:
    scene = cv2.imread(str(FIXTURES / "two_faces.jpg"), cv2.IMREAD_COLOR)
    h, w = scene.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for i in range(frames):
        writer.write(cv2.warpAffine(scene, np.float32([[1, 0, i % 7], [0, 1, 0]]), (w, h)))
    writer.release()
    return path


def rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_sighup_swaps_the_model_between_frames_and_refuses_a_bad_one(tmp_path):
    binary = shutil.copy(MODELS_DIR / "happysad_int8.tflite", tmp_path / "binary.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(Path(binary).read_bytes()[:100])
    config = tmp_path / "hs-run.toml"
    config.write_text('model = "happysad"\n')
    out, err = tmp_path / "rows.jsonl", tmp_path / "stderr.txt"
    video = scene_video(tmp_path / "clip.avi")
    with err.open("w") as err_file:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "edge_runtime.cli.hs_run", "--config", str(config), "--source", str(video)),
                *("--loop", "--headless", "--threads", "2", "--json", str(out)),
            ],
            cwd=REPO,
            stderr=err_file,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_for(lambda: len(rows(out)) >= 5, 120, "rows from the first model")
        config.write_text(f'model = "{binary}"\n')
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any(r["model"].startswith("binary.tflite#") for r in rows(out)), 120, "the swapped model")
        config.write_text(f'model = "{bad}"\n')
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in err.read_text(), 120, "the bad model refused")
        seen = len(rows(out))
        wait_for(lambda: len(rows(out)) >= seen + 5, 120, "rows after the refusal")
        assert proc.poll() is None, "the same process runs on"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 143
    got = rows(out)
    models = [r["model"] for r in got]
    first = models[0]
    assert first.startswith("happysad_wild_int8.tflite#")
    swapped = models.index(next(m for m in models if m != first))
    assert set(models[:swapped]) == {first} and set(models[swapped:]) == {models[-1]}, "one swap, never back"
    assert models[-1].startswith("binary.tflite#")
    assert {lab for r in got[swapped:] for lab in (f["label"] for f in r["results"])} <= {"happy", "sad", "uncertain"}
    frames = [r["frame"] for r in got]
    assert all(b == a + 1 or b == 0 for a, b in itertools.pairwise(frames)), "no frame lost"
    log = err.read_text()
    assert log.count("reload refused") == 1 and "still running" in log and "Traceback" not in log
    assert "reloaded: model binary.tflite#" in log


def test_a_model_for_whole_frames_is_refused_for_a_face_run():
    models = fixture_models()
    frame_model = load_classifier(models["int8_frame"], threads=1)
    with pytest.raises(RuntimeFailure, match="classifies frames"):
        check_model(frame_model, "face")
    check_model(load_classifier(MODELS_DIR / "happysad_int8.tflite", threads=1), "face")


def test_the_settings_are_read_again_without_click_installed(tmp_path, monkeypatch):
    """Typer may vendor click (no click package on a Pi): reading the settings again must not need it."""
    from edge_runtime.cli.hs_run import reread_settings

    config = tmp_path / "hs-run.toml"
    config.write_text('model = "happysad-binary"\n')
    monkeypatch.setitem(sys.modules, "click", None)  # `import click` now fails, as where it is absent
    monkeypatch.setattr(sys, "argv", ["hs-run", "--config", str(config), "--source", "x.mp4", "--threads", "1"])
    cfg = reread_settings()
    assert cfg.model == "happysad-binary" and cfg.input.source == "x.mp4" and cfg.threads == 1
    config.write_text("threads = 0\n")  # below --threads' minimum
    with pytest.raises(RuntimeFailure):
        reread_settings()
