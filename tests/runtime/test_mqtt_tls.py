"""--mqtt mqtts:// against a real Mosquitto TLS listener, with certificates the test makes with openssl: a CA,
a server certificate for 127.0.0.1/localhost, a client certificate, and a second CA nobody signed with.
Publishing with the right CA (and a client certificate where the broker requires one), a wrong CA or a
missing client certificate logged in one line and retried without a crash, and the option errors found
before the model loads. Skips without mosquitto, openssl or paho-mqtt."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from edge_runtime.errors import RuntimeFailure
from edge_runtime.outputs.mqtt import check_settings, parse_url, tls_context
from tests.runtime.headless_helpers import start_hs_run, stop, wait_for
from tests.runtime.helpers import write_video
from tests.runtime.mjpeg_server import free_port
from tests.runtime.test_mqtt import Broker, Listener, face, rec

pytestmark = pytest.mark.timeout(90)
OPENSSL = shutil.which("openssl")
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]  # quick to make, unlike RSA
LEAF = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
LEAF += "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"  # what Python 3.13's strict checks want


def openssl(*args: str, cwd: Path) -> None:
    res = subprocess.run([OPENSSL or "openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    if OPENSSL is None:
        pytest.skip("no openssl to make the test certificates")
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "wrongca"):
        openssl(
            *("req", "-x509", *EC, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN={ca}"),
            *("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
            cwd=d,
        )
    (d / "server.ext").write_text(LEAF + "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text(LEAF + "extendedKeyUsage=clientAuth\n")
    for leaf in ("server", "client"):
        openssl("req", "-new", *EC, "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr", "-subj", f"/CN={leaf}", cwd=d)
        openssl(
            *("x509", "-req", "-in", f"{leaf}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"),
            *("-out", f"{leaf}.pem", "-days", "2", "-extfile", f"{leaf}.ext"),
            cwd=d,
        )
    return d


def tls_broker(folder: Path, pki: Path, require_certificate: bool = False) -> tuple[Broker, int]:
    """A plain listener for the test's own subscriber and a TLS one for hs-run."""
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed")
    port = free_port()
    extra = (
        f"listener {port} 127.0.0.1\ncafile {pki}/ca.pem\ncertfile {pki}/server.pem\nkeyfile {pki}/server.key\n"
        f"require_certificate {'true' if require_certificate else 'false'}\n"
    )
    return Broker(folder, extra).start(), port


def make_sink(port: int, prefix: str, **kw):
    from edge_runtime.outputs.live import LiveStatus
    from edge_runtime.outputs.mqtt import MqttSink

    status = LiveStatus(lambda: "live")
    logs: list[str] = []
    url = kw.pop("url", f"mqtts://127.0.0.1:{port}/{prefix}")
    return MqttSink(url, status, logs.append, backoff=(1, 2), every=3600, **kw), status, logs


def test_the_right_ca_connects_and_publishes(tmp_path, pki):
    broker, tls_port = tls_broker(tmp_path, pki)
    listener = Listener(broker.port, "s1")
    sink, status, logs = make_sink(tls_port, "s1", ca=str(pki / "ca.pem"), labels=("happy", "sad"))
    try:
        wait_for(lambda: listener.on("s1/status") == [b"online"] and sink._connected, 20, "online over TLS")
        r = rec(0, face(1, "happy"))
        status.emit(r, None)
        sink.emit(r, None)
        event = json.loads(wait_for(lambda: listener.on("s1/event"), 10, "an event over TLS")[0])
        summary = json.loads(wait_for(lambda: listener.on("s1/summary"), 10, "a summary over TLS")[0])
        assert event["label"] == "happy" and summary["in_view"] == {"happy": 1, "sad": 0}
    finally:
        sink.close(True)
        listener.close()
        broker.stop()
    assert any(f"127.0.0.1:{tls_port} over TLS" in m for m in logs), logs
    assert sink.failed_attempts == 0


def test_a_client_certificate_where_the_broker_requires_one(tmp_path, pki):
    broker, tls_port = tls_broker(tmp_path, pki, require_certificate=True)
    listener = Listener(broker.port, "s2")
    ca = str(pki / "ca.pem")
    without, _, without_logs = make_sink(tls_port, "s3", ca=ca)
    sink, _, _ = make_sink(tls_port, "s2", ca=ca, cert=str(pki / "client.pem"), key=str(pki / "client.key"))
    try:
        wait_for(lambda: listener.on("s2/status") == [b"online"], 20, "online with a client certificate")
        said = wait_for(lambda: [m for m in without_logs if "before accepting it" in m], 20, "the refusal logged")
        assert "certificate" in said[0] and "\n" not in said[0], said
        wait_for(lambda: without.failed_attempts >= 2, 20, "a retry")  # with backoff, no crash
        assert not without._connected
    finally:
        sink.close(True)
        without.close(True)
        listener.close()
        broker.stop()


