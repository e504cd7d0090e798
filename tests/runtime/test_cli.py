"""hs-run end to end: JSON Lines schema, saved video, clean stop on SIGINT, one-line errors, real faces."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from edge_runtime.cli.hs_run import app
from tests.runtime.helpers import FACE_CLIP, face_image, write_video

REPO = Path(__file__).resolve().parents[2]


def hs_run(*args: str):
    return CliRunner().invoke(app, list(args))


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_lines_schema_on_stdout(models, tmp_path):
    video = write_video(tmp_path / "v.avi", frames=5)
    res = hs_run("--model", str(models["int8"]), "--source", str(video), "--roi", "frame", "--json", "-")
    assert res.exit_code == 0, res.output
    recs = records(res.stdout)
    assert [r["frame"] for r in recs] == list(range(5))
    for r in recs:
        assert set(r) == {"frame", "time", "source", "results", "model"} and r["source"] == str(video)
        assert r["model"].startswith(Path(models["int8"]).name + "#")
        assert isinstance(r["time"], float) and abs(r["time"] - time.time()) < 600
        (face,) = r["results"]
        assert set(face) == {"box", "label", "score", "scores", "track"}
        assert face["box"] == [0, 0, 96, 64] and face["label"] in ("happy", "sad")
        assert set(face["scores"]) == {"happy", "sad"} and abs(sum(face["scores"].values()) - 1) < 1e-3
        assert face["score"] == face["scores"][face["label"]] and face["track"] == 1
    assert "interpreter ai_edge_litert" in res.stderr and "FPS" in res.stderr and "infer p50" in res.stderr


def test_image_folder_json_file_and_saved_video(models, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), face_image(48 + 16 * i, seed=i))
    (folder / "3.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out, save = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    res = hs_run(
        "--model",
        str(models["int8_frame"]),
        "--source",
        str(folder),
        "--json",
        str(out),
        "--save",
        str(save),
        "--headless",
    )
    assert res.exit_code == 0, res.output
    recs = records(out.read_text())
    assert [r["source"] for r in recs] == [str(folder / f"{i}.png") for i in range(3)]
    assert [r["results"][0]["box"] for r in recs] == [[0, 0, s, s] for s in (48, 64, 80)]
    assert "1 skipped (truncated 1)" in res.stderr
    cap = cv2.VideoCapture(str(save))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{tmp}/none.tflite", "--source", "x.mp4"], "model file not found"),
        (["--model", "{wrong}", "--source", "x.mp4"], "not a 2-label sigmoid classifier"),
        (["--model", "{int8}", "--camera", "5", "--reconnect", "0"], "cannot open camera 5"),
        (["--model", "{int8}", "--source", "{tmp}"], "no images found"),
        (["--model", "{int8}", "--source", "x.mp4", "--labels", "happy"], "--labels needs two or more"),
        (["--model", "{int8}", "--source", "x.mp4", "--delegate", "/no/libedgetpu.so.1"], "cannot load delegate"),
        (["--model", "{bare}", "--source", "x.mp4"], "pass --labels"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(models, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, **{k: str(v) for k, v in models.items()}) for a in args]
    res = hs_run(*args)
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], res.stderr
    assert "Traceback" not in res.output


def test_missing_packaged_model_is_one_clear_line(monkeypatch, tmp_path):
    import edge_runtime.model.classifier

    monkeypatch.setattr(edge_runtime.model.classifier, "PACKAGED_MODEL", tmp_path / "gone.tflite")
    res = hs_run("--source", "x.mp4", "--headless")
    assert res.exit_code == 2
    assert "no packaged model" in res.stderr and "Traceback" not in res.output


def test_sigint_stops_cleanly_with_files_closed(models, tmp_path):
    video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for i in range(1500):
        writer.write(face_image(160, seed=i % 7)[:120])
    writer.release()
    out, save = tmp_path / "o.jsonl", tmp_path / "o.avi"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_runtime.cli.hs_run",
            "--model",
            str(models["int8"]),
            "--source",
            str(video),
            "--detect-every",
            "1",
            "--json",
            str(out),
            "--save",
            str(save),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while not (out.exists() and out.stat().st_size > 0) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "SIGINT: stopping" in err and "stopped: signal" in err and "FPS" in err
    assert "Traceback" not in err
    n = len(records(out.read_text()))
    assert 0 < n < 1500
    assert int(cv2.VideoCapture(str(save)).get(cv2.CAP_PROP_FRAME_COUNT)) == n


@pytest.mark.skipif(not FACE_CLIP.exists(), reason="shared face clip not present")
def test_face_clip_finds_faces_in_most_frames(models, tmp_path):
    out = tmp_path / "faces.jsonl"
    res = hs_run("--model", str(models["float"]), "--source", str(FACE_CLIP), "--json", str(out))
    assert res.exit_code == 0, res.output
    recs = records(out.read_text())
    assert len(recs) == 275
    with_face = [r for r in recs if r["results"]]
    assert len(with_face) / len(recs) > 0.5  # the rest are profiles, the audience, a long shot
    for r in with_face:
        x, y, w, h = r["results"][0]["box"]
        assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 360 and w >= 24
    # the singer keeps one id through a run of frames
    ids = [r["results"][0]["track"] for r in with_face]
    assert max(ids.count(i) for i in set(ids)) >= 30
    assert "detect p50" in res.stderr


def test_help_groups_the_options_in_panels():
    from typer.testing import CliRunner

    from edge_runtime.cli.hs_run import app

    out = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    for panel in ("Source", "Model", "Face detector", "Outputs", "Device service"):
        assert f"─ {panel} ─" in out, panel
