"""hs-convert end to end on a tiny run folder made by the real trainer (a few seconds on 32 px images)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from convert.cli import app
from edge_runtime.model import tflite_meta

ROOT = Path(__file__).resolve().parents[1]
TFLRT_PYTHON = ROOT / ".cache" / "venv-tflrt" / "bin" / "python"
KINDS = ("float32", "float16", "dynamic", "int8")
runner = CliRunner()


def write_easy_images(
    root: Path, n_per_class: int = 30, size: int = 24, classes=("happy", "sad"), seed: int = 0
) -> Path:
    """Class folders of PNGs a tiny CNN separates in a few epochs: bright 'happy', dark 'sad' noise."""
    rng = np.random.default_rng(seed)
    for ci, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        mean = 170 - 85 * ci
        for i in range(n_per_class):
            img = np.clip(rng.normal(mean, 35, (size, size, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{name}_{i:03d}.png"), img)
    return root


def make_run(tmp: Path) -> Path:
    """A finished hs-train run folder (model.keras, saved_model/, model_info.json, splits.json, metrics.json)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from train.config import TrainConfig
    from train.trainer import train

    data = write_easy_images(tmp / "data")
    cfg = TrainConfig(
        data=str(data),
        out=str(tmp / "run"),
        epochs=8,
        image_size=32,
        arch="origin",
        augment=False,
        batch_size=4,
        learning_rate=2e-3,
        patience=0,
        val_fraction=0.2,
        test_fraction=0.3,
        verbose=0,
    )
    metrics = train(cfg)
    assert metrics["splits"]["test"]["balanced_accuracy"] >= 0.9, "tiny run did not learn; tests need a real model"
    return tmp / "run"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("convert_run"))


@pytest.fixture(scope="module")
def converted(run_dir, tmp_path_factory) -> tuple[Path, object, list[tuple[str, int]]]:
    """Every kind converted; also which files the device's Classifier.classify scored, and on how many images."""
    from edge_runtime.model.classifier import Classifier

    out = tmp_path_factory.mktemp("converted")
    args = [str(run_dir), "--out", str(out), "--calibration-samples", "20"]
    for kind in KINDS[1:]:
        args += ["--quantize", kind]
    scored: list[tuple[str, int]] = []
    classify = Classifier.classify

    def spy(self, pixels_batch):
        scored.append((self.path.name, len(pixels_batch)))
        return classify(self, pixels_batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Classifier, "classify", spy)
        result = runner.invoke(app, args)
    return out, result, scored


def _copy_run(run_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("model.keras", "model_info.json", "splits.json", "metrics.json"):
        shutil.copy2(run_dir / name, dest / name)
    return dest


def _run_tflite(path: Path, pixels: np.ndarray) -> float:
    """P(labels[1]) of one image, as hs-run computes it."""
    from edge_runtime.model.classifier import load_classifier

    return float(load_classifier(path, threads=1).classify(pixels[None])[0, 1])


def _test_split(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    from edge_runtime.model.spec import ModelInfo
    from train.pipeline import load_arrays

    entries = json.loads((run_dir / "splits.json").read_text())["splits"]["test"]
    spec = ModelInfo.from_dict(json.loads((run_dir / "model_info.json").read_text())).preprocessing
    x, y, skipped = load_arrays([e["path"] for e in entries], [e["label"] for e in entries], spec)
    assert skipped == 0 and len(x) == len(entries)
    return x, y


# ---------------------------------------------------------------------------------------------- happy path


def test_every_kind_is_written_and_runs_in_litert(converted, run_dir):
    out, result, _ = converted
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"model_{kind}.{ext}" for kind in KINDS for ext in ("tflite", "json")] + ["conversion_report.json"]
    )
    assert "int8 / float32 size" in result.stdout and result.stderr == ""  # nothing but the table on success
    from edge_runtime.io.imageio import read_image
    from edge_runtime.model.preprocess import to_model_pixels
    from edge_runtime.model.spec import ModelInfo

    first = json.loads((run_dir / "splits.json").read_text())["splits"]["test"][0]
    spec = ModelInfo.from_dict(json.loads((run_dir / "model_info.json").read_text())).preprocessing
    pixels = to_model_pixels(read_image(first["path"])[0], spec)
    probs = {kind: _run_tflite(out / f"model_{kind}.tflite", pixels) for kind in KINDS}
    for kind, p in probs.items():
        assert 0.0 <= p <= 1.0
        assert (p >= 0.5) == bool(first["label"]), f"{kind} misclassified an easy image"
    flat = {kind: tflite_meta.read(out / f"model_{kind}.tflite") for kind in KINDS}
    assert flat["int8"].inputs[0].type_code == 9 and flat["int8"].outputs[0].type_code == 9  # int8 in and out
    assert flat["float32"].inputs[0].shape == (1, 32, 32, 3)  # fixed batch of one
    assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & {o.name for f in flat.values() for o in f.op_codes}


