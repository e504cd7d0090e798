"""Write errors are exit 4 with one line naming what could not be written, never an internal error; standard
output closed before the start is a one-line refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.headless_helpers import REPO
from tests.runtime.helpers import fixture_models, write_video

pytestmark = pytest.mark.timeout(120)


def hs_run(args: list[str], stdout) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli.hs_run", "--headless", "--threads", "1", "--roi", "frame", *args],
        cwd=REPO,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=100,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_json_to_a_full_stdout_is_exit_4_in_one_line(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=8)
    with open("/dev/full", "w") as full:
        proc = hs_run(["--model", str(fixture_models()["int8"]), "--source", str(video), "--json", "-"], full)
    assert proc.returncode == 4, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot write standard output (disk full)" in last and "internal error" not in proc.stderr
    assert "stopped: an output failed" in proc.stderr


def test_json_to_a_closed_stdout_is_one_line(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=4)
    args = [
        sys.executable,
        "-m",
        "edge_runtime.cli.hs_run",
        "--headless",
        "--threads",
        "1",
        "--roi",
        "frame",
        "--model",
        str(fixture_models()["int8"]),
        "--source",
        str(video),
        "--json",
        "-",
    ]
    proc = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *args], cwd=REPO, stderr=subprocess.PIPE, text=True, timeout=100
    )
    assert proc.returncode == 2, proc.stderr
    assert "standard output is closed" in proc.stderr and "AttributeError" not in proc.stderr


def cli_save(video: Path, out: Path):
    """hs-run in this process (frame mode, the tiny fixture model) on ``video`` with ``--save out``."""
    from typer.testing import CliRunner

    from edge_runtime.cli.hs_run import app

    args = ["--model", str(fixture_models()["int8"]), "--source", str(video), "--headless", "--roi", "frame"]
    return CliRunner().invoke(app, [*args, "--save", str(out)])


def test_save_with_an_unknown_video_type_is_refused_before_the_first_frame(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=3)
    r = cli_save(video, tmp_path / "out.xyz")
    assert r.exit_code == 2 and "no encoder for .xyz" in r.output, r.output
    assert "frames" not in r.output.split("error:")[0].splitlines()[-1]  # refused before a frame was read
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.xyz")]  # no temporary file left


def test_saved_video_has_the_users_usual_mode(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=3)
    out = tmp_path / "out.avi"
    old = os.umask(0o022)
    try:
        r = cli_save(video, out)
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_file_name_that_is_not_utf8_gives_valid_utf8_json(tmp_path):
    import json

    import cv2
    import numpy as np

    folder = tmp_path / "imgs"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not UTF-8
    cv2.imwrite(str(folder / "a.png"), np.full((32, 32, 3), 90, np.uint8))
    ok, buf = cv2.imencode(".png", np.full((32, 32, 3), 150, np.uint8))
    assert ok
    (folder / name).write_bytes(buf.tobytes())
    out = tmp_path / "o.jsonl"
    proc = hs_run(["--model", str(fixture_models()["int8"]), "--source", str(folder), "--json", str(out)], None)
    assert proc.returncode == 0, proc.stderr
    raw = out.read_bytes()
    text = raw.decode("utf-8")  # strict: valid UTF-8
    rows = [json.loads(line) for line in text.splitlines()]
    assert any(r["source"].endswith("caf\\xe9.png") for r in rows), rows
    for line in text.splitlines():
        assert "\\ud" not in line  # no lone surrogate escapes that strict JSON readers refuse


def test_a_folder_in_the_way_of_rotation_is_exit_4_and_the_video_is_still_finalised(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=12)
    out = tmp_path / "o.jsonl"
    (tmp_path / "o.jsonl.1").mkdir()  # the user's folder where the rotated file would go
    (tmp_path / "o.jsonl.1" / "keep.txt").write_text("mine")
    saved = tmp_path / "annotated.avi"
    proc = hs_run(
        [
            "--model",
            str(fixture_models()["int8"]),
            "--source",
            str(video),
            "--json",
            str(out),
            "--json-max-mb",
            "0.0005",
            "--save",
            str(saved),
        ],
        None,
    )
    assert proc.returncode == 4, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot rotate" in last and str(out) in last and "internal error" not in proc.stderr
    assert (tmp_path / "o.jsonl.1" / "keep.txt").read_text() == "mine"
    assert out.read_text().strip()  # the rows written are kept
    assert saved.is_file() and not [p for p in tmp_path.iterdir() if p.name.startswith(".annotated")]


def test_a_killed_runs_temporary_video_is_removed_at_the_next_start(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=4)
    left = tmp_path / ".out.avi.ab12cd_9.avi"  # what a killed run leaves (mkstemp's name)
    left.write_bytes(b"half a video")
    mine = [tmp_path / ".out.avi.notes.txt", tmp_path / ".out.avi.x.avi"]  # similar names, not ours
    for p in mine:
        p.write_text("mine")
    proc = hs_run(
        ["--model", str(fixture_models()["int8"]), "--source", str(video), "--save", str(tmp_path / "out.avi")], None
    )
    assert proc.returncode == 0, proc.stderr
    assert not left.exists() and "left by a run that was stopped" in proc.stderr
    assert all(p.read_text() == "mine" for p in mine)
