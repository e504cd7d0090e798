"""--snapshot-dir/--snapshot-on: debounced (the face holds the label), rate-limited, once per turn, a JSON
sidecar and an optional face crop, the oldest deleted beyond the cap; the image is drawn only when needed."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from edge_runtime.outputs.snapshots import SnapshotSink
from edge_runtime.results import FaceResult, FrameResult
from tests.runtime.headless_helpers import start_hs_run, stop
from tests.runtime.helpers import FACE_CLIP

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def rec(t: float, *faces: tuple[int, str]) -> FrameResult:
    results = tuple(FaceResult((8, 8, 24, 24), lab, 0.9, {"happy": 0.9, "sad": 0.1}, tr) for tr, lab in faces)
    return FrameResult(int(t * 10), 1.7e9 + t, "cam", results)


def feed(sink: SnapshotSink, clock: Clock, t: float, *faces: tuple[int, str]) -> bool:
    """One frame at time t, drawn only if the sink asks; True if it asked."""
    clock.t = 1000.0 + t
    wanted = sink.needs_image
    image = np.full((48, 64, 3), 100, np.uint8) if wanted else None
    sink.emit(rec(t, *faces), image)
    return wanted


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_debounce_once_per_turn_and_rate_limit(tmp_path):
    clock = Clock()
    sink = SnapshotSink(tmp_path, "happy", print, hold=1.0, every=5.0, crop=True, clock=clock)
    assert not feed(sink, clock, 0.0, (1, "sad"))  # no face holding the label: no drawing
    feed(sink, clock, 0.1, (1, "happy"))
    assert feed(sink, clock, 0.5, (1, "happy")) and sink.saved == 0  # holding, not long enough yet
    feed(sink, clock, 0.8, (1, "sad"))  # a flicker resets the hold
    feed(sink, clock, 1.0, (1, "happy"))
    feed(sink, clock, 1.9, (1, "happy"))
    assert sink.saved == 0
    feed(sink, clock, 2.1, (1, "happy"))
    assert sink.saved == 1
    assert not feed(sink, clock, 9.0, (1, "happy"))  # still the same turn: nothing more, nothing drawn
    names = files(tmp_path)
    assert len(names) == 3 and names[0].endswith("-t1-happy-face.jpg") and names[2].endswith("-t1-happy.json")
    side = json.loads((tmp_path / names[2]).read_text())
    assert side["face"]["label"] == "happy" and side["held_s"] >= 1.0 and side["image"] == names[1]
    assert side["crop"] == names[0] and side["source"] == "cam"
    feed(sink, clock, 9.5, (1, "sad"), (2, "happy"))  # a second face turns happy
    feed(sink, clock, 10.6, (1, "happy"), (2, "happy"))  # face 2 held 1.1 s, and 8.5 s since the last: saved
    assert sink.saved == 2
    feed(sink, clock, 11.0, (1, "happy"), (2, "happy"))
    feed(sink, clock, 12.0, (1, "happy"), (2, "happy"))  # face 1 qualifies, but the rate limit holds it back
    assert sink.saved == 2 and not sink.needs_image
    feed(sink, clock, 15.7, (1, "happy"), (2, "happy"))
    assert sink.saved == 3


def test_pruning_never_touches_a_users_files(tmp_path):
    """The campaign's repro: holiday-happy.{json,jpg} and -face.jpg beside the snapshots, keep 1, 700 frames."""
    mine = {
        "holiday-happy.json": b'{"image": "holiday-happy.jpg"}',
        "holiday-happy.jpg": b"\xff\xd8 a photo",
        "holiday-happy-face.jpg": b"\xff\xd8 a face",
        "20240101-120000-000-t1-happy.json": b'{"mine": 1}',
        "20240101-120000-000-t1-happy.jpg": b"\xff\xd8 look-alike",
    }
    for name, data in mine.items():
        (tmp_path / name).write_bytes(data)
    clock = Clock()
    sink = SnapshotSink(tmp_path, "happy", print, hold=0.0, every=0.0, keep=1, clock=clock)
    for i in range(30):
        feed(sink, clock, 2.0 * i, (i, "happy"))
        feed(sink, clock, 2.0 * i + 0.1, (i, "happy"))
    assert sink.saved == 30
    for name, data in mine.items():
        assert (tmp_path / name).read_bytes() == data, name
    ours = [n for n in files(tmp_path) if n not in mine]
    assert len(ours) == 2 and "t29-happy" in ours[0]  # keep 1: the newest snapshot, its jpg and sidecar
    again = SnapshotSink(tmp_path, "happy", print, hold=0.0, every=0.0, keep=1, clock=clock)
    assert len(again._existing()) == 1  # a restart counts only its own earlier snapshot


