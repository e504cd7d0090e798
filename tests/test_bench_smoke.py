"""Every bench script runs: a real run at tiny settings wherever one takes seconds (the committed tiny models, a
generated video, the drawn class-folder set), ``--help`` where it would take minutes or the shared data. Only
that the script ends well and prints its table is checked, never a number or a time. Runs on ../shared/data
skip when it is absent. TensorFlow's start-up alone costs seconds: those runs are marked slow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import FER2013_VAL, FERPLUS
from tests.runtime.helpers import fixture_models, write_video

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "common.py")
# A real run of each of these is below; the others need the shared data for minutes or train (help only).
REAL_RUNS = {
    "convert.py",
    "core_pair.py",
    "face_cost.py",
    "face_eval.py",
    "fer_search.py",
    "flip_tta.py",
    "headless_cost.py",
    "neutral_eval.py",
    "runtime.py",
    "soak.py",
    "stability.py",
}
# Help only: a real run needs the shared data for minutes (wild_eval) or trains (seed_kfold; train_throughput,
# whose TensorFlow start-up and model compile alone take ~15 s here); the first two also fail in one line on a
# missing input, below.
HELP_ONLY = {"seed_kfold.py", "wild_eval.py", "crop_eval.py", "train_throughput.py"}


def bench(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, f"bench/{script}", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def tables(stdout: str) -> list[list[list[str]]]:
    """The body rows (cell texts) of each markdown table printed."""
    found: list[list[list[str]]] = []
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if all(c and set(c) <= set("-:") for c in cells):  # the rule under a header: a new table starts
            found.append([])
        elif i + 1 < len(lines) and re.fullmatch(r"\|[-:|]+\|", lines[i + 1]):
            continue  # a header
        else:
            found[-1].append(cells)
    return found


def failed_in_one_line(proc: subprocess.CompletedProcess[str], words: str) -> None:
    assert proc.returncode != 0 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    return fixture_models()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 30-frame 160x120 video whose frames differ (no faces needed: face mode just finds none)."""
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", frames=30, size=(160, 120))


@pytest.fixture(scope="module")
def three_folders(tiny_data, tmp_path_factory) -> Path:
    """happy/, sad/ and neutral/ class folders of drawn faces (neutral: the happy ones again)."""
    root = tmp_path_factory.mktemp("three")
    for name, src in (("happy", "happy"), ("sad", "sad"), ("neutral", "happy")):
        (root / name).mkdir()
        for f in sorted((tiny_data / src).iterdir())[:8]:
            (root / name / f.name).symlink_to(f)
    return root


def test_every_script_is_covered():
    assert set(SCRIPTS) == REAL_RUNS | HELP_ONLY, "a new bench script needs a smoke test here"


@pytest.mark.parametrize("script", sorted(HELP_ONLY | {"face_eval.py"}))  # face_eval's run skips without the data
def test_help(script):
    out = ok(bench(script, "--help"))
    assert out.startswith("usage:")


def test_face_cost_prints_a_ratio_per_model(models):
    out = ok(bench("face_cost.py", models["int8"], models["float"], "--rounds", "2", "--faces", "5"))
    (rows,) = tables(out)
    assert [r[0] for r in rows] == ["tiny_int8.tflite", "tiny_float.tflite"] and rows[0][-1] == "1.00"


def test_face_cost_names_a_missing_model_in_one_line(tmp_path):
    failed_in_one_line(bench("face_cost.py", tmp_path / "no.tflite"), "model not found")


def test_core_pair_sums_one_pipeline_per_core(models, clip):
    out = ok(bench("core_pair.py", "--model", models["int8"], "--video", clip, "--frames", "20"))
    (rows,) = tables(out)
    assert rows[-1][0] == "sum" and len(rows) >= 2


def test_soak_samples_memory_of_a_short_run(models, clip):
    args = ["--model", models["int8"], "--video", clip, "--frames", "60", "--max-growth-mb", "100000"]
    out = ok(bench("soak.py", *args))
    (rows,) = tables(out)
    assert [r[0] for r in rows] == ["start (after 1 s)", "quarter 1", "quarter 2", "quarter 3", "quarter 4"]


def test_stability_on_the_synthetic_clip(models, tmp_path):
    out = ok(bench("stability.py", "--model", models["int8"], "--video", tmp_path / "none.mp4", "--frames", "30"))
    assert "real-clip table is skipped" in out
    (rows,) = tables(out)
    assert len(rows) == 8 and all(len(r) == 4 for r in rows)