def test_report_has_parity_for_every_model(converted):
    out, _, _ = converted
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["passed"] is True and report["failed"] == []
    assert list(report["models"]) == ["keras", *KINDS]
    keras_m = report["models"]["keras"]["metrics"]
    for kind in KINDS:
        m = report["models"][kind]
        for key in ("accuracy", "balanced_accuracy", "roc_auc", "f1", "roc_auc_per_class"):
            assert key in m["metrics"]
        assert set(m["metrics"]["f1"]) == {"happy", "sad"}
        assert m["agreement"] >= 0.9 and m["max_abs_prob_diff"] < 0.2
        assert m["near_constant"] is None and m["check"] == "passed"
        assert m["balanced_accuracy_drop_points"] == pytest.approx(
            100 * (keras_m["balanced_accuracy"] - m["metrics"]["balanced_accuracy"]), abs=1e-3
        )
        assert m["min_runtime_version"] and m["size_bytes"] == (out / m["file"]).stat().st_size
    assert report["models"]["int8"]["quantization"]["input"]["dtype"] == "int8"
    assert report["calibration"]["used"] == 20 and set(report["calibration"]["per_class"]) == {"happy", "sad"}
    assert report["models"]["dynamic"]["min_runtime_version"] == "2.17.0"  # per-channel dense: FC v12
    assert report["int8_size_ratio"] < 0.5


def test_parity_is_scored_by_the_device_classifier(converted, run_dir):
    """Each file's parity comes from hs-run's own Classifier (not a copy of it), and int8 still agrees with Keras:
    the report's numbers are what the shipped file gives through load_classifier on the test split."""
    import keras

    from edge_runtime.model.classifier import load_classifier

    out, _, scored = converted
    report = json.loads((out / "conversion_report.json").read_text())
    n = report["test"]["n"]
    assert sorted(scored) == sorted((f"model_{kind}.tflite", n) for kind in KINDS)
    x, _ = _test_split(run_dir)
    keras_p = keras.models.load_model(run_dir / "model.keras", compile=False).predict(x.astype(np.float32), verbose=0)
    int8_p = load_classifier(out / "model_int8.tflite", threads=1).classify(x)[:, 1]
    m, t = report["models"]["int8"], report["threshold"]
    assert m["agreement"] == pytest.approx(np.mean((int8_p >= t) == (keras_p[:, 0] >= t)))
    assert m["max_abs_prob_diff"] == pytest.approx(np.abs(int8_p - keras_p[:, 0]).max(), abs=1e-6)
    assert m["agreement"] >= 0.9 and m["max_abs_prob_diff"] < 0.2


