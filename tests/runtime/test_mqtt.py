"""--mqtt against a real Mosquitto broker on 127.0.0.1 (a free port, started by the test): retained
online/offline status and last will, events on label changes only, summaries, the bounded queue while the
broker is away and its delivery when it comes back. Skips with the reason without mosquitto or paho-mqtt."""

from __future__ import annotations

import getpass
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge_runtime.errors import RuntimeFailure
from edge_runtime.outputs.live import LiveStatus
from edge_runtime.outputs.mqtt import parse_url
from edge_runtime.results import FaceResult, FrameResult
from tests.runtime.headless_helpers import REPO, start_hs_run, stop, wait_for
from tests.runtime.helpers import FACE_CLIP, write_video

pytestmark = pytest.mark.timeout(90)
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """mosquitto on 127.0.0.1:port with a persistence file, so a subscriber's session survives a restart."""

    def __init__(self, folder: Path, extra: str = "") -> None:
        """``extra``: more configuration, e.g. a second listener with TLS (test_mqtt_tls.py)."""
        if not Path(MOSQUITTO).exists():
            pytest.skip("no mosquitto broker (apt-get install mosquitto)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"allow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 0\n"
            f"user {getpass.getuser()}\n"  # as root it would switch to 'mosquitto', who cannot write {folder}
            f"listener {self.port} 127.0.0.1\n{extra}"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=subprocess.DEVNULL)

        def up() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True

        wait_for(up, 10, "mosquitto to listen")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)  # saves its persistence file
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def broker(tmp_path):
    pytest.importorskip(
        "paho.mqtt.client", reason="paho-mqtt not installed (pip install 'happysad-edge-runtime[mqtt]')"
    )
    b = Broker(tmp_path).start()
    yield b
    b.stop()


class Listener:
    """A subscriber to PREFIX/# with a persistent session (QoS 1 messages wait for it across restarts)."""

    def __init__(self, port: int, prefix: str, name: str = "listener", also: tuple[str, ...] = ()) -> None:
        """``also``: more topic filters (e.g. Home Assistant's discovery topics, test_ha_discovery.py)."""
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, clean_session=False)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_message = lambda c, u, m: self._got(m.topic, m.payload, bool(m.retain))
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe([(t, 1) for t in (f"{prefix}/#", *also)])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _got(self, topic: str, payload: bytes, retain: bool) -> None:
        with self.lock:
            self.messages.append((topic, payload, retain))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def face(track: int, label: str) -> FaceResult:
    return FaceResult((1, 2, 30, 30), label, 0.8, {"happy": 0.8, "sad": 0.2}, track)


def rec(i: int, *faces: FaceResult) -> FrameResult:
    return FrameResult(i, round(time.time(), 3), "cam", tuple(faces))


def make_sink(port: int, prefix: str, **kw):
    from edge_runtime.outputs.mqtt import MqttSink

    status = LiveStatus(lambda: "live")
    logs: list[str] = []
    sink = MqttSink(f"mqtt://127.0.0.1:{port}/{prefix}", status, logs.append, backoff=(1, 2), **kw)
    return sink, status, logs


def test_url_parsing():
    u = parse_url("mqtt://user:p%40ss@broker.lan:1884/home/hs")
    assert (u.host, u.port, u.prefix, u.username, u.password) == ("broker.lan", 1884, "home/hs", "user", "p@ss")
    assert parse_url("mqtt://10.0.0.2").port == 1883 and parse_url("mqtt://10.0.0.2").prefix == "happysad"
    for bad in ("http://x/y", "mqtt:///y", "mqtt://x/a/#", "mqtt://x:port/y"):
        with pytest.raises(RuntimeFailure):
            parse_url(bad)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mqtt://[::1", "not a URL"),  # was an internal error
        ("mqtt://cam:s3cr/et@broker/p", "must be %-encoded"),  # a / in the password
        ("mqtt://cam:s3cr?et@broker/p", "%-encode"),
        ("http://cam:s3cret@broker/p", "wants mqtt://"),
    ],
)
def test_bad_urls_are_one_line_and_never_show_the_password(url, says):
    with pytest.raises(RuntimeFailure) as info:
        parse_url(url)
    message = str(info.value)
    assert says in message and "s3cr" not in message and "\n" not in message, message
    assert parse_url("mqtt://cam:se+cret@broker/p").password == "se+cret"  # + is fine in a password


def test_events_on_label_changes_summary_and_status(broker):
    listener = Listener(broker.port, "t1")
    sink, status, logs = make_sink(broker.port, "t1", every=3600)
    try:
        wait_for(lambda: listener.on("t1/status") == [b"online"], 10, "online status")
        frames = [
            rec(0, face(1, "happy")),
            rec(1, face(1, "happy")),
            rec(2, face(1, "happy"), face(2, "sad")),
            rec(3, face(1, "sad"), face(2, "sad")),
            rec(4, face(1, "sad")),
        ]
        for r in frames:
            status.emit(r, None)
            sink.emit(r, None)
        events = wait_for(lambda: len(listener.on("t1/event")) >= 3 and listener.on("t1/event"), 10, "3 events")
        got = [json.loads(e) for e in events]
        assert [(e["track"], e["previous"], e["label"]) for e in got] == [
            (1, None, "happy"),
            (2, None, "sad"),
            (1, "happy", "sad"),
        ]
        assert set(got[0]) == {"time", "track", "label", "previous", "score", "scores", "box", "source"}
        summary = json.loads(wait_for(lambda: listener.on("t1/summary"), 10, "a summary")[0])
        assert summary["state"] == "live" and summary["frames"] == 1 and "counts" in summary and "faces" in summary
    finally:
        sink.close(True)
    wait_for(lambda: listener.on("t1/status")[-1:] == [b"offline"], 10, "offline status at close")
    listener.close()
    late = Listener(broker.port, "t1", name="late")  # retained: a new subscriber learns the state at once
    try:
        wait_for(lambda: late.on("t1/status") == [b"offline"] and late.on("t1/summary"), 10, "retained messages")
    finally:
        late.close()
    assert "mqtt: connected" in " ".join(logs)


