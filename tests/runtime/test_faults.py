"""The fault suite (issue 8): each test is one way a long unattended run used to lose data or miss work.

Live-source faults use a real MJPEG-over-HTTP camera on 127.0.0.1 that drops out and comes back; disk-full
faults a small tmpfs (root only). Every hs-run here is a real subprocess, as a service manager runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.runtime.helpers import drawn, face_image, write_video
from tests.runtime.mjpeg_server import MjpegCamera, free_port

REPO = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def hs_run(model: Path, source: str | Path, *args: str, **kw) -> subprocess.Popen:
    """A headless hs-run of ``model`` on ``source`` as a real process, as a service manager starts it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_runtime.cli.hs_run",
            "--model",
            str(model),
            "--source",
            str(source),
            "--headless",
            *args,
        ],
        cwd=REPO,
        text=True,
        stdout=kw.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        **kw,
    )


def finish(proc: subprocess.Popen, timeout: float = 60, seen: str = "") -> tuple[int, str, str]:
    """Exit code, stdout and stderr (``seen``: stderr lines already read, put in front)."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out or "", seen + err


def read_until(proc: subprocess.Popen, text: str) -> str:
    """stderr lines up to and including the first that holds ``text`` (an event, not a time)."""
    seen = ""
    while text not in seen:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"hs-run ended before saying {text!r}: {seen[-500:]}")
        seen += line
    return seen


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for(cond, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error" in line.lower()]


def long_video(path: Path, frames: int = 600) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for i in range(frames):
        writer.write(face_image(160, seed=i % 7)[:120])
    writer.release()
    return path


# ---------------------------------------------------------------- data loss


@pytest.mark.parametrize("kind", ["folder", "symlink_to_folder", "fifo", "device"])
@pytest.mark.parametrize("option", ["--json", "--save"])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(models, tmp_path, kind, option):
    video = write_video(tmp_path / "v.avi", frames=3)
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "notes.txt").write_text("years of work")
    target = keep if kind == "folder" else tmp_path / "out.mp4"
    if kind == "device":  # a private null device: a bug here must not be able to replace the system's
        if not IS_ROOT:
            pytest.skip("needs root to make a device node")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == "symlink_to_folder":
        target.symlink_to(keep, target_is_directory=True)
    elif kind == "fifo":
        os.mkfifo(target)
    code, _, err = finish(hs_run(models["int8_frame"], str(video), option, str(target)))
    assert code == 2, err
    (line,) = error_lines(err)
    assert "nothing was changed" in line and "Traceback" not in err
    assert (keep / "notes.txt").read_text() == "years of work" and sorted(p.name for p in keep.iterdir()) == [
        "notes.txt"
    ]
    if kind == "symlink_to_folder":
        assert target.is_symlink()
    if kind == "fifo":
        assert target.is_fifo()
    if kind == "device":
        assert target.is_char_device()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_json_rows_appear_while_running_and_survive_kill_9(models, tmp_path):
    out = tmp_path / "live.jsonl"
    proc = hs_run(
        models["int8_frame"],
        str(long_video(tmp_path / "v.avi")),
        "--loop",
        "--json",
        str(out),
    )
    try:
        assert wait_for(lambda: out.exists() and out.stat().st_size > 2000), "no rows appeared while running"
        seen = len(rows(out))  # another process reads complete rows while hs-run still runs
        assert seen > 0 and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    after = rows(out)  # every line parses: at most the one being written was lost
    assert len(after) >= seen and [r["frame"] for r in after] == list(range(len(after)))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_restarted_run_appends_and_ends_a_cut_line(models, tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text('{"frame": 0, "results": []}\n{"frame": 1, "resu')  # a power cut mid-row
    video = write_video(tmp_path / "v.avi", frames=4)
    for _ in range(2):
        code, _, err = finish(hs_run(models["int8_frame"], str(video), "--json", str(out)))
        assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == '{"frame": 0, "results": []}' and lines[1] == '{"frame": 1, "resu'  # kept, never destroyed
    assert [json.loads(x)["frame"] for x in lines[2:]] == [0, 1, 2, 3] * 2


def test_json_rotation_bounds_disk_use(models, tmp_path):
    out = tmp_path / "r.jsonl"
    code, _, err = finish(
        hs_run(
            models["int8_frame"],
            str(write_video(tmp_path / "v.avi", frames=200)),
            "--json",
            str(out),
            "--json-max-mb",
            "0.005",
            "--json-keep",
            "2",
        )
    )
    assert code == 0, err
    files = sorted(p.name for p in tmp_path.glob("r.jsonl*"))
    assert files == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    assert all(p.stat().st_size < 5000 + 1000 for p in tmp_path.glob("r.jsonl*"))
    newest = [r["frame"] for name in ("r.jsonl.2", "r.jsonl.1", "r.jsonl") for r in rows(tmp_path / name)]
    assert newest == list(range(newest[0], 200))  # the newest rows, in order, none missing


@pytest.fixture
def small_disk(tmp_path):
    """A 40 MB tmpfs, so 'disk full' is real; root only."""
    if not IS_ROOT or not shutil.which("mount"):
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def fill(disk: Path, leave_bytes: int) -> None:
    free = shutil.disk_usage(disk).free
    with open(disk / "ballast", "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))


def test_json_on_a_full_disk_stops_with_exit_4_and_keeps_complete_rows(models, tmp_path, small_disk):
    fill(small_disk, 64 << 10)
    out = small_disk / "o.jsonl"
    code, _, err = finish(
        hs_run(
            models["int8_frame"],
            str(long_video(tmp_path / "v.avi", 300)),
            "--loop",
            "--json",
            str(out),
        )
    )
    assert code == 4, err
    (line,) = error_lines(err)
    assert "disk full" in line and "complete rows" in line and "Traceback" not in err
    kept = rows(out)  # every line parses: no partial row
    assert len(kept) > 100 and [r["frame"] for r in kept] == list(range(len(kept)))


def test_video_on_a_full_disk_stops_with_exit_4_and_is_finalised(models, tmp_path, small_disk):
    fill(small_disk, (16 << 20) + (600 << 10))  # just above the writer's reserve
    save = small_disk / "o.mp4"
    noisy = tmp_path / "noise.avi"
    writer = cv2.VideoWriter(str(noisy), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(60):
        writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    writer.release()
    code, _, err = finish(
        hs_run(
            models["int8_frame"],
            str(noisy),
            "--loop",
            "--save",
            str(save),
            "--fps",
            "30",
        )
    )
    assert code == 4, err
    assert "disk is full" in err and "Traceback" not in err
    cap = cv2.VideoCapture(str(save))
    ok, _ = cap.read()
    assert ok, "the video written before the stop plays back"
    assert "finalised with" in err
    assert not [p for p in small_disk.iterdir() if p.name.startswith(".")]


def test_outputs_in_a_read_only_folder_fail_before_work(models, tmp_path):
    if not IS_ROOT:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)]).returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs")
    try:
        video = write_video(tmp_path / "v.avi", frames=3)
        for option in ("--save", "--json"):
            code, _, err = finish(
                hs_run(
                    models["int8_frame"],
                    str(video),
                    option,
                    str(ro / "out.mp4"),
                )
            )
            assert code == 2, err
            (line,) = error_lines(err)
            assert ("cannot write" in line and "Read-only file system" in line) or "Permission denied" in line
            assert "internal error" not in err and "frames" not in err  # refused before any frame
    finally:
        if IS_ROOT:
            subprocess.run(["umount", "-l", str(ro)])


# ---------------------------------------------------------------- work silently missed


def test_every_image_of_a_folder_gets_a_full_face_search(models, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    scene = drawn("scene")
    for i in range(9):
        cv2.imwrite(str(folder / f"{i}.png"), scene)
    out = tmp_path / "o.jsonl"
    code, _, err = finish(hs_run(models["int8"], str(folder), "--json", str(out)))
    assert code == 0, err
    assert [len(r["results"]) for r in rows(out)] == [2] * 9


def test_reconnect_applies_to_the_first_open(models, tmp_path):
    """A stream that is not up yet when the service starts (boot order) is waited for."""
    port = free_port()
    out = tmp_path / "o.jsonl"
    proc = hs_run(
        models["int8_frame"],
        f"http://127.0.0.1:{port}/stream.mjpg",
        "--json",
        str(out),
        "--max-frames",
        "20",
        "--reconnect",
        "10",
    )
    seen = read_until(proc, "not available yet")  # the service is waiting for the stream
    cam = MjpegCamera(port).start()
    try:
        code, _, err = finish(proc, 120, seen)
    finally:
        cam.stop()
    assert code == 0, err
    assert "not available yet" in err and "opened" in err
    assert len(rows(out)) == 20


def test_giving_up_exits_3_with_one_line(models):
    code, _, err = finish(
        hs_run(
            models["int8_frame"],
            f"http://127.0.0.1:{free_port()}/stream.mjpg",
            "--reconnect",
            "1",
        ),
        60,
    )
    assert code == 3, err
    (line,) = error_lines(err)
    assert "gave up after 1 reconnect attempt(s)" in line


@pytest.mark.parametrize("how", ["duration", "SIGINT", "SIGTERM"])
def test_stop_conditions_work_while_the_stream_is_down(models, tmp_path, how):
    """Stopped while the stream is down and the reader reconnects: by --duration, or by a signal sent once
    hs-run has said it is reconnecting (an event, not a time)."""
    cam = MjpegCamera().start()
    out = tmp_path / "o.jsonl"
    extra = ["--duration", "4"] if how == "duration" else []
    proc = hs_run(models["int8_frame"], cam.url, "--json", str(out), *extra)
    try:
        assert wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 5)
        cam.stop()  # the camera drops out and stays down
        if how == "duration":
            code, _, err = finish(proc, 60)
        else:
            seen = read_until(proc, "reconnect attempt")
            proc.send_signal(getattr(signal, how))
            code, _, err = finish(proc, 60, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == {"duration": 0, "SIGINT": 130, "SIGTERM": 143}[how], err
    assert "stopped:" in err and "Traceback" not in err
    assert len(rows(out)) >= 5


def test_a_second_signal_exits_at_once_and_keeps_the_rows(models, tmp_path):
    out = tmp_path / "o.jsonl"
    # a stream that never comes up keeps the reader in its backoff, the worst moment to be stopped
    cam = MjpegCamera().start()
    proc = hs_run(models["int8_frame"], cam.url, "--json", str(out))
    try:
        assert wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 5)
        cam.stop()
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        code, _, err = finish(proc, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 143, err
    assert "Traceback" not in err
    assert len(rows(out)) >= 5


def test_a_live_stream_that_drops_out_comes_back(models, tmp_path):
    cam = MjpegCamera().start()
    out = tmp_path / "o.jsonl"
    proc = hs_run(models["int8_frame"], cam.url, "--json", str(out))
    try:
        assert wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 5)
        cam.stop()
        read_until(proc, "reconnect attempt")  # hs-run noticed the drop-out
        n_down = len(rows(out))
        cam.start()
        assert wait_for(lambda: len(rows(out)) > n_down + 10, 30), "no frames after the camera came back"
        proc.send_signal(signal.SIGINT)
        code, _, err = finish(proc, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        cam.stop()
    assert code == 130 and "reconnected" in err and "1 reconnects" in err


# ---------------------------------------------------------------- bad models and bad runs


def test_a_two_class_softmax_model_without_metadata_runs(models, tmp_path):
    video = write_video(tmp_path / "v.avi", frames=3)
    out = tmp_path / "o.jsonl"
    code, _, err = finish(
        hs_run(
            models["softmax2"],
            str(video),
            "--labels",
            "happy,sad",
            "--roi",
            "frame",
            "--json",
            str(out),
        )
    )
    assert code == 0, err
    assert "softmax" in err
    for r in rows(out):
        (res,) = r["results"]
        assert abs(sum(res["scores"].values()) - 1) < 1e-3 and res["label"] in ("happy", "sad")


def test_a_closed_stdout_pipe_is_a_normal_end(models, tmp_path):
    video = write_video(tmp_path / "v.avi", frames=200)
    cmd = (
        f"{sys.executable} -m edge_runtime.cli.hs_run --model {models['int8_frame']} --source {video} --headless "
        f"--json - | head -2"
    )
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 2
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr
    assert "standard output went away" in res.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--channels", "2"], "Invalid value for '--channels'"),
        (["--roi", "body"], "Invalid value for '--roi'"),
        (["--json"], "--json"),
    ],
)
def test_usage_errors_are_one_line(models, tmp_path, args, message):
    code, _, err = finish(hs_run(models["bare"], "x.mp4", "--labels", "happy,sad", *args))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and message in err, err