def test_metadata_round_trip_reads_without_tensorflow(converted, run_dir):
    out, _, _ = converted
    code = """
import json, sys
from pathlib import Path
from edge_runtime.model import tflite_meta
from edge_runtime.model.spec import ModelInfo
out = Path(sys.argv[1])
for kind in ("float32", "float16", "dynamic", "int8"):
    d = tflite_meta.read(out / f"model_{kind}.tflite").model_info_dict()
    assert d == json.loads((out / f"model_{kind}.json").read_text()), kind
    info = ModelInfo.from_dict(d)
    assert info.labels == ("happy", "sad") and info.output == "sigmoid"
    assert info.preprocessing.height == 32 and info.preprocessing.face_crop.roi == "face"
    x = info.extra
    assert x["quantization"]["kind"] == kind and x["versions"]["tensorflow"] and x["versions"]["keras"]
    assert x["versions"]["happysad_edge"] and x["min_runtime_version"] and x["data_fingerprint"]
    assert x["training_metrics"]["test"]["balanced_accuracy"] >= 0.9 and x["parity"]["passed"] is True
    assert (x["calibration_samples"] == 20) == (kind == "int8")
assert "tensorflow" not in sys.modules and "keras" not in sys.modules
print("ok")
"""
    res = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
    run_info = json.loads((run_dir / "model_info.json").read_text())
    embedded = json.loads((out / "model_int8.json").read_text())
    for key in ("labels", "threshold", "output", "preprocessing", "data_fingerprint"):
        assert embedded[key] == run_info[key]


def test_softmax_model_over_three_classes(tmp_path):
    """A hand-made three-class run folder (softmax head): per-class metrics and int8 dequantized outputs."""
    import keras

    from edge_runtime.io.atomic import write_json
    from edge_runtime.model.spec import ModelInfo, PreprocessSpec

    classes = ["angry", "happy", "sad"]
    data = write_easy_images(tmp_path / "data", n_per_class=8, classes=classes)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    info = ModelInfo(labels=tuple(classes), preprocessing=PreprocessSpec.for_size(32), output="softmax")
    write_json(run / "model_info.json", info.to_dict())
    entries = [
        {"path": str(p), "label": classes.index(p.parent.name), "sha1": f"{i:040x}"}
        for i, p in enumerate(sorted(data.rglob("*.png")))
    ]
    write_json(run / "splits.json", {"classes": classes, "splits": {"train": entries[::2], "test": entries[1::2]}})
    result = runner.invoke(app, [str(run), "-q", "int8", "--calibration-samples", "10", "--max-accuracy-drop", "100"])
    assert result.exit_code == 0, result.output
    report = json.loads((run / "conversion_report.json").read_text())
    for kind in ("float32", "int8"):
        m = report["models"][kind]["metrics"]
        assert set(m["f1"]) == set(classes) and set(m["roc_auc_per_class"]) == set(classes)
        assert report["models"][kind]["max_abs_prob_diff"] < (1e-4 if kind == "float32" else 0.1)
    assert report["models"]["int8"]["quantization"]["output"]["shape"] == [1, 3]
    d = tflite_meta.read(run / "model_int8.tflite").model_info_dict()
    assert d["output"] == "softmax" and d["labels"] == classes and d["data_fingerprint"]


# ---------------------------------------------------------------------------------------------- failed check


def test_int8_that_loses_accuracy_is_kept_as_failed_check(run_dir, tmp_path, monkeypatch):
    import convert.calibration as cal

    out = tmp_path / "out"
    out.mkdir()
    (out / "model_int8.tflite").write_bytes(b"stale file from an earlier run")

    def black(pixels):  # calibrating on black images: every real pixel overflows the input range
        return cal.__dict__["_orig_representative"](np.zeros_like(pixels))

    monkeypatch.setitem(cal.__dict__, "_orig_representative", cal.representative)
    monkeypatch.setattr(cal, "representative", black)
    result = runner.invoke(app, [str(run_dir), "-q", "int8", "--out", str(out), "--calibration-samples", "10"])
    assert result.exit_code == 1, result.output
    assert "check failed: int8" in result.stderr and "model_int8.FAILED_CHECK.tflite" in result.stderr
    assert (out / "model_int8.FAILED_CHECK.tflite").is_file() and (out / "model_int8.FAILED_CHECK.json").is_file()
    assert not (out / "model_int8.tflite").exists() and not (out / "model_int8.json").exists()
    assert (out / "model_float32.tflite").is_file()
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["passed"] is False and report["failed"] == ["int8"]
    assert report["models"]["int8"]["balanced_accuracy_drop_points"] > 1.0
    assert "near-constant" in report["models"]["int8"]["near_constant"] and "ALARM int8" in result.stdout
    assert tflite_meta.read(out / "model_int8.FAILED_CHECK.tflite").model_info_dict()["parity"]["passed"] is False


