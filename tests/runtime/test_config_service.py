"""--config FILE (TOML, the option names, the command line wins) and the service parts: the example
config in deploy/ is valid, and systemd's notify protocol (READY, WATCHDOG while frames flow, STOPPING)
reaches a NOTIFY_SOCKET exactly as systemd would read it."""

from __future__ import annotations

import json
import signal
import socket
import tomllib

import pytest
import typer

from edge_runtime.cli.configfile import to_args, with_config
from edge_runtime.cli.hs_run import app
from edge_runtime.errors import RuntimeFailure
from tests.runtime.headless_helpers import REPO, start_hs_run
from tests.runtime.helpers import write_video

pytestmark = pytest.mark.timeout(60)
PARAMS = typer.main.get_command(app).params


def test_settings_become_options_before_the_command_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('source = "v.avi"\nmax_frames = 3\nheadless = true\nloop = false\nserve-fps = 5.5\n')
    args = with_config(PARAMS, ["--config", str(cfg), "--max-frames", "2"])
    assert args == [
        "--source", "v.avi", "--max-frames", "3", "--headless", "--no-loop", "--serve-fps", "5.5",
        "--config", str(cfg), "--max-frames", "2",
    ]  # fmt: skip
    assert with_config(PARAMS, ["--source", "x"]) == ["--source", "x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate = 1\n", "unknown setting 'frobnicate'"),
        ("headless = 1\n", "headless must be true or false"),
        ("serve = [1, 2]\n", "serve must be a string or a number"),
        ("version = true\n", "unknown setting 'version'"),
        ("serve = \n", "--config"),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path, text, message):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(RuntimeFailure, match=message):
        with_config(PARAMS, ["--config", str(cfg)])
    with pytest.raises(RuntimeFailure, match="no such file"):
        with_config(PARAMS, ["--config", str(tmp_path / "missing.toml")])


def test_config_not_utf8_and_wrong_values_name_the_file_and_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'source = "caf\xe9.mp4"\n')  # Latin-1, not UTF-8
    with pytest.raises(RuntimeFailure, match=r"c\.toml: not UTF-8 text") as info:
        with_config(PARAMS, ["--config", str(cfg)])
    assert "\n" not in str(info.value)
    for text, key in (
        ("threads = 0\n", "threads"),
        ("max_frames = -4\n", "max_frames"),
        ('threads = "x"\n', "threads"),
    ):
        cfg.write_text(text)
        with pytest.raises(RuntimeFailure) as info:
            with_config(PARAMS, ["--config", str(cfg)])
        assert str(cfg) in str(info.value) and f"{key} = " in str(info.value), str(info.value)
    proc = start_hs_run("--config", str(cfg))
    _, err = proc.communicate(timeout=40)
    assert proc.returncode == 2 and str(cfg) in err and "Traceback" not in err, err


def test_the_example_config_is_valid():
    settings = tomllib.loads((REPO / "deploy" / "hs-run.toml").read_text())
    assert to_args(settings, PARAMS, "deploy/hs-run.toml")
    unit = (REPO / "deploy" / "hs-run.service").read_text()
    for line in ("Type=notify", "Restart=on-failure", "WatchdogSec=", "--config /etc/hs-run/hs-run.toml"):
        assert line in unit


def test_hs_run_reads_the_config_and_the_command_line_wins(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=10)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'source = "{video}"\nroi = "frame"\nmax-frames = 6\njson = "-"\n')
    proc = start_hs_run("--config", str(cfg), "--max-frames", "4")
    out, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err
    assert [json.loads(line)["frame"] for line in out.splitlines()] == [0, 1, 2, 3]
    cfg.write_text("nonsense = 1\n")
    proc = start_hs_run("--config", str(cfg))
    _, err = proc.communicate(timeout=40)
    assert proc.returncode == 2 and err.count("\n") == 1 and "unknown setting 'nonsense'" in err


def test_systemd_notify_ready_watchdog_stopping(tmp_path):
    """READY first, then WATCHDOG pets while frames flow (waited for, three of them, not counted in a time
    window), then STOPPING on SIGINT."""
    video = write_video(tmp_path / "v.avi", frames=40)
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(60)
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}  # pet every 50 ms
        proc = start_hs_run("--source", str(video), "--roi", "frame", "--loop", env=env)
        messages: list[str] = []
        while sum(m.startswith("WATCHDOG=1") for m in messages) < 3:
            messages.append(sock.recv(4096).decode())
        proc.send_signal(signal.SIGINT)
        while "STOPPING=1" not in messages[-1]:
            messages.append(sock.recv(4096).decode())
        proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert messages[0].startswith("READY=1")