def test_cap_deletes_the_oldest_and_counts_earlier_runs(tmp_path):
    clock = Clock()
    sink = SnapshotSink(tmp_path, "happy", print, hold=0.0, every=0.0, keep=3, clock=clock)
    for i in range(5):
        feed(sink, clock, 2.0 * i, (i, "happy"))
        feed(sink, clock, 2.0 * i + 0.1, (i, "happy"))
    assert sink.saved == 5 and len(files(tmp_path)) == 6  # 3 snapshots x (jpg + json)
    assert [n.split("-t")[1] for n in files(tmp_path)[::2]] == ["2-happy.jpg", "3-happy.jpg", "4-happy.jpg"]
    again = SnapshotSink(tmp_path, "happy", print, hold=0.0, every=0.0, keep=3, max_bytes=1, clock=clock)
    feed(again, clock, 20.0, (9, "happy"))
    feed(again, clock, 20.1, (9, "happy"))
    assert len(files(tmp_path)) == 2 and "t9-happy" in files(tmp_path)[0]  # the byte cap keeps only the newest


def test_hs_run_saves_snapshots_of_real_faces(tmp_path):
    if not FACE_CLIP.is_file():
        pytest.skip(f"{FACE_CLIP} not present")
    out = tmp_path / "snaps"
    proc = start_hs_run(
        "--source",
        str(FACE_CLIP),
        "--snapshot-dir",
        str(out),
        "--snapshot-on",
        "happy",
        "--snapshot-hold",
        "0.2",
        "--snapshot-every",
        "0.5",
        "--snapshot-crop",
    )
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # stopped (SIGINT, then killed), never left running
        _code, _out, err = stop(proc)
        pytest.fail(f"hs-run did not finish the clip in 60 s: {err[-500:]}")
    assert proc.returncode == 0, err
    sides = sorted(out.glob("*.json"))
    assert sides and "snapshots:" in err and "saved" in err
    side = json.loads(sides[0].read_text())
    assert (out / side["image"]).stat().st_size > 1000 and (out / side["crop"]).is_file()


def test_snapshot_options_go_together():
    from typer.testing import CliRunner

    from edge_runtime.cli.hs_run import app

    res = CliRunner().invoke(app, ["--source", "x.mp4", "--snapshot-dir", "d"])
    assert res.exit_code == 2 and "--snapshot-dir and --snapshot-on go together" in res.output


def test_snapshot_on_a_label_the_model_lacks_is_a_usage_error(tmp_path):
    from typer.testing import CliRunner

    from edge_runtime.cli.hs_run import app
    from tests.runtime.helpers import fixture_models, write_video

    video = write_video(tmp_path / "v.avi", frames=3)
    r = CliRunner().invoke(
        app,
        [
            "--model",
            str(fixture_models()["int8"]),
            "--source",
            str(video),
            "--headless",
            "--roi",
            "frame",
            "--snapshot-dir",
            str(tmp_path / "s"),
            "--snapshot-on",
            "hapy",
        ],
    )
    assert r.exit_code == 2 and "--snapshot-on hapy: not a label of this model (happy, sad, uncertain)" in r.output


def test_a_full_disk_leaves_no_image_without_its_sidecar(tmp_path, monkeypatch):
    import errno

    from edge_runtime.errors import WriteFailed
    from edge_runtime.outputs import snapshots

    def full(*args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(snapshots, "write_json", full)
    clock = Clock()
    sink = SnapshotSink(tmp_path, "happy", print, hold=0.0, every=0.0, crop=True, clock=clock)
    feed(sink, clock, 0.0, (1, "happy"))
    with pytest.raises(WriteFailed, match="cannot write a snapshot"):
        feed(sink, clock, 0.1, (1, "happy"))
    assert files(tmp_path) == []
