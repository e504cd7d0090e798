"""hs-train when things go wrong: an --out that is not ours, replacing a run, signals, a runtime-only
install, files and checkpoints damaged under a run, OpenCV refusing to encode, and internal errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import tiny_train_args
from train import trainer
from train.cli import app
from train.tfenv import INSTALL_HINT

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
FAST = tiny_train_args(epochs=1, augment=False)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def old_run(tiny_run, tmp_path) -> Path:
    """A private copy of a finished run (tiny_run is shared and must not change)."""
    out = tmp_path / "runs" / "r"
    shutil.copytree(tiny_run, out)
    return out


def _one_error_line(res, code: int = 2) -> str:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("hs-train: error:"), res.stderr
    return lines[-1]


def test_an_existing_run_is_refused_without_resume_or_overwrite(tiny_data, old_run):
    before = _snapshot(old_run)
    line = _one_error_line(runner.invoke(app, ["--data", str(tiny_data), "--out", str(old_run), *FAST]))
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert _snapshot(old_run) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_that_is_not_a_run_is_never_written_or_deleted(tiny_data, tmp_path, overwrite):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    args = ["--data", str(tiny_data), "--out", str(mine), *FAST] + (["--overwrite"] if overwrite else [])
    assert "not an hs-train run" in _one_error_line(runner.invoke(app, args))
    assert _snapshot(mine) == {"holiday.jpg": b"precious"}


@pytest.mark.parametrize(
    "looks_like_a_run",
    [
        {"checkpoints/ckpt.weights.h5": b"mine", "model.keras": b"mine", "train.py": b"my code"},
        {"splits.json": b"not json", "notes.txt": b"mine"},
        {"splits.json": b'{"paths": []}', "notes.txt": b"mine"},
    ],
    ids=["familiar names", "splits.json not json", "splits.json of another tool"],
)
def test_overwrite_never_deletes_a_folder_that_only_looks_like_a_run(tiny_data, tmp_path, looks_like_a_run):
    """--overwrite deletes what is_run_folder accepts, so one familiar name is not enough to be a run."""
    mine = tmp_path / "project"
    for name, data in looks_like_a_run.items():
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_bytes(data)
    res = runner.invoke(app, ["--data", str(tiny_data), "--out", str(mine), *FAST, "--overwrite"])
    assert "not an hs-train run" in _one_error_line(res)
    assert _snapshot(mine) == looks_like_a_run and [p.name for p in tmp_path.iterdir()] == ["project"]


def test_overwrite_through_a_link_is_refused_and_both_are_kept(tiny_data, tmp_path, old_run):
    link = tmp_path / "latest"
    link.symlink_to(old_run, target_is_directory=True)
    before = _snapshot(old_run)
    line = _one_error_line(runner.invoke(app, ["--data", str(tiny_data), "--out", str(link), *FAST, "--overwrite"]))
    assert "symbolic link" in line and str(old_run.resolve()) in line
    assert link.is_symlink() and _snapshot(old_run) == before


def test_an_out_that_is_a_file_or_both_resume_and_overwrite_is_refused(tiny_data, tmp_path, old_run):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    line = _one_error_line(runner.invoke(app, ["--data", str(tiny_data), "--out", str(a_file), *FAST]))
    assert "is a file" in line and a_file.read_text() == "keep"
    line = _one_error_line(
        runner.invoke(app, ["--data", str(tiny_data), "--out", str(old_run), *FAST, "--resume", "--overwrite"])
    )
    assert "exclude each other" in line


def test_overwrite_replaces_the_whole_run_and_leaves_nothing_beside_it(tiny_data, old_run):
    (old_run / "stale_notes.txt").write_text("from the old run")
    res = runner.invoke(app, ["--data", str(tiny_data), "--out", str(old_run), *FAST, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert not (old_run / "stale_notes.txt").exists(), "no file of the old run is mixed into the new one"
    assert json.loads((old_run / "model_info.json").read_text())["preprocessing"]["height"] == 24  # the new run
    assert len(json.loads((old_run / "history.json").read_text())["loss"]) == 1
    assert [p.name for p in old_run.parent.iterdir()] == ["r"]


@pytest.mark.parametrize(
    "signal_exc, code, word", [(KeyboardInterrupt, 130, "interrupted"), ("Terminated", 143, "terminated")]
)
def test_an_interrupted_overwrite_puts_the_old_run_back(tiny_data, old_run, monkeypatch, signal_exc, code, word):
    from edge_runtime.errors import Terminated

    exc = Terminated if signal_exc == "Terminated" else signal_exc
    before = _snapshot(old_run)

    def half_a_run(cfg):
        cfg.run_dir.mkdir(parents=True)
        (cfg.run_dir / "splits.json").write_text("{}")  # the new run's first files
        raise exc

    monkeypatch.setattr(trainer, "train", half_a_run)
    res = runner.invoke(app, ["--data", str(tiny_data), "--out", str(old_run), *FAST, "--overwrite"])
    assert res.exit_code == code
    assert word in res.stderr and "previous run was put back" in res.stderr
    assert _snapshot(old_run) == before
    assert [p.name for p in old_run.parent.iterdir()] == ["r"]


def test_an_internal_error_is_one_line_and_exit_1(tiny_data, tmp_path, monkeypatch):
    def broken(cfg):
        raise RuntimeError("something impossible\nwith a second line")

    monkeypatch.setattr(trainer, "train", broken)
    monkeypatch.delenv("HS_DEBUG", raising=False)
    res = runner.invoke(app, ["--data", str(tiny_data), "--out", str(tmp_path / "o"), *FAST])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines()[-1] == (
        "hs-train: internal error: RuntimeError: something impossible (HS_DEBUG=1 shows a traceback)"
    )
    assert "Traceback" not in res.output


def test_sigterm_ends_training_like_ctrl_c_and_leaves_no_debris(tiny_data, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "train.cli",
            "--data",
            str(tiny_data),
            "--out",
            str(out),
            *FAST,
            "--epochs",
            "500",
            "--patience",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:  # an epoch's closing line: its checkpoint is written
            if "val_loss" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "hs-train: terminated (SIGTERM); resume with --resume" in err
    assert "Traceback" not in err
    assert (out / "checkpoints" / "state.json").is_file()
    assert [str(p) for p in out.rglob(".*")] == [], "no hidden temporary file is left in the run folder"


def test_a_runtime_only_install_names_the_extra_to_install(tmp_path):
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.argv = ['hs-train', '--out', sys.argv[1]]; "
        "from train.cli import main; main()"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"hs-train: error: training needs tensorflow, not installed: {INSTALL_HINT}"
    ]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("damage", ["last.keras", "state.json"])
def test_a_truncated_checkpoint_is_called_corrupt_not_missing(tiny_data, old_run, damage):
    ckpt = old_run / "checkpoints" / damage
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    line = _one_error_line(
        runner.invoke(app, ["--data", str(tiny_data), "--out", str(old_run), *FAST, "--epochs", "3", "--resume"])
    )
    assert "corrupt or truncated" in line and damage in line
    assert "not found" not in line.lower()


def test_files_unreadable_during_training_are_skipped_and_reported(tiny_data, tmp_path, monkeypatch):
    from train.config import TrainConfig

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    real_prepare = trainer.prepare_splits

    def prepare_then_lose_a_file(cfg):
        splits, classes, reports = real_prepare(cfg)
        Path(splits["train"][0].path).unlink()  # gone after the check, before training reads it
        return splits, classes, reports

    monkeypatch.setattr(trainer, "prepare_splits", prepare_then_lose_a_file)
    out = tmp_path / "run"
    metrics = trainer.train(
        TrainConfig(
            data=str(data),
            out=str(out),
            epochs=1,
            image_size=24,
            batch_size=16,
            verbose=0,
            augment=False,
            val_fraction=0.2,
            test_fraction=0.2,
        )
    )
    assert metrics["skipped_during_training"] == 1
    assert metrics["splits"]["train"]["n"] == 28 - 1
    report = json.loads((out / "data_report.json").read_text())["skipped_during_training"]
    assert report["count"] == 1 and report["by_reason"] == {"unreadable": 1}
    assert json.loads((out / "metrics.json").read_text())["skipped_during_training"] == 1


def test_facecrop_skips_and_counts_a_crop_opencv_cannot_encode(tmp_path, monkeypatch):
    import cv2

    from train import facecrop

    (tmp_path / "src" / "happy").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "src" / "happy" / "a.png"), np.full((64, 64, 3), 120, np.uint8))

    class OneFace:
        def __init__(self, **_):
            pass

        def full(self, rgb, order):
            return [(8, 8, 40, 40)]

    monkeypatch.setattr(facecrop, "HaarDetector", OneFace)
    monkeypatch.setattr(facecrop.cv2, "imencode", lambda *a, **k: (False, None))
    counts = facecrop.crop_folder(tmp_path / "src", tmp_path / "dst")
    assert counts == {"skipped_encode_failed": 1}
    assert not (tmp_path / "dst").exists()


def test_fer_csv_import_stops_clearly_when_opencv_cannot_encode(tmp_path, monkeypatch):
    from train import facecrop
    from train.fer_csv import import_csv

    csv_path = tmp_path / "fer.csv"
    csv_path.write_text("emotion,pixels,Usage\n3," + " ".join(["7"] * 48 * 48) + ",Training\n")
    monkeypatch.setattr(facecrop.cv2, "imencode", lambda *a, **k: (False, None))
    with pytest.raises(ValueError, match="could not encode row 1"):
        import_csv(csv_path, tmp_path / "out")
    assert not list(tmp_path.rglob("*.png"))


def test_every_cli_option_reaches_the_config_and_defaults_come_from_it(tmp_path, monkeypatch):
    import typer.main

    from train.config import TrainConfig, defaults, plain_value

    seen = {}

    def capture(cfg):
        seen["cfg"] = cfg
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", capture)
    command = typer.main.get_command(app)
    fields = set(TrainConfig.__dataclass_fields__)
    for param in command.params:
        if param.name in fields and param.default is not None:
            assert plain_value(param.name, param.default) == getattr(defaults(), param.name), param.name
    res = runner.invoke(
        app,
        [
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--arch",
            "compact",
            "--channels",
            "1",
            "--lr-schedule",
            "cosine",
            "--roi",
            "frame",
            "--class-weight",
            "none",
            "--classes",
            "sad, happy",
            "--epochs",
            "7",
            "--no-augment",
            "--cache",
        ],
    )
    assert res.exit_code == 130, res.output
    cfg = seen["cfg"]
    assert (cfg.arch, cfg.channels, cfg.lr_schedule, cfg.roi, cfg.class_weight) == (
        "compact",
        1,
        "cosine",
        "frame",
        "none",
    )
    assert cfg.classes == ["sad", "happy"] and cfg.epochs == 7 and not cfg.augment and cfg.cache
    assert cfg.out == str(tmp_path / "o") and type(cfg.arch) is str and type(cfg.channels) is int
    json.dumps(cfg.to_dict())  # config.json stays plain JSON
