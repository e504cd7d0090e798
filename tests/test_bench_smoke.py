"""The new bench scripts run and print their table (tiny settings; the numbers are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.runtime.helpers import fixture_models

ROOT = Path(__file__).resolve().parents[1]


def test_face_cost_prints_a_ratio_per_model():
    models = fixture_models()
    proc = subprocess.run(
        [
            sys.executable,
            "bench/face_cost.py",
            str(models["int8"]),
            str(models["float"]),
            "--rounds",
            "2",
            "--faces",
            "5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.endswith(tuple("0123456789"))]
    assert len(rows) == 2 and rows[0].split()[-1] == "1.00"


def test_face_cost_names_a_missing_model_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "bench/face_cost.py", str(tmp_path / "no.tflite")], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "model not found" in proc.stderr and "Traceback" not in proc.stderr
