"""A stream that delivers, then goes silent, then SIGINT: exit 130, never an abort ('terminate called without
an active exception') from OpenCV's teardown beside the reader thread still waiting in its read."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.runtime.headless_helpers import start_hs_run
from tests.runtime.helpers import fixture_models
from tests.runtime.mjpeg_server import MjpegCamera

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("attempt", range(3))
def test_sigint_on_a_stalled_stream_exits_130(attempt):
    camera = MjpegCamera(fps=30).start()
    try:
        proc = start_hs_run("--model", str(fixture_models()["int8"]), "--source", camera.url, "--roi", "frame",
                            "--json", "-")  # fmt: skip
        assert proc.stdout is not None
        first = proc.stdout.readline()  # a result row: the stream is live
        assert first.startswith("{"), proc.stderr.read() if proc.stderr else ""
        camera.flowing.clear()  # silent from now on; the reader sits in its read
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("hs-run did not stop on SIGINT with a stalled stream")
        assert proc.returncode == 130, (proc.returncode, err[-800:])
        assert "terminate called" not in err
    finally:
        camera.stop()
