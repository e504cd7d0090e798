"""`make demo`, the README's first command, end to end and twice (marked slow: two short trainings, ~3 min).

It must work on a fresh clone, run again without complaint, replace only its own run, leave the user's
`data/` alone, and its model must label the synthetic video's faces (ground truth in demo.json).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _iou(a: list[int], b: list[int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return inter / (aw * ah + bw * bh - inter) if inter else 0.0


def _score(truth_path: Path, records_path: Path) -> tuple[int, int, int]:
    """Faces with a clear expression (|smile| >= 0.3): how many, how many found (IoU >= 0.3), how many right."""
    truth = {f["frame"]: f["faces"] for f in json.loads(truth_path.read_text())}
    total = found = right = 0
    for line in records_path.read_text().splitlines():
        rec = json.loads(line)
        for face in truth.get(rec["frame"], []):
            if abs(face["smile"]) < 0.3:
                continue
            total += 1
            best = max(rec["results"], key=lambda d: _iou(d["box"], face["box"]), default=None)
            if best is not None and _iou(best["box"], face["box"]) >= 0.3:
                found += 1
                right += best["label"] == face["label"]
    return total, found, right


def _make_demo(demo: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "demo", f"DEMO={demo}", f"DEMO_DATA={data}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_make_demo_runs_end_to_end_twice_and_touches_only_its_own_folders(tmp_path):
    if shutil.which("make") is None or not (ROOT / ".venv" / ".installed").is_file():
        pytest.skip("needs make and the project's .venv (make install)")
    demo, data = tmp_path / "runs" / "demo", tmp_path / "runs" / "demo-data"
    users_data = sorted(p.name for p in (ROOT / "data").iterdir())

    first = _make_demo(demo, data)
    assert first.returncode == 0, first.stderr[-3000:]
    report = json.loads((demo / "conversion_report.json").read_text())
    assert report["models"]["int8"]["check"] == "passed"
    total, found, right = _score(data / "demo.json", demo / "detections.jsonl")
    # The origin CNN after 8 epochs on 475 drawn faces: 0.84 of the found faces right on this project's current
    # CI machine (the same code and versions gave 0.85+ on an earlier one: float results differ by CPU), so the
    # floor is 0.80, well above chance (0.5).
    assert total > 200 and found / total >= 0.75 and right / found >= 0.80, (total, found, right)
    assert (demo / "annotated.mp4").stat().st_size > 10_000

    second = _make_demo(demo, data)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len((demo / "detections.jsonl").read_text().splitlines()) == 150, "a fresh run, not appended"
    assert sorted(p.name for p in demo.parent.iterdir()) == ["demo", "demo-data"], "nothing set aside is left"
    assert sorted(p.name for p in (ROOT / "data").iterdir()) == users_data, "the user's data/ is left alone"
