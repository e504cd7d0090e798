"""Quick checks of `make pi-check`'s machinery (pi/): the comparison, the test list it runs inside the emulated
Pi, and its one-line skip. The check itself (debootstrap, qemu) runs only through `make pi-check`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PI = ROOT / "pi"
sys.path.insert(0, str(PI))
import compare  # noqa: E402  (pi/compare.py: a script, not a package)


def rows(path: Path, frames: list[list[tuple[tuple[int, int, int, int], str, float]]]) -> Path:
    with path.open("w") as f:
        for i, faces in enumerate(frames):
            results = [
                {"box": list(b), "label": lab, "score": s, "scores": {"happy": 1 - s, "sad": s}, "track": k}
                for k, (b, lab, s) in enumerate(faces)
            ]
            f.write(json.dumps({"frame": i, "time": i / 30, "source": "x", "results": results}) + "\n")
    return path


def test_compare_matches_faces_by_box_and_counts_label_agreement(tmp_path):
    a = rows(
        tmp_path / "a.jsonl",
        [[], [((10, 10, 50, 50), "happy", 0.2)], [((10, 10, 50, 50), "sad", 0.7), ((200, 10, 40, 40), "happy", 0.1)]],
    )
    b = rows(
        tmp_path / "b.jsonl",
        [[((0, 0, 5, 5), "sad", 0.9)], [((12, 11, 50, 50), "happy", 0.25)], [((201, 10, 40, 40), "sad", 0.6)]],
    )
    ag = compare.compare(compare.read_rows(a), compare.read_rows(b), 0.5)
    assert (ag.frames, ag.faces_a, ag.faces_b, ag.matched, ag.same_label) == (3, 3, 3, 2, 1)
    assert ag.fraction == 0.5 and ag.max_score_diff == pytest.approx(0.5)
    assert compare.main([str(a), str(b)]) == 1
    assert compare.main([str(a), str(b), "--min-agreement", "0.5"]) == 0


def test_compare_counts_each_face_found_once_not_its_carried_copies(tmp_path):
    a = rows(tmp_path / "a.jsonl", [[((10, 10, 50, 50), "happy", 0.2)]] * 3)
    b = rows(tmp_path / "b.jsonl", [[((10, 10, 50, 50), "sad", 0.7)], [((10, 10, 50, 50), "happy", 0.2)]] * 2)
    lines = [json.loads(line) for line in a.read_text().splitlines()]
    for rec in lines[1:]:  # frames 1 and 2 carry frame 0's face on the host
        rec["results"][0]["carried"] = True
    a.write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    ag = compare.compare(compare.read_rows(a), compare.read_rows(b), 0.5)
    assert (ag.faces_a, ag.matched, ag.same_label) == (1, 1, 0), "frame 0 compared once; the copies left out"


def test_compare_fails_when_no_face_was_found_by_both(tmp_path):
    a = rows(tmp_path / "a.jsonl", [[((10, 10, 50, 50), "happy", 0.2)]])
    b = rows(tmp_path / "b.jsonl", [[]])
    assert compare.main([str(a), str(b)]) == 1
    assert compare.main([str(a), str(tmp_path / "missing.jsonl")]) == 2


def default_pi_tests() -> list[str]:
    text = (PI / "check.sh").read_text()
    block = re.search(r'DEFAULT_PI_TESTS="\n(.*?)\n"', text, re.S)
    assert block, "pi/check.sh has no DEFAULT_PI_TESTS block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_tests_run_inside_exist():
    """The runtime tests named for the emulated Pi must exist: moving them means updating PI_TESTS."""
    args = default_pi_tests()
    assert "tests/runtime" in args and "not slow" in args  # one argument a line: "-m", "not slow"
    for arg in args:
        if not arg.startswith(("tests/", "--deselect=", "--ignore=")):
            continue
        node = arg.removeprefix("--deselect=").removeprefix("--ignore=")
        path, _, name = node.partition("::")
        assert (ROOT / path).exists(), f"pi/check.sh PI_TESTS names {path}, which does not exist"
        if name:
            assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), node


@pytest.mark.parametrize("script", ["check.sh", "enter.sh", "inside.sh"])
def test_scripts_parse_and_are_strict(script):
    text = (PI / script).read_text()
    assert "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(PI / script)], check=True)
    if shutil.which("shellcheck"):
        proc = subprocess.run(["shellcheck", str(PI / script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout


def test_a_machine_that_cannot_run_it_skips_in_one_line(tmp_path):
    env = {**os.environ, "PI_VIDEO": str(tmp_path / "no-clip.mp4"), "PI_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(["bash", str(PI / "check.sh")], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pi-check: SKIPPED: "), proc.stdout
    assert (tmp_path / "cache" / "status").read_text().startswith("SKIPPED: ")


def test_a_second_check_on_the_same_cache_is_refused_in_one_line(tmp_path):
    import fcntl

    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "PI_VIDEO": str(tmp_path / "no-clip.mp4"), "PI_CACHE": str(cache)}
    with (cache / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a check already running
        proc = subprocess.run(["bash", str(PI / "check.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1 and "another pi-check is running" in lines[0], proc.stdout
    assert not (cache / "status").exists(), "the running check's status is left alone"
    again = subprocess.run(["bash", str(PI / "check.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "SKIPPED" in again.stdout, "the lock is free once the first check ends"