# ---------------------------------------------------------------------------------------------- bad input


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _assert_clean_error(result, out: Path, fragment: str, before: list[str] | None = None) -> None:
    """Exit 2, one 'hs-convert: error:' line containing ``fragment``, and ``out`` as it was (``before``)."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hs-convert: error:") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert _listing(out) == (before or [])


def test_missing_run_folder(tmp_path):
    result = runner.invoke(app, [str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    _assert_clean_error(result, tmp_path / "out", "run folder not found")


def test_run_folder_without_model(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    (run / "model.keras").unlink()
    before = _listing(run)
    _assert_clean_error(runner.invoke(app, [str(run)]), run, "model.keras not found", before)


def test_corrupt_model_file(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    (run / "model.keras").write_bytes(b"PK\x03\x04 this is not a keras archive")
    _assert_clean_error(
        runner.invoke(app, [str(run), "--out", str(tmp_path / "out")]), tmp_path / "out", "is corrupt or truncated"
    )


def test_corrupt_model_info(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    (run / "model_info.json").write_text("{ not json")
    _assert_clean_error(
        runner.invoke(app, [str(run), "--out", str(tmp_path / "out")]), tmp_path / "out", "model_info.json"
    )


def test_run_without_test_split(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    splits = json.loads((run / "splits.json").read_text())
    del splits["splits"]["test"]
    (run / "splits.json").write_text(json.dumps(splits))
    _assert_clean_error(
        runner.invoke(app, [str(run), "--out", str(tmp_path / "out")]), tmp_path / "out", "no 'test' split"
    )


def test_too_few_calibration_images(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run")
    splits = json.loads((run / "splits.json").read_text())
    train = splits["splits"]["train"]
    splits["splits"]["train"] = [e for e in train if e["label"] == 0][:2] + [e for e in train if e["label"] == 1][:2]
    (run / "splits.json").write_text(json.dumps(splits))
    result = runner.invoke(app, [str(run), "-q", "int8", "--out", str(tmp_path / "out")])
    _assert_clean_error(result, tmp_path / "out", "too few calibration images")


def test_calibration_folder_with_other_classes(run_dir, tmp_path):
    data = write_easy_images(tmp_path / "other", n_per_class=2, classes=("angry", "happy"))
    result = runner.invoke(app, [str(run_dir), "-q", "int8", "--data", str(data), "--out", str(tmp_path / "out")])
    _assert_clean_error(result, tmp_path / "out", "has classes ['angry', 'happy']")


@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [("-q", "int4", "'float16', 'dynamic', 'int8'"), ("--target", "tflite", "'litert', 'tflite-runtime'")],
)
def test_unknown_choice_is_a_usage_error(option, value, choices, tmp_path):
    """--quantize and --target are Enums: Typer refuses other values (exit 2) and names the choices."""
    res = subprocess.run(
        [sys.executable, "-m", "convert.cli", str(tmp_path), option, value, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"'{value}' is not one of {choices}" in lines[0], res.stderr
    assert not (tmp_path / "out").exists()


def test_kinds_are_case_insensitive_and_library_calls_still_checked():
    from convert.cli import Quantize, Target
    from convert.core import output_kinds

    assert [q.value for q in Quantize] == ["float16", "dynamic", "int8"]
    assert [t.value for t in Target] == ["litert", "tflite-runtime"]
    assert output_kinds(["INT8", "float16"]) == ["float32", "float16", "int8"]


def test_help_shows_choices_and_defaults_and_version():
    help_text = runner.invoke(app, ["--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"}).stdout
    for shown in (
        "float16|dynamic|int8",
        "litert|tflite-runtime",
        "[default: (RUN_DIR)]",
        "[default: 200]",
        "[default: 1.0]",
        "[default: litert]",
        "x>=10",
        "Exit status",
    ):
        assert shown in help_text, shown
    assert "(default:" not in help_text  # defaults are shown by Typer, not written into help text
    from edge_runtime.cli.kit import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"hs-convert {version()}"


def test_target_that_cannot_run_the_file_is_refused(run_dir, tmp_path, monkeypatch):
    import convert.compat

    run = _copy_run(run_dir, tmp_path / "run")
    before = _listing(run)
    monkeypatch.setitem(convert.compat.TARGETS, "tflite-runtime", "1.13.0")  # pretend an interpreter that old
    result = runner.invoke(app, [str(run), "--target", "tflite-runtime"])
    _assert_clean_error(result, run, "cannot target tflite-runtime", before)
    assert "needs 1.14.0" in result.stderr


def test_console_script_error_is_one_line_without_traceback(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "convert.cli", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"hs-convert: error: run folder not found: {tmp_path / 'missing'}"]


# ---------------------------------------------------------------------------------------------- tflite-runtime


@pytest.fixture(scope="module")
def converted_for_tflite_runtime(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tflrt")
    result = runner.invoke(
        app,
        [
            str(run_dir),
            "--out",
            str(out),
            "--target",
            "tflite-runtime",
            "-q",
            "dynamic",
            "-q",
            "int8",
            "-q",
            "float16",
            "--calibration-samples",
            "20",
            "--data",
            str(Path(run_dir).parent / "data"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_tflite_runtime_target_avoids_new_op_versions(converted_for_tflite_runtime):
    out = converted_for_tflite_runtime
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["target"] == "tflite-runtime" and report["calibration"]["source"].startswith("--data")
    for kind in KINDS:
        m = report["models"][kind]
        assert tuple(int(p) for p in m["min_runtime_version"].split(".")) <= (2, 14, 0), (kind, m["compatibility"])
    ops = {(o.name, o.version) for o in tflite_meta.read(out / "model_dynamic.tflite").op_codes}
    assert ("FULLY_CONNECTED", 12) not in ops


@pytest.mark.skipif(not TFLRT_PYTHON.exists(), reason="no tflite-runtime 2.14 venv at .cache/venv-tflrt")
def test_tflite_runtime_214_loads_and_runs_every_file(converted_for_tflite_runtime, run_dir):
    out = converted_for_tflite_runtime
    code = """
import sys, numpy as np
from tflite_runtime.interpreter import Interpreter
import tflite_runtime
assert tflite_runtime.__version__.startswith("2.14"), tflite_runtime.__version__
for path in sys.argv[1:]:
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    out = it.get_output_details()[0]
    raw = it.get_tensor(out["index"]).astype(np.float32).ravel()[0]
    scale, zp = out["quantization"]
    print(path.rsplit("/", 1)[-1], (raw - zp) * scale if scale else raw)
"""
    files = [str(out / f"model_{k}.tflite") for k in KINDS]
    res = subprocess.run(
        [str(TFLRT_PYTHON), "-c", code, *files], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line.split() for line in res.stdout.strip().splitlines()]
    assert [name for name, _ in rows] == [f"model_{k}.tflite" for k in KINDS]
    assert all(0.0 <= float(p) <= 1.0 for _, p in rows)  # each file ran and gave a probability
