"""The README's Python example is a test: its code, run as written (with a picture and a video made here),
gives the same faces as hs-run on the same inputs; and every relative link in the docs resolves."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "tests" / "runtime" / "fixtures" / "two_faces.jpg"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "edge_runtime" / "models" / "MODEL_CARD.md"]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    return code


def scene_video(path: Path, frames: int = 16) -> Path:
    """The committed two-face scene, drifting a few pixels a frame: faces to find, track and label."""
    scene = cv2.imread(str(SCENE), cv2.IMREAD_COLOR)
    assert scene is not None
    h, w = scene.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for i in range(frames):
        writer.write(cv2.warpAffine(scene, np.float32([[1, 0, i * 2], [0, 1, 0]]), (w, h)))
    writer.release()
    return path


def hs_run_rows(source: Path, tmp_path: Path, *extra: str) -> list[dict]:
    out = tmp_path / f"{source.stem}.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_runtime.cli.hs_run",
            "--source",
            str(source),
            "--headless",
            "--json",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_the_readme_program_runs_and_agrees_with_hs_run(tmp_path):
    video = scene_video(tmp_path / "clip.avi")
    code = readme_example()
    assert len(code.strip().splitlines()) <= 10, "the README promises a ten-line program"
    code = code.replace('"photo.jpg"', repr(str(SCENE))).replace('"clip.mp4"', repr(str(video)))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})  # the README's own code, run as a user would
    lines = printed.getvalue().splitlines()

    (image_row,) = hs_run_rows(SCENE, tmp_path)
    faces = image_row["results"]
    assert len(faces) == 2, "the scene's two drawn faces are found"
    assert lines[: len(faces)] == [f"{f['label']} {round(f['score'], 2)} {tuple(f['box'])}" for f in faces]

    rows = hs_run_rows(video, tmp_path, "--max-frames", "100")
    assert lines[len(faces) :] == [f"{r['frame']} {[f['label'] for f in r['results']]}" for r in rows]
    assert len(rows) == 16


def test_a_stream_gives_hs_runs_json_rows(tmp_path):
    """hs-run is the iterator with outputs attached: the API's rows are its rows (all but the wall clock)."""
    from edge_runtime import FaceClassifier, RunningMode

    video = scene_video(tmp_path / "clip.avi")
    with FaceClassifier.create(running_mode=RunningMode.STREAM, threads=2) as clf:
        ours = [r.to_dict() for r in clf.stream(video)]
    theirs = hs_run_rows(video, tmp_path, "--threads", "2")
    assert [dict(r, time=0) for r in ours] == [dict(r, time=0) for r in theirs]


def test_running_modes_are_explicit(tmp_path):
    from edge_runtime import FaceClassifier, RunningMode

    scene = cv2.imread(str(SCENE), cv2.IMREAD_COLOR)
    with FaceClassifier.create(running_mode=RunningMode.VIDEO, threads=1) as clf:
        with pytest.raises(ValueError, match="running_mode=IMAGE"):
            clf.classify(scene)
        first = clf.classify_frame(scene, 0.0)
        second = clf.classify_frame(scene, 0.1)
        assert [f.track for f in first.faces] == [f.track for f in second.faces], "one face, one track"
        with pytest.raises(ValueError, match="must increase"):
            clf.classify_frame(scene, 0.1)
    with FaceClassifier.create(threads=1) as clf, pytest.raises(ValueError, match="running_mode=STREAM"):
        clf.stream(SCENE)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc):
    text = doc.read_text(encoding="utf-8")
    links = [m for m in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in m and not m.startswith(("#", "mailto:"))]
    missing = [m for m in links if not (doc.parent / m.split("#", 1)[0]).exists()]
    assert not missing, f"{doc.name}: links to nothing: {missing}"


def test_the_readme_is_short():
    assert (ROOT / "README.md").stat().st_size <= 12_000
