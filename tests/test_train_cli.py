import csv
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import tiny_train_args
from train.cli import app

runner = CliRunner()
FAST = tiny_train_args()


def test_run_folder_has_everything_a_user_and_the_converter_need(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {
        "model.keras",
        "saved_model",
        "model_info.json",
        "splits.json",
        "metrics.json",
        "config.json",
        "data_report.json",
        "history.json",
        "curves.png",
        "confusion_matrix.png",
        "logs",
        "checkpoints",
    } <= names
    assert not [n for n in names if n.startswith(".")], "no temporary file is left behind"
    info = json.loads((tiny_run / "model_info.json").read_text())
    assert info["labels"] == ["happy", "sad"]
    assert info["preprocessing"]["height"] == 32 and info["preprocessing"]["color_order"] == "RGB"
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        m = metrics["splits"][split]
        assert {"accuracy", "balanced_accuracy", "roc_auc", "per_class", "confusion_matrix"} <= m.keys()
        assert set(m["per_class"]["sad"]) >= {"precision", "recall", "f1"}
    assert (tiny_run / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_saved_model_serves_the_same_probabilities_as_keras(tiny_run):
    import keras
    import tensorflow as tf

    model = keras.models.load_model(tiny_run / "model.keras")
    served = tf.saved_model.load(str(tiny_run / "saved_model"))
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    out = served.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(out), model.predict(x, verbose=0), atol=1e-5)


def test_same_seed_same_result(tiny_data, tmp_path):
    a = runner.invoke(app, ["--data", str(tiny_data), "--out", str(tmp_path / "a"), "--seed", "5", *FAST])
    b = runner.invoke(app, ["--data", str(tiny_data), "--out", str(tmp_path / "b"), "--seed", "5", *FAST])
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    ha = json.loads((tmp_path / "a" / "history.json").read_text())
    hb = json.loads((tmp_path / "b" / "history.json").read_text())
    assert ha == hb
    assert json.loads((tmp_path / "a" / "splits.json").read_text()) == json.loads(
        (tmp_path / "b" / "splits.json").read_text()
    )


def test_resume_continues_from_the_last_checkpoint(tiny_data, tmp_path):
    out = tmp_path / "r"
    first = runner.invoke(app, ["--data", str(tiny_data), "--out", str(out), *FAST, "--epochs", "1", "--patience", "0"])
    assert first.exit_code == 0, first.output
    resumed = runner.invoke(
        app, ["--data", str(tiny_data), "--out", str(out), *FAST, "--epochs", "3", "--patience", "0", "--resume"]
    )
    assert resumed.exit_code == 0, resumed.output
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 3
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2


def test_three_classes_and_a_given_validation_folder(tmp_path):
    import cv2

    from testkit.synthetic import write_dataset

    rng = np.random.default_rng(0)
    for folder, n in (("d", 10), ("v", 4)):
        write_dataset(tmp_path / folder, n_per_class=n, size=32, seed=len(folder) + n)
        (tmp_path / folder / "neutral").mkdir()
        for i in range(n):
            cv2.imwrite(str(tmp_path / folder / "neutral" / f"{i}.png"), rng.integers(0, 256, (32, 32, 3), np.uint8))
    res = runner.invoke(
        app,
        [
            "--data",
            str(tmp_path / "d"),
            "--val-data",
            str(tmp_path / "v"),
            "--out",
            str(tmp_path / "o"),
            *FAST,
            "--epochs",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "o" / "model_info.json").read_text())
    assert info["output"] == "softmax" and info["labels"] == ["happy", "neutral", "sad"]
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["splits"]["val"]["n"] == 12


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "/nonexistent/folder"], "not found"),
        (["--classes", "happy,angry"], "angry"),
        (["--resume"], "no checkpoint"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(tiny_data, tmp_path, args, message):
    base = ["--data", str(tiny_data), "--out", str(tmp_path / "o"), *FAST]
    res = runner.invoke(app, base + args)
    assert res.exit_code == 2
    err = res.stderr.strip().splitlines()
    assert err[-1].startswith("hs-train: error:") and message in err[-1]
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    "option, value, choices",
    [
        ("--channels", "2", "'1', '3'"),
        ("--arch", "vgg", "'origin', 'compact'"),
        ("--lr-schedule", "step", "'constant', 'cosine'"),
        ("--roi", "body", "'face', 'frame'"),
        ("--distribute", "tpu", "'none', 'mirrored', 'multiworker'"),
        ("--class-weight", "balanced", "'auto', 'none'"),
    ],
)
def test_choices_are_checked_by_the_command_line_before_any_work(tmp_path, option, value, choices):
    res = runner.invoke(app, ["--data", "/nonexistent", "--out", str(tmp_path / "o"), option, value])
    assert res.exit_code == 2
    err = _unboxed(res.stderr)
    assert f"Invalid value for '{option}'" in err and choices in err
    assert "Traceback" not in res.output and not (tmp_path / "o").exists()


def _unboxed(text: str) -> str:
    """Rich's boxed, wrapped help and errors as one line of words."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


def test_help_lists_choices_and_shows_defaults():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})  # wide enough that no choice list is cut
    assert res.exit_code == 0
    text = _unboxed(res.output)
    for shown in (
        "<1|3>",
        "<origin|compact>",
        "<constant|cosine>",
        "<face|frame>",
        "multiworker",
        "<auto|none>",
        "[default: 256]",
        "[default: origin]",
        "--version",
        "--overwrite",
    ):
        assert shown in text, shown


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("hs-train ")


def _fer_csv(path, rows_per=(6, 2, 2)):
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for usage, n in zip(("Training", "PublicTest", "PrivateTest"), rows_per):
            for emotion in (3, 4, 6, 0):
                for _ in range(n):
                    w.writerow([emotion, " ".join(map(str, rng.integers(0, 256, 48 * 48))), usage])
        w.writerow([3, "1 2 3", "Training"])  # malformed row


def test_fer_csv_import_uses_the_usage_column_as_split(tmp_path):
    from train.fer_csv import import_csv

    _fer_csv(tmp_path / "fer.csv")
    counts = import_csv(tmp_path / "fer.csv", tmp_path / "out")
    assert counts["train"] == {"happy": 6, "sad": 6}
    assert counts["val"] == {"happy": 2, "sad": 2} and counts["test"] == {"happy": 2, "sad": 2}
    assert counts["bad_rows"]["rows"] == 1
    assert len(list((tmp_path / "out" / "val" / "sad").glob("*.png"))) == 2


def test_hs_train_reads_the_fer_csv_directly(tmp_path):
    _fer_csv(tmp_path / "fer.csv", (8, 3, 3))
    res = runner.invoke(
        app,
        [
            "--data",
            str(tmp_path / "fer.csv"),
            "--out",
            str(tmp_path / "o"),
            "--epochs",
            "1",
            "--image-size",
            "24",
            "--channels",
            "1",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["splits"]["val"]["n"] == 6 and metrics["splits"]["test"]["n"] == 6