def test_headless_cost_with_viewers(clip):
    out = ok(bench("headless_cost.py", "--video", clip, "--seconds", "0.2", "--rounds", "1"))
    rows = tables(out)[0]
    assert [r[0] for r in rows[:4]] == [
        "plain face mode",
        "--serve, 0 viewers",
        "--serve, 1 viewer",
        "--serve, 3 viewers",
    ]


def test_neutral_eval_on_drawn_faces(models, three_folders):
    out = ok(bench("neutral_eval.py", "--model", models["int8"], "--data", three_folders, "--bands", "0,0.2"))
    (rows,) = tables(out)
    assert [r[0] for r in rows] == ["0.00", "0.20"]


def test_neutral_eval_names_a_missing_folder(tmp_path):
    failed_in_one_line(bench("neutral_eval.py", "--data", tmp_path), "no happy/ folder")


def test_face_eval_help_names_its_measures():
    out = ok(bench("face_eval.py", "--help"))
    assert all(opt in out for opt in ("--sizes", "--faces", "--faceless", "--clip", "--json"))


@pytest.mark.parametrize("faces, data", [("fer2013", FER2013_VAL), ("ferplus", FERPLUS / "valid.csv")])
def test_face_eval_puts_every_detector_in_one_table(faces, data, tmp_path):
    if not data.exists():
        pytest.skip(f"{data} not present")
    from edge_runtime.errors import RuntimeFailure
    from edge_runtime.faces.detect import DETECTORS, resolve_detector

    try:
        resolve_detector("blazeface-both")
    except RuntimeFailure as exc:
        pytest.skip(str(exc))
    args = ["--faces", faces, "--n", 2, "--faceless", 3, "--rounds", 2, "--clip", "none", "--fit"]
    out = ok(bench("face_eval.py", *args, "--json", tmp_path / "t.json"))
    detect, fit = tables(out)
    assert [r[0] for r in detect] == list(DETECTORS) and fit
    assert len(json.loads((tmp_path / "t.json").read_text())["rows"]) == len(DETECTORS)


def test_fer_search_table_of_results_so_far(tmp_path):
    row = {"recipe": "compact48", "params": 1234, "epochs_run": 3, "s_per_epoch": 2.5}
    row |= {"fer_val_bal_acc_float32": 0.9, "fer_val_bal_acc_int8": 0.89, "fer_val_auc_int8": 0.95}
    row |= {"int8_ms_1thread": 0.3, "int8_kb": 40.1}
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    out = ok(bench("fer_search.py", "--table", "--out", tmp_path))
    (rows,) = tables(out)
    assert rows == [["compact48", "1234", "3", "2.5", "0.9000", "0.8900", "0.9500", "0.300", "40.1"]]


def test_seed_kfold_names_missing_data(tmp_path):
    failed_in_one_line(bench("seed_kfold.py", "--data", tmp_path / "none"), "not found")


def test_wild_eval_names_a_missing_model(tmp_path):
    proc = bench("wild_eval.py", tmp_path / "no.tflite", "--no-clip")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "model not found" in proc.stderr or "no data" in proc.stderr  # which depends on ../shared/data


@pytest.mark.slow
def test_runtime_one_round(models, clip):
    args = ["--model", models["int8"], "--video", clip, "--rounds", "1", "--frames", "10", "--headless-rounds", "0"]
    out = ok(bench("runtime.py", *args))
    (rows,) = tables(out)
    assert rows[0][0].startswith("bare invoke loop") and "face mode stages:" in out


@pytest.mark.slow
def test_flip_tta_on_drawn_faces(models, tiny_data):
    out = ok(bench("flip_tta.py", models["int8"], "--data", tiny_data))
    (rows,) = tables(out)
    assert [r[1] for r in rows] == ["plain", "flip_tta"] and rows[0][2] == "48"


@pytest.mark.slow
def test_convert_sizes_and_latency_of_a_tiny_run(tiny_run, tmp_path):
    args = ["--run", tiny_run, "--runs", "3", "--quantize", "int8", "--calibration-samples", "10"]
    out = ok(bench("convert.py", *args, "--json", tmp_path / "c.json"))
    (rows,) = tables(out)
    assert [r[0] for r in rows] == ["float32", "int8"] and "int8 / float32 size ratio" in out
    written = json.loads((tmp_path / "c.json").read_text())
    assert [r["kind"] for r in written["rows"]] == ["float32", "int8"] and written["params"] > 0


def test_crop_eval_names_a_missing_model(tmp_path):
    proc = bench("crop_eval.py", tmp_path / "no.tflite", "--no-clip")
    failed_in_one_line(proc, "model not found")
