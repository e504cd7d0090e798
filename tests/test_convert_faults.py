"""hs-convert when things go wrong: damaged run files, an output folder it cannot write, SIGTERM/SIGINT mid-way,
and a runtime-only install without TensorFlow. Each ends in one line and the documented exit code."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convert.cli import app
from train.tfenv import INSTALL_HINT

ROOT = Path(__file__).resolve().parents[1]
RUN_FILES = ("model.keras", "model_info.json", "splits.json", "metrics.json")
runner = CliRunner()


def _copy_run(run_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(run_dir / name, dest / name)
    return dest


def _one_error_line(result, fragment: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hs-convert: error:") and fragment in lines[0], result.stderr
    return lines[0]


@pytest.fixture
def no_slow_work(monkeypatch):
    """Fail loudly if TensorFlow is imported or a Keras model loaded: the error must come before that work."""
    import convert.core
    import convert.inputs

    def forbidden(*_args, **_kwargs):
        raise AssertionError("slow work started before the input was refused")

    monkeypatch.setattr(convert.core, "import_tensorflow", forbidden)
    monkeypatch.setattr(convert.inputs, "load_keras_model", forbidden)


# ---------------------------------------------------------------------------------------------- damaged run files


def test_truncated_model_is_reported_as_corrupt_not_missing(tiny_run, tmp_path, no_slow_work):
    run = _copy_run(tiny_run, tmp_path / "run")
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    line = _one_error_line(runner.invoke(app, [str(run), "--out", str(tmp_path / "out")]), "corrupt or truncated")
    assert "not found" not in line.lower() and str(run / "model.keras") in line
    assert not (tmp_path / "out").exists()


_IMPORTS_AFTER = """
import sys
from convert.cli import main
sys.argv[0] = "hs-convert"
try:
    main()
except SystemExit as exc:
    print(exc.code, "tensorflow" in sys.modules)
