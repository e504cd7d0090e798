"""--serve-cert/--serve-key: the web view over HTTPS with a certificate made here by openssl. Real TLS requests
to every endpoint and the MJPEG stream; clients that speak plain HTTP, trust another CA or never finish the
handshake fail on their own and the server goes on serving; bad certificate settings are one line."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_runtime.cli.hs_run import app
from edge_runtime.errors import RuntimeFailure
from edge_runtime.outputs.live import LiveStatus
from edge_runtime.outputs.metrics import Metrics
from edge_runtime.outputs.web import WebSink, tls_context
from edge_runtime.results import FaceResult, FrameResult
from tests.runtime.headless_helpers import start_hs_run, stop, wait_for
from tests.runtime.test_web import read_parts

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates"),
]

TOKEN = "s3cret"
SECONDS = {"detect": 0.002, "preprocess": 0.0003, "infer": 0.004, "postprocess": 0.00005}


def make_cert(folder: Path, name: str, cn: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 (the address in subjectAltName) and its key."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={cn}",
            "-addext", f"subjectAltName=IP:{cn}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = make_cert(folder, "server")
    other_cert, other_key = make_cert(folder, "other")  # a second, unrelated CA
    return {"cert": cert, "key": key, "other_cert": other_cert, "other_key": other_key}


def record(i: int) -> FrameResult:
    faces = (
        FaceResult((10, 10, 40, 40), "happy", 0.9, {"happy": 0.9, "sad": 0.1}, 1),
        FaceResult((60, 10, 40, 40), "sad", 0.8, {"happy": 0.2, "sad": 0.8}, 2),
    )
    return FrameResult(i, time.time(), "test", faces, seconds=dict(SECONDS))


class SecureWeb:
    """LiveStatus + Metrics + WebSink over HTTPS on a free loopback port, fed by hand as the pipeline does."""

    def __init__(self, certs: dict[str, Path], token: str | None = TOKEN) -> None:
        self.logs: list[str] = []
        self.status = LiveStatus(lambda: "live")
        self.metrics = Metrics(labels=("happy", "sad"))
        self.sink = WebSink(
            "127.0.0.1:0",
            self.status,
            self.logs.append,
            token=token,
            cert=str(certs["cert"]),
            key=str(certs["key"]),
            metrics=self.metrics,
        )
        self.port = self.sink.server.port
        self.trust = ssl.create_default_context(cafile=str(certs["cert"]))
        self.i = 0

    def feed(self) -> None:
        rec = record(self.i)
        image = np.zeros((48, 64, 3), np.uint8) if self.sink.needs_image else None
        for s in (self.status, self.metrics, self.sink):
            s.emit(rec, image)
        self.i += 1

    def get(self, path: str, token: str | None = TOKEN, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, context=context or self.trust, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def close(self) -> None:
        self.sink.close(True)


@pytest.fixture
def web(certs):
    w = SecureWeb(certs)
    yield w
    w.close()


def read_stream(web: SecureWeb, n: int, timeout: float = 20.0) -> bytes:
    """The MJPEG stream over TLS until ``n`` complete JPEG parts arrived (or the timeout)."""
    with socket.create_connection(("127.0.0.1", web.port), timeout=timeout) as raw:
        with web.trust.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(f"GET /stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            return read_parts(s, n, timeout)


def test_every_endpoint_over_https(web):
    assert any(m.startswith("web view on https://127.0.0.1:") and "metrics" in m for m in web.logs), web.logs
    for _ in range(5):
        web.feed()
    status, page = web.get("/")
    assert status == 200 and b'id="video"' in page
    status, body = web.get("/status.json")
    data = json.loads(body)
    assert status == 200 and data["frames"] == 5 and len(data["faces"]) == 2
    assert web.get("/healthz") == (200, b"frames arriving\n")
    status, text = web.get("/metrics")
    assert status == 200
    parser = pytest.importorskip("prometheus_client.parser")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(text.decode())
        for s in family.samples
    }
    assert samples[("hs_frames_total", ())] == 5 and samples[("hs_faces_total", ())] == 10
    assert samples[("hs_labels_total", (("label", "happy"),))] == 5
    assert samples[("hs_stage_seconds_count", (("stage", "infer"),))] == 5


def test_token_over_https(web):
    for path in ("/", "/status.json", "/healthz", "/metrics", "/stream.mjpg"):
        assert web.get(path, token=None)[0] == 401, path
        assert web.get(path, token="wrong")[0] == 401, path
    assert web.get("/metrics?token=" + TOKEN, token=None)[0] == 200


def test_mjpeg_stream_over_https_and_a_viewer_that_leaves_is_noticed(web):
    stop_feeding = threading.Event()

    def feed() -> None:
        while not stop_feeding.is_set():
            web.feed()
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        data = read_stream(web, 2)
    finally:
        stop_feeding.set()
        feeder.join()
    assert b"multipart/x-mixed-replace; boundary=hsframe" in data
    assert data.count(b"Content-Type: image/jpeg") >= 2 and b"\xff\xd8" in data
    wait_for(lambda: web.sink.hub.viewers == 0, 20, "the TLS viewer to be let go")

    # no frames now (a source that is down): a TLS viewer that hangs up is still noticed
    raw = socket.create_connection(("127.0.0.1", web.port), timeout=10)
    s = web.trust.wrap_socket(raw, server_hostname="127.0.0.1")
    s.sendall(f"GET /stream.mjpg?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert s.recv(64).startswith(b"HTTP/1.0 200")
    wait_for(lambda: web.sink.hub.viewers == 1, 10, "one viewer")
    s.close()
    wait_for(lambda: web.sink.hub.viewers == 0, 20, "the viewer that hung up to be noticed without frames")


def test_plain_http_client_is_told_and_the_server_goes_on(web):
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        conn.request("GET", "/status.json", headers={"Authorization": f"Bearer {TOKEN}"})
        resp = conn.getresponse()
        assert resp.status == 400 and b"HTTPS" in resp.read()
    finally:
        conn.close()
    assert web.get("/healthz")[0] == 503  # served (no frame yet)


def test_client_trusting_another_ca_fails_and_the_server_goes_on(web, certs):
    wrong = ssl.create_default_context(cafile=str(certs["other_cert"]))
    with pytest.raises(urllib.error.URLError) as info:
        web.get("/status.json", context=wrong)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
    with pytest.raises(ssl.SSLError):  # and one that refuses mid-handshake, on a raw socket
        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as raw:
            wrong.wrap_socket(raw, server_hostname="127.0.0.1")
    assert web.get("/status.json")[0] == 200


def test_a_stalled_handshake_holds_up_nobody(web):
    """Clients that connect and send nothing, or half a ClientHello, wait on their own threads."""
    silent = [socket.create_connection(("127.0.0.1", web.port), timeout=10) for _ in range(3)]
    half = socket.create_connection(("127.0.0.1", web.port), timeout=10)
    half.sendall(b"\x16\x03\x01\x02\x00\x01")  # a TLS record header announcing 512 bytes, then nothing
    try:
        for _ in range(3):
            assert web.get("/status.json")[0] == 200
    finally:
        for s in [*silent, half]:
            s.close()
    assert web.get("/status.json")[0] == 200


def test_certificate_settings_are_checked(certs, tmp_path):
    cert, key, other_key = str(certs["cert"]), str(certs["key"]), str(certs["other_key"])
    assert tls_context(None, None) is None
    assert isinstance(tls_context(cert, key), ssl.SSLContext)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", key, "-aes256", "-passout", "pass:pw", "-out", str(encrypted)],
        check=True,
        capture_output=True,
    )
    cases = {
        (cert, None): "go together",
        (None, key): "go together",
        (str(tmp_path / "missing.crt"), key): "cannot read",
        (cert, str(tmp_path / "missing.key")): "cannot read",
        (str(junk), key): "not a PEM certificate",
        (cert, str(junk)): "not a PEM private key",
        (key, key): "not a PEM certificate",
        (cert, other_key): "does not belong to the certificate",
        (cert, str(encrypted)): "encrypted",
    }
    for (c, k), why in cases.items():
        with pytest.raises(RuntimeFailure) as info:
            tls_context(c, k)
        message = str(info.value)
        assert why in message and "\n" not in message, (c, k, message)
    with pytest.raises(RuntimeFailure, match="does not belong"):  # the sink refuses too, before it listens
        WebSink("127.0.0.1:0", LiveStatus(lambda: "live"), print, cert=cert, key=other_key)


def test_cli_refuses_bad_certificate_settings(certs):
    cert, other_key = str(certs["cert"]), str(certs["other_key"])
    runner = CliRunner()
    res = runner.invoke(app, ["--source", "x.mp4", "--serve", "0", "--serve-cert", cert])
    assert res.exit_code == 2 and "--serve-cert and --serve-key go together" in res.output
    res = runner.invoke(app, ["--source", "x.mp4", "--serve-cert", cert, "--serve-key", other_key])
    assert res.exit_code == 2 and "need --serve" in res.output
    res = runner.invoke(app, ["--source", "x.mp4", "--serve", "0", "--serve-cert", cert, "--serve-key", other_key])
    assert res.exit_code == 2 and "does not belong to the certificate" in res.output
    assert "Traceback" not in res.output


def test_hs_run_serves_https_and_metrics(certs, tmp_path):
    """The real hs-run on a looping video: the log says https://, and /metrics counts its frames."""
    from tests.runtime.helpers import write_video

    video = write_video(tmp_path / "v.avi", frames=6)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_hs_run(
        "--source", str(video), "--loop", "--roi", "frame", "--serve", str(port),
        "--serve-cert", str(certs["cert"]), "--serve-key", str(certs["key"]), "--serve-token", TOKEN,
        "--duration", "60",
    )  # fmt: skip
    trust = ssl.create_default_context(cafile=str(certs["cert"]))

    def frames() -> float:
        req = urllib.request.Request(f"https://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, context=trust, timeout=2) as resp:
            text = resp.read().decode()
        line = next(x for x in text.splitlines() if x.startswith("hs_frames_total "))
        return float(line.split()[1])

    try:
        wait_for(lambda: frames() >= 3, 60, "hs-run's /metrics to count frames over HTTPS")
    finally:
        code, _out, err = stop(proc)
    assert code == 130, err
    assert f"web view on https://127.0.0.1:{port}/" in err