def test_broker_away_and_back_bounded_queue(broker):
    listener = Listener(broker.port, "t2")
    sink, _status, logs = make_sink(broker.port, "t2", every=3600, queue=5)
    try:
        wait_for(lambda: listener.on("t2/status") == [b"online"], 10, "online status")
        broker.stop()
        wait_for(lambda: not sink._connected, 10, "the sink to notice the broker is gone")
        labels = ["happy", "sad"] * 4  # 8 label changes of face 1 while away: 5 kept, the 3 oldest dropped
        for i, label in enumerate(labels):
            sink.emit(rec(i, face(1, label)), None)
        assert sink.dropped == 3
        broker.start()
        events = wait_for(lambda: len(listener.on("t2/event")) >= 5 and listener.on("t2/event"), 30, "queued events")
        got = [json.loads(e) for e in events]
        assert [e["label"] for e in got] == labels[3:]  # the newest five, in order
        assert any("3 oldest events dropped while away" in m for m in logs), logs
        assert any("connection lost" in m for m in logs), logs
        sink.emit(rec(99, face(1, "happy")), None)  # and it goes on publishing
        wait_for(lambda: len(listener.on("t2/event")) >= 6, 10, "an event after the comeback")
    finally:
        sink.close(True)
        listener.close()


def test_hs_run_publishes_and_the_last_will_says_offline(broker, tmp_path):
    listener = Listener(broker.port, "cam1")
    if FACE_CLIP.is_file():
        source = ["--source", str(FACE_CLIP), "--loop"]
    else:
        source = ["--source", str(write_video(tmp_path / "v.avi", frames=30)), "--loop", "--roi", "frame"]
    proc = start_hs_run(*source, "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam1", "--mqtt-every", "1")
    try:
        wait_for(lambda: listener.on("cam1/status") == [b"online"], 20, "hs-run online")
        event = json.loads(wait_for(lambda: listener.on("cam1/event"), 20, "an event")[0])
        assert event["label"] in ("happy", "neutral", "sad", "uncertain") and event["previous"] is None
        wait_for(lambda: len(listener.on("cam1/summary")) >= 2, 10, "periodic summaries")
        summary = json.loads(listener.on("cam1/summary")[-1])
        assert summary["frames"] > 0 and summary["fps"] > 0
        proc.kill()  # no goodbye: the broker publishes the last will
        wait_for(lambda: listener.on("cam1/status")[-1:] == [b"offline"], 10, "the last will")
    finally:
        stop(proc)
        listener.close()


def test_clean_stop_says_offline(broker, tmp_path):
    listener = Listener(broker.port, "cam2")
    video = write_video(tmp_path / "v.avi", frames=20)
    proc = start_hs_run("--source", str(video), "--roi", "frame", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam2")
    try:
        code, _out, err = stop(proc, timeout=30) if proc.wait(timeout=30) is None else (proc.returncode, "", "")
    finally:
        listener.client.loop(0.1)
    wait_for(lambda: listener.on("cam2/status")[-1:] == [b"offline"], 10, "offline after the video ended")
    assert code == 0, err
    listener.close()


def test_runtime_never_imports_paho_without_mqtt(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=3)
    code = (
        "import sys, threading\n"
        "from edge_runtime.config import RunConfig\n"
        "from edge_runtime.run.runner import execute\n"
        f"execute(RunConfig.from_flat(source={str(video)!r}, headless=True, serve='127.0.0.1:0', "
        f"snapshot_dir={str(tmp_path / 's')!r}, snapshot_on='happy'), threading.Event(), lambda m: None)\n"
        "assert not [m for m in sys.modules if m.startswith('paho')], 'paho imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_missing_paho_is_one_clear_line(tmp_path):
    code = (
        "import sys; sys.modules['paho'] = None\n"
        "from edge_runtime.cli.hs_run import main\n"
        f"sys.argv = ['hs-run', '--source', {str(write_video(tmp_path / 'v.avi', frames=2))!r}, '--headless', "
        "'--mqtt', 'mqtt://127.0.0.1:1/x']\n"
        "main()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "pip install 'happysad-edge-runtime[mqtt]'" in res.stderr, res.stderr


def test_a_broker_down_for_the_whole_run_is_said_at_once(tmp_path):
    """The first failed connection is logged while the run goes on (not only at exit)."""
    from tests.runtime.headless_helpers import start_hs_run, stop
    from tests.runtime.mjpeg_server import free_port

    pytest.importorskip("paho.mqtt.client")
    video = write_video(tmp_path / "v.avi", frames=20)
    proc = start_hs_run(
        "--source", str(video), "--loop", "--roi", "frame", "--mqtt", f"mqtt://cam:s3cret@127.0.0.1:{free_port()}/cam"
    )
    seen = ""
    assert proc.stderr is not None
    while "mqtt: cannot reach" not in seen:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    code, _, err = stop(proc)
    assert code == 130 and "s3cret" not in seen + err