"""


def test_bad_input_is_refused_without_importing_tensorflow(tiny_run, tmp_path):
    """The cheap checks (run files, output folder) come before the seconds-long TensorFlow import."""
    run = _copy_run(tiny_run, tmp_path / "run")
    (run / "model.keras").write_bytes((run / "model.keras").read_bytes()[:100])
    (tmp_path / "file").write_text("x")
    for args in ([str(run)], [str(tiny_run), "--out", str(tmp_path / "file" / "out")]):
        res = subprocess.run(
            [sys.executable, "-c", _IMPORTS_AFTER, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert res.stdout.split() == ["2", "False"], (args, res.stdout, res.stderr[-2000:])


def test_model_with_a_damaged_member_is_reported_as_corrupt(tiny_run, tmp_path, no_slow_work):
    """A complete archive whose content fails its checksum (a flipped byte in the weights)."""
    import zipfile

    run = _copy_run(tiny_run, tmp_path / "run")
    with zipfile.ZipFile(run / "model.keras") as archive:
        member = max(archive.infolist(), key=lambda i: i.compress_size)
    data = bytearray((run / "model.keras").read_bytes())
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    data[start + member.compress_size // 2] ^= 0xFF
    (run / "model.keras").write_bytes(bytes(data))
    _one_error_line(runner.invoke(app, [str(run), "--out", str(tmp_path / "out")]), "is corrupt")


@pytest.mark.parametrize("content", ["{ not json", "[1, 2]", b"\xff\xfe\x00 binary"])
def test_corrupt_metrics_json_is_named_in_a_warning(tiny_run, tmp_path, content):
    from convert import inputs

    run = _copy_run(tiny_run, tmp_path / "run")
    path = run / "metrics.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    loaded = inputs.load_run(run)
    assert loaded.metrics is None
    assert len(loaded.warnings) == 1 and str(path) in loaded.warnings[0] and "ignoring" in loaded.warnings[0]


def test_good_metrics_json_gives_no_warning(tiny_run):
    from convert import inputs

    loaded = inputs.load_run(tiny_run)
    assert loaded.warnings == [] and isinstance(loaded.metrics, dict)


def test_cli_prints_the_metrics_warning_and_still_converts(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / "run")
    (run / "metrics.json").write_text("{ truncated")
    result = runner.invoke(app, [str(run), "--quiet", "--max-accuracy-drop", "100"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hs-convert: warning: ignoring") and "metrics.json" in lines[0]
    report = json.loads((run / "conversion_report.json").read_text())
    assert report["warnings"] == [lines[0].removeprefix("hs-convert: warning: ")]
    assert (run / "model_float32.tflite").is_file()


# ---------------------------------------------------------------------------------------------- output folder


def _refuses_writes(folder: Path) -> bool:
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


def test_read_only_out_folder_is_refused_before_any_work(tiny_run, tmp_path, no_slow_work):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        if not _refuses_writes(out):
            pytest.skip("chmod 0o555 does not stop this user (root) from writing")
        result = runner.invoke(app, [str(tiny_run), "--out", str(out)])
        _one_error_line(result, f"output folder {out} is not writable")
        assert not any(out.iterdir())
    finally:
        out.chmod(0o755)


def test_read_only_mount_is_refused_before_any_work(tiny_run, no_slow_work):
    """As root, chmod does not stop writes, but a read-only file system (/sys here) does."""
    base = Path("/sys")
    if not base.is_dir() or not _refuses_writes(base):
        pytest.skip("no read-only file system at /sys")
    out = base / "hs-convert-out"
    _one_error_line(runner.invoke(app, [str(tiny_run), "--out", str(out)]), f"output folder {out} is not writable")


def test_out_under_a_regular_file_is_refused_before_any_work(tiny_run, tmp_path, no_slow_work):
    blocker = tmp_path / "somefile"
    blocker.write_text("not a folder")
    out = blocker / "out"
    _one_error_line(runner.invoke(app, [str(tiny_run), "--out", str(out)]), f"{blocker} is not a folder")
    assert blocker.read_text() == "not a folder"


def test_out_that_is_a_regular_file_is_refused(tiny_run, tmp_path, no_slow_work):
    out = tmp_path / "file"
    out.write_text("x")
    _one_error_line(runner.invoke(app, [str(tiny_run), "--out", str(out)]), "exists and is not a folder")


def test_write_failure_at_the_end_is_one_line_exit_4(tiny_run, tmp_path, monkeypatch):
    """A disk that fills up during the final writes: one line, exit 4, no traceback."""
    import errno

    import edge_runtime.io.atomic

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(edge_runtime.io.atomic, "write_bytes", full)
    result = runner.invoke(app, [str(tiny_run), "--out", str(tmp_path / "out"), "--max-accuracy-drop", "100"])
    assert result.exit_code == 4, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in result.output


def test_internal_error_is_one_line_exit_1(tiny_run, tmp_path, monkeypatch):
    """A bug (not a bad input) is still one line, through clikit.report_bug; HS_DEBUG=1 would re-raise it."""
    import convert.core

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.delenv("HS_DEBUG", raising=False)
    monkeypatch.setattr(convert.core, "convert_run", broken)
    result = runner.invoke(app, [str(tiny_run), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        "hs-convert: internal error: RuntimeError: boom (HS_DEBUG=1 shows a traceback)"
    ]


# ---------------------------------------------------------------------------------------------- signals


def _start_conversion(run: Path, out: Path, tmpdir: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convert.cli",
            str(run),
            "--out",
            str(out),
            "-q",
            "int8",
            "-q",
            "float16",
            "--calibration-samples",
            "10",
            "--max-accuracy-drop",
            "100",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_temp_folder(proc: subprocess.Popen, tmpdir: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not list(tmpdir.glob("hs-convert-*")):
        if proc.poll() is not None:
            pytest.fail(f"hs-convert ended before converting: {proc.returncode} {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("hs-convert never started converting")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_signal_mid_conversion_exits_cleanly_without_debris(tiny_run, tmp_path, sig, code, word):
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    proc = _start_conversion(tiny_run, out, tmpdir)
    _wait_for_temp_folder(proc, tmpdir)
    proc.send_signal(sig)
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"hs-convert did not stop on {sig.name}")
    assert proc.returncode == code, stderr[-2000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hs-convert: ") and word in lines[0], stderr[-2000:]
    assert not list(tmpdir.glob("hs-convert-*")), "temporary conversion folder left behind"
    assert not out.exists() or not [p.name for p in out.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------------------------- no TensorFlow

_WITHOUT_TENSORFLOW = """
import os, sys, sysconfig
site = sysconfig.get_paths()["purelib"]
view = sys.argv.pop(1)
for name in os.listdir(site):  # the same site-packages, less what only the [train] extra installs
    if not name.lower().startswith(("tensorflow", "tf_keras", "keras", "tensorboard")):
        os.symlink(os.path.join(site, name), os.path.join(view, name))
sys.path[:] = [view if p == site else p for p in sys.path]
import importlib.util
assert importlib.util.find_spec("tensorflow") is None
from convert.cli import main
sys.argv[0] = "hs-convert"
main()
"""


def test_runtime_only_install_names_the_extra(tiny_run, tmp_path):
    view = tmp_path / "site"
    view.mkdir()
    res = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TENSORFLOW, str(view), str(tiny_run), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and INSTALL_HINT in lines[0], res.stderr[-2000:]
    assert "Traceback" not in res.stderr and not (tmp_path / "out").exists()