def test_a_wrong_ca_is_one_line_and_retried_like_a_broker_that_is_down(tmp_path, pki):
    broker, tls_port = tls_broker(tmp_path, pki)
    url = f"mqtts://cam:s3cret@127.0.0.1:{tls_port}/s4"
    sink, _, logs = make_sink(tls_port, "s4", url=url, ca=str(pki / "wrongca.pem"))
    try:
        said = wait_for(lambda: [m for m in logs if "TLS handshake" in m], 20, "the TLS failure logged")
        assert f"TLS handshake with 127.0.0.1:{tls_port} failed" in said[0] and "certificate verify failed" in said[0]
        sink.emit(rec(0, face(1, "sad")), None)  # queued, as with a broker that is down
        wait_for(lambda: sink.failed_attempts >= 2, 20, "a retry with backoff")
        assert not sink._connected and len(said) == 1  # the same reason again is not logged again at once
    finally:
        sink.close(True)
        broker.stop()
    assert "s3cret" not in " ".join(logs)
    assert any("1 events unsent at exit" in m for m in logs), logs


def test_urls_and_contexts():
    u = parse_url("mqtts://user:pw@broker.example.com/home/hs")
    assert (u.tls, u.port, u.prefix) == (True, 8883, "home/hs")
    assert parse_url("mqtts://b:9999").port == 9999 and not parse_url("mqtt://b").tls
    system = tls_context()  # no --mqtt-ca: the system's CAs, the broker's name checked
    assert system.verify_mode == ssl.CERT_REQUIRED and system.check_hostname


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"url": "mqtt://cam:s3cret@b/p", "ca": "ca.pem"}, "--mqtt-ca needs mqtts://"),
        ({"url": "mqtt://b/p", "cert": "client.pem", "key": "client.key"}, "needs mqtts://"),
        ({"url": None, "ca": "ca.pem"}, "only with --mqtt mqtts://"),
        ({"url": "mqtts://b/p", "cert": "client.pem"}, "--mqtt-cert and --mqtt-key go together"),
        ({"url": "mqtts://b/p", "key": "client.key"}, "--mqtt-cert and --mqtt-key go together"),
        ({"url": "mqtts://b/p", "ca": "missing.pem"}, "--mqtt-ca missing.pem: cannot read it"),
        ({"url": "mqtts://b/p", "ca": "."}, "cannot read it"),  # a folder
        ({"url": "mqtts://b/p", "ca": "client.key"}, "--mqtt-ca client.key: no usable PEM certificate"),
        ({"url": "mqtts://b/p", "cert": "client.pem", "key": "server.key"}, "not a PEM certificate and its key"),
        ({"url": "mqtts://b/p", "cert": "client.pem", "key": "locked.key"}, "passphrase"),
        ({"url": "mqtts://b/p", "ha_prefix": "ha/#"}, "--ha-prefix"),
    ],
)
def test_option_errors_are_one_line(pki, monkeypatch, options, says):
    monkeypatch.chdir(pki)
    if not (pki / "locked.key").exists():
        openssl("ec", "-in", "client.key", "-out", "locked.key", "-aes256", "-passout", "pass:secret", cwd=pki)
    with pytest.raises(RuntimeFailure) as info:
        check_settings(**options)
    message = str(info.value)
    assert says in message and "\n" not in message and "s3cret" not in message, message


def test_hs_run_over_tls_with_a_client_certificate(tmp_path, pki):
    broker, tls_port = tls_broker(tmp_path, pki, require_certificate=True)
    listener = Listener(broker.port, "cam5")
    video = write_video(tmp_path / "v.avi", frames=30)
    tls = ["--mqtt-ca", str(pki / "ca.pem"), "--mqtt-cert", str(pki / "client.pem"), "--mqtt-key"]
    proc = start_hs_run(
        *("--source", str(video), "--loop", "--roi", "frame", "--mqtt", f"mqtts://127.0.0.1:{tls_port}/cam5"),
        *tls,
        str(pki / "client.key"),
    )
    try:
        wait_for(lambda: listener.on("cam5/status") == [b"online"], 30, "hs-run online over TLS")
        wait_for(lambda: listener.on("cam5/summary"), 20, "a summary over TLS")
    finally:
        code, _out, err = stop(proc)
        listener.close()
        broker.stop()
    assert code == 130, err


def test_hs_run_refuses_tls_files_with_plain_mqtt_in_one_line(tmp_path, pki):
    video = write_video(tmp_path / "v.avi", frames=2)
    proc = start_hs_run(
        *("--source", str(video), "--mqtt", "mqtt://cam:s3cret@127.0.0.1:1/x", "--mqtt-ca", str(pki / "ca.pem"))
    )
    _out, err = proc.communicate(timeout=60)  # it ends by itself, before loading the model
    code = proc.returncode
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "needs mqtts://" in lines[0] and "s3cret" not in err, err
