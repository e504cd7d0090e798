"""--serve at the HTTP level: each endpoint, the token, the bind address, viewers (several, slow, none),
and the real hs-run against a loopback camera that drops out and comes back (healthz 200 -> 503 -> 200)."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli.hs_run import app
from edge_runtime.errors import RuntimeFailure
from edge_runtime.outputs.live import LiveStatus
from edge_runtime.outputs.web import WebSink, parse_address
from edge_runtime.results import FaceResult, FrameResult
from tests.runtime.headless_helpers import get, start_hs_run, stop, wait_for
from tests.runtime.mjpeg_server import MjpegCamera

pytestmark = pytest.mark.timeout(60)


def record(i: int, label: str = "happy", track: int = 1) -> FrameResult:
    face = FaceResult((10, 10, 40, 40), label, 0.9, {"happy": 0.9, "sad": 0.1}, track)
    return FrameResult(i, time.time(), "test", (face,))


class Web:
    """A LiveStatus + WebSink on a free loopback port, fed by hand."""

    def __init__(self, token: str | None = None, fps: float = 10.0, address: str = "127.0.0.1:0") -> None:
        self.state = "live"
        self.logs: list[str] = []
        self.status = LiveStatus(lambda: self.state)
        self.sink = WebSink(address, self.status, self.logs.append, token=token, fps=fps)
        self.port = self.sink.server.port
        self.image = np.zeros((48, 64, 3), np.uint8)
        self.i = 0

    def feed(self, label: str = "happy") -> float:
        """One frame through both sinks as the pipeline does; returns the seconds the sinks took."""
        t0 = time.perf_counter()
        rec = record(self.i, label)
        image = self.image.copy() if self.sink.needs_image else None
        self.status.emit(rec, image)
        self.sink.emit(rec, image)
        self.i += 1
        return time.perf_counter() - t0

    def close(self) -> None:
        self.sink.close(True)


@pytest.fixture
def web():
    w = Web()
    yield w
    w.close()


def read_parts(s: socket.socket, n: int, timeout: float) -> bytes:
    """What a connected stream sends until ``n`` complete JPEG parts arrived (or ``timeout``, a ceiling)."""
    data, deadline = b"", time.monotonic() + timeout
    while data.count(b"\xff\xd9\r\n--hsframe") < n and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_frames(port: int, n: int, path: str = "/stream.mjpg", timeout: float = 10.0) -> int:
    """Connect to the MJPEG stream and count complete JPEG parts until ``n`` (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = read_parts(s, n, timeout)
        assert b"multipart/x-mixed-replace; boundary=hsframe" in data
        return data.count(b"Content-Type: image/jpeg")


def test_page_status_and_health(web):
    status, page = get(web.port, "/")
    assert status == 200 and b'id="video"' in page and b"stream.mjpg" in page and b"status.json" in page
    assert get(web.port, "/healthz")[0] == 503  # no frame yet
    for label in ("happy", "happy", "sad"):
        web.feed(label)
    status, body = get(web.port, "/status.json")
    data = json.loads(body)
    assert status == 200 and data["state"] == "live" and data["frames"] == 3 and data["healthy"]
    assert data["faces"] == [{"track": 1, "label": "sad", "score": 0.9, "box": [10, 10, 40, 40]}]
    assert data["counts"] == {"happy": 1, "sad": 1}  # label changes of the tracked face, not frames
    assert data["viewers"] == 0 and data["fps"] > 0
    assert get(web.port, "/healthz") == (200, b"frames arriving\n")
    web.state = "reconnecting"
    assert get(web.port, "/healthz") == (503, b"source reconnecting\n")
    web.state = "live"
    web.status.stale_s = 0.05
    wait_for(lambda: get(web.port, "/healthz")[0] == 503, 30, "healthz to notice no frame")
    code, why = get(web.port, "/healthz")
    assert code == 503 and why.startswith(b"no frame for")
    assert get(web.port, "/nope")[0] == 404


def test_token_on_every_endpoint():
    w = Web(token="s3cret")
    try:
        w.feed()
        for path in ("/", "/status.json", "/healthz", "/stream.mjpg", "/metrics"):
            assert get(w.port, path)[0] == 401, path
            assert get(w.port, path + "?token=wrong")[0] == 401, path
        assert get(w.port, "/status.json", {"Authorization": "Bearer s3cret"})[0] == 200
        assert get(w.port, "/healthz?token=s3cret")[0] == 200
        assert get(w.port, "/?token=s3cret")[0] == 200

        def feed() -> None:
            for _ in range(40):
                w.feed()
                time.sleep(0.02)

        t = threading.Thread(target=feed)
        t.start()
        assert read_frames(w.port, 2, "/stream.mjpg?token=s3cret") >= 2
        t.join()
    finally:
        w.close()


def test_no_viewer_costs_nothing(web):
    for _ in range(50):
        assert not web.sink.needs_image
        web.feed()
    assert web.sink.hub.encoded == 0


def test_concurrent_viewers_rate_capped_and_a_stalled_viewer_drops(web):
    stalled = socket.create_connection(("127.0.0.1", web.port))  # asks for the stream, then never reads
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    web.image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)  # ~50 KB JPEGs
    counts: list[int] = []
    viewers = [threading.Thread(target=lambda: counts.append(read_frames(web.port, 8))) for _ in range(3)]
    for v in viewers:
        v.start()
    wait_for(lambda: web.sink.hub.viewers == 4, 5, "four viewers")
    fed, started = 0, time.monotonic()
    while any(v.is_alive() for v in viewers) and time.monotonic() - started < 60:
        web.feed()  # returns at once even while the stalled viewer's socket is full
        fed += 1
        time.sleep(0.005)  # a 200 FPS pipeline
    for v in viewers:
        v.join(timeout=5)
    elapsed = time.monotonic() - started
    assert counts and min(counts) >= 8, counts  # the stalled viewer blocked neither the others nor the feed
    assert fed >= 8
    assert web.sink.hub.encoded <= 10 * elapsed + 3  # at most the viewer frame rate, whatever the pipeline does
    stalled.close()
    wait_for(lambda: web.feed() and web.sink.hub.viewers == 0, 5, "viewers to be let go", every=0.02)
    web.feed()
    assert not web.sink.needs_image  # nobody watches: no drawing, no encoding


