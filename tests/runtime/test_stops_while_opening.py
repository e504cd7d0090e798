"""Every stop works while the source is still opening: a FIFO nobody writes to (its open blocks forever) and a
server that accepts and never sends (FFmpeg waits for its timeout). Opening happens in the reader thread."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading

import pytest

from tests.runtime.headless_helpers import start_hs_run
from tests.runtime.helpers import fixture_models

pytestmark = pytest.mark.timeout(120)


def wait_exit(proc, ceiling: float = 60.0) -> tuple[int, str]:
    """The exit code and stderr; a process still running after the generous ceiling is killed and fails."""
    try:
        _, err = proc.communicate(timeout=ceiling)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"hs-run did not stop while its source was opening: {err[-500:]}")
    return proc.returncode, err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("how", ["duration", "sigint", "sigterm"])
def test_a_fifo_nobody_writes_to_stops(tmp_path, how):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    args = ["--model", str(fixture_models()["int8"]), "--source", str(fifo), "--roi", "frame"]
    proc = start_hs_run(*args, *(["--duration", "1"] if how == "duration" else []))
    if how != "duration":
        line = proc.stderr.readline()
        while line and "source" not in line:  # hs-run logged the source: it is (still) opening it
            line = proc.stderr.readline()
        proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGTERM)
    code, err = wait_exit(proc)
    assert code == {"duration": 0, "sigint": 130, "sigterm": 143}[how], err
    assert "Traceback" not in err


def test_a_server_that_accepts_and_never_sends_stops_on_duration():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)  # never answers
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        proc = start_hs_run("--model", str(fixture_models()["int8"]), "--source", f"http://127.0.0.1:{port}/live.mjpg",
                            "--roi", "frame", "--duration", "1")  # fmt: skip
        code, err = wait_exit(proc)
        assert code == 0 and "stopped: --duration 1" in err, err
    finally:
        done.set()
        t.join(timeout=5)
        for c in held:
            c.close()
        server.close()
