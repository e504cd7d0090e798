"""The device install on other Pythons: `pip install ./edge_runtime` into a fresh venv pulls no TensorFlow,
ships the model, and hs-run works on Python 3.12 and 3.13 (skipped where that interpreter is not installed).
Marked slow: it installs from the package registry."""

import glob
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _python(version: str) -> str | None:
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        return found
    pyenv = sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}.*/bin/python3")))
    return pyenv[-1] if pyenv else None


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_base_install_runs_without_tensorflow(version, tmp_path):
    python = _python(version)
    if python is None:
        pytest.skip(f"no Python {version} here")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", str(ROOT / "edge_runtime")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    listed = subprocess.run([str(venv / "bin/python"), "-m", "pip", "list"], capture_output=True, text=True).stdout
    assert "tensorflow" not in listed.lower() and "keras" not in listed.lower()
    cv2.imwrite(str(tmp_path / "x.png"), np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    run = subprocess.run(
        [
            str(venv / "bin/hs-run"),
            "--source",
            str(tmp_path / "x.png"),
            "--roi",
            "frame",
            "--headless",
            "--json",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])["results"]
    assert "happysad_wild_int8.tflite" in run.stderr