def test_bind_address_and_warning():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_address("[::1]:9") == ("::1", 9)
    for bad in ("http", "host:", ":80", "1:99999"):
        with pytest.raises(RuntimeFailure):
            parse_address(bad)
    w = Web(address="0.0.0.0:0")
    try:
        assert any("warning" in m and "reachable from other machines" in m and "token" in m for m in w.logs)
        assert get(w.port, "/healthz")[0] == 503
    finally:
        w.close()
    w = Web()
    try:
        assert not any("warning" in m for m in w.logs) and "http://127.0.0.1:" in w.logs[0]
    finally:
        w.close()


def test_cli_refuses_bad_serve_settings(tmp_path):
    res = CliRunner().invoke(app, ["--source", "x.mp4", "--serve", "nonsense"])
    assert res.exit_code == 2 and "--serve wants [HOST:]PORT" in res.output
    res = CliRunner().invoke(app, ["--source", "x.mp4", "--serve-token", "t"])
    assert res.exit_code == 2 and "--serve-token needs --serve" in res.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        video = tmp_path / "v.avi"
        from tests.runtime.helpers import write_video

        write_video(video, frames=3)
        res = CliRunner().invoke(app, ["--source", str(video), "--headless", "--serve", str(port), "--roi", "frame"])
    assert res.exit_code == 2 and "cannot listen" in res.output


def test_hs_run_healthz_follows_the_camera():
    """The real pipeline on a loopback MJPEG camera: 200 while it streams, 503 while it is down, 200 again."""
    cam = MjpegCamera(fps=15).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_hs_run("--source", cam.url, "--roi", "frame", "--serve", str(port), "--duration", "40")
    try:
        wait_for(lambda: get(port, "/healthz", timeout=1)[0] == 200, 20, "healthz 200")
        data = json.loads(get(port, "/status.json")[1])
        assert (
            data["state"] == "live"
            and data["faces"]
            and data["faces"][0]["label"] in ("happy", "neutral", "sad", "uncertain")
        )
        cam.stop()
        wait_for(lambda: get(port, "/healthz", timeout=1)[0] == 503, 15, "healthz 503 with the camera down")
        assert json.loads(get(port, "/status.json")[1])["state"] in ("reconnecting", "live")
        cam.start()
        wait_for(lambda: get(port, "/healthz", timeout=1)[0] == 200, 20, "healthz 200 after the camera came back")
    finally:
        code, _out, err = stop(proc)
        cam.stop()
    assert code == 130, err
    assert "web view on http://127.0.0.1:" in err and "reconnected" in err


def test_viewer_cap_holds_when_viewers_arrive_together(web):
    """14 viewers at once: exactly MAX_VIEWERS (8) get the stream, the rest a 503 (the count is taken under
    the same lock that checks it)."""
    from edge_runtime.outputs.web import MAX_VIEWERS

    n = MAX_VIEWERS + 6
    gate = threading.Barrier(n)
    statuses: list[bytes] = []
    socks: list[socket.socket] = []
    lock = threading.Lock()

    def viewer() -> None:
        s = socket.create_connection(("127.0.0.1", web.port), timeout=10)
        with lock:
            socks.append(s)
        gate.wait()
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        line = s.recv(64).split(b"\r\n", 1)[0]
        with lock:
            statuses.append(line)

    threads = [threading.Thread(target=viewer) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    try:
        assert len(statuses) == n, statuses
        admitted = sum(b" 200 " in line for line in statuses)
        assert admitted == MAX_VIEWERS, statuses
        assert sum(b" 503 " in line for line in statuses) == n - MAX_VIEWERS
        assert web.sink.hub.viewers <= MAX_VIEWERS
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: web.feed() and web.sink.hub.viewers == 0, 10, "viewers to be let go", every=0.02)


def test_without_a_token_a_rebound_name_is_refused(web):
    """DNS rebinding: a page on evil.example whose name now points here sends Host: evil.example."""

    def status_for(host: str) -> bytes:
        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as s:
            s.sendall(f"GET /status.json HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).split(b"\r\n", 1)[0]

    assert b" 403 " in status_for("evil.example") and b" 403 " in status_for(f"evil.example:{web.port}")
    for ok in (f"127.0.0.1:{web.port}", f"localhost:{web.port}", f"[::1]:{web.port}", "192.168.1.20:8080"):
        assert b" 200 " in status_for(ok), ok


def test_with_a_token_any_host_name_may_ask():
    w = Web(token="s3cret")
    try:
        with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
            s.sendall(b"GET /status.json?token=s3cret HTTP/1.1\r\nHost: cam.example\r\nConnection: close\r\n\r\n")
            assert b" 200 " in s.recv(64).split(b"\r\n", 1)[0]
    finally:
        w.close()
