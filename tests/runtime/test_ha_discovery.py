"""Home Assistant MQTT discovery against a real Mosquitto broker (started by the test): the retained configs a
fresh subscriber reads back, each checked against the options Home Assistant documents for MQTT sensors and
binary sensors (home-assistant.io: integrations/sensor.mqtt, binary_sensor.mqtt, mqtt#discovery-topic), with
their value templates rendered against the real summary; configs before ``online``; stale and switched-off
configs removed; summaries on a change of the labels in view. Skips without mosquitto or paho-mqtt."""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

import pytest

from edge_runtime.errors import RuntimeFailure
from edge_runtime.outputs.ha_discovery import Discovery, check_prefix, sanitize, view_url
from tests.runtime.headless_helpers import get, start_hs_run, stop, wait_for
from tests.runtime.helpers import FACE_CLIP, write_video
from tests.runtime.test_mqtt import Listener, broker, face, make_sink, rec

pytestmark = pytest.mark.timeout(90)
__all__ = ["broker"]  # the fixture, shared with test_mqtt.py

# What Home Assistant documents for the two platforms (configuration variables and their types); an
# unknown key would be ignored by Home Assistant, so here it is a mistake.
COMMON: dict[str, type | tuple[type, ...]] = {
    "availability": list,
    "availability_mode": str,
    "availability_template": str,
    "availability_topic": str,
    "device": dict,
    "device_class": str,
    "enabled_by_default": bool,
    "encoding": str,
    "entity_category": str,
    "entity_picture": str,
    "expire_after": int,
    "force_update": bool,
    "icon": str,
    "json_attributes_template": str,
    "json_attributes_topic": str,
    "name": str,
    "object_id": str,
    "origin": dict,
    "payload_available": str,
    "payload_not_available": str,
    "qos": int,
    "state_topic": str,
    "unique_id": str,
    "value_template": str,
}
SCHEMA: dict[str, dict[str, Any]] = {
    "sensor": {
        "required": {"state_topic"},
        "allowed": {
            **COMMON,
            "last_reset_value_template": str,
            "options": list,
            "state_class": str,
            "suggested_display_precision": int,
            "unit_of_measurement": str,
        },
    },
    "binary_sensor": {
        "required": {"state_topic"},
        "allowed": {**COMMON, "off_delay": int, "payload_off": str, "payload_on": str},
    },
}
DEVICE: dict[str, type | tuple[type, ...]] = {
    "configuration_url": str,
    "connections": list,
    "hw_version": str,
    "identifiers": (str, list),
    "manufacturer": str,
    "model": str,
    "model_id": str,
    "name": str,
    "serial_number": str,
    "suggested_area": str,
    "sw_version": str,
    "via_device": str,
}
ORIGIN: dict[str, type] = {"name": str, "sw_version": str, "support_url": str}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
TOPIC = re.compile(
    r"^(?P<prefix>.+)/(?P<component>[a-z_]+)/(?P<node>[a-zA-Z0-9_-]+)/(?P<object>[a-zA-Z0-9_-]+)/config$"
)


def check_config(topic: str, config: dict[str, Any], device_topics: dict[str, str]) -> str:
    """One discovery payload against the documented schema; returns its component."""
    m = TOPIC.match(topic)
    assert m, f"{topic}: not <prefix>/<component>/<node_id>/<object_id>/config with ids of [a-zA-Z0-9_-]"
    component = m["component"]
    schema = SCHEMA[component]
    assert schema["required"] <= set(config), (topic, schema["required"] - set(config))
    for key, value in config.items():
        assert key in schema["allowed"], f"{topic}: {key!r} is not a documented {component} option"
        want = schema["allowed"][key]
        assert isinstance(value, want) and not (want is int and isinstance(value, bool)), (topic, key, value)
    assert "availability" not in config or "availability_topic" not in config, "documented as exclusive"
    assert config["qos"] in (0, 1, 2)
    assert config["unique_id"], "the device block only works with a unique_id"
    if "state_class" in config:
        assert config["state_class"] in STATE_CLASSES and "options" not in config
    if component == "sensor" and "entity_category" in config:
        assert config["entity_category"] == "diagnostic", "the only category documented for sensors"
    device = config["device"]
    assert device.get("identifiers") or device.get("connections"), "a device needs identifiers or connections"
    for key, value in device.items():
        assert key in DEVICE and isinstance(value, DEVICE[key]), (topic, "device", key, value)
    if "configuration_url" in device:
        assert device["configuration_url"].startswith(("http://", "https://", "homeassistant://"))
    assert set(config["origin"]) <= set(ORIGIN) and "name" in config["origin"]
    # the device's real topics
    assert config["availability_topic"] == device_topics["status"]
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert config["state_topic"] == device_topics["summary"]
    assert config.get("json_attributes_topic", device_topics["event"]) in device_topics.values()
    return component


# {{ ... }} templates as Home Assistant renders them (Jinja); jinja2 itself when installed, otherwise this
# evaluator of the few forms the configs use: value_json paths (.name, ['name']), 'strings', `a or b`,
# `a if b else c`.
TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<name>[A-Za-z_]\w*)|(?P<sym>[.\[\]]))")


class Undefined:
    def __str__(self) -> str:
        return ""

    def __bool__(self) -> bool:
        return False


def tiny_render(template: str, value_json: Any) -> str:
    m = re.fullmatch(r"\{\{(.*)\}\}", template.strip(), re.S)
    assert m, f"not a single {{{{ expression }}}}: {template!r}"
    tokens = [(t.lastgroup, t.group(t.lastgroup or "")) for t in TOKEN.finditer(m[1])]
    assert "".join(v for _, v in tokens).replace(" ", "") == m[1].replace(" ", ""), f"cannot read {template!r}"
    pos = 0

    def take(kind: str | None = None, value: str | None = None) -> str:
        nonlocal pos
        k, v = tokens[pos]
        assert (kind is None or k == kind) and (value is None or v == value), (template, pos, k, v)
        pos += 1
        return v

    def peek(value: str) -> bool:
        return pos < len(tokens) and tokens[pos][1] == value

    def primary() -> Any:
        kind, v = tokens[pos]
        if kind == "str":
            take()
            return v[1:-1]
        assert take("name") == "value_json", template
        obj: Any = value_json
        while peek(".") or peek("["):
            if take() == ".":
                key = take("name")
            else:
                key = take("str")[1:-1]
                take("sym", "]")
            obj = obj.get(key, Undefined()) if isinstance(obj, dict) else Undefined()
        return obj

    def either() -> Any:
        value = primary()
        while peek("or"):
            take()
            other = primary()
            value = value or other
        return value

    def expression() -> Any:
        value = either()
        if peek("if"):
            take()
            test = either()
            take("name", "else")
            other = either()
            value = value if test else other
        return value

    value = expression()
    assert pos == len(tokens), f"left over in {template!r}"
    return str(value)


def render(template: str, value_json: Any) -> str:
    out = tiny_render(template, value_json)
    try:
        import jinja2
    except ImportError:
        return out
    assert jinja2.Environment().from_string(template).render(value_json=value_json) == out
    return out


def test_tiny_render_reads_like_jinja():
    data = {"a": 3, "b": None, "m": {"x y": 2, "z": 0}}
    assert render("{{ value_json.a }}", data) == "3"
    assert render("{{ value_json.b or 'none' }}", data) == "none"
    assert render("{{ 'ON' if value_json.m['x y'] else 'OFF' }}", data) == "ON"
    assert render("{{ 'ON' if value_json.m['z'] else 'OFF' }}", data) == "OFF"
    assert render("{{ 'ON' if value_json.m['absent'] else 'OFF' }}", data) == "OFF"


def retained(port: int, topic_filter: str) -> dict[str, bytes]:
    """The retained messages a fresh subscriber to ``topic_filter`` gets. The broker handles one client in
    order, so they all arrive before a message the subscriber itself publishes after its subscription."""
    import paho.mqtt.client as mqtt

    sentinel = f"{topic_filter.removesuffix('#')}sentinel-{uuid.uuid4().hex}"
    got: dict[str, bytes] = {}
    done = threading.Event()

    def on_message(client: Any, userdata: Any, m: Any) -> None:
        if m.topic == sentinel:
            done.set()
        elif m.retain:
            got[m.topic] = m.payload

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fresh-{uuid.uuid4().hex[:8]}")
    client.on_message = on_message
    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic_filter, qos=1)
    client.on_subscribe = lambda c, u, mid, r, p: c.publish(sentinel, b"x", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(20), "the sentinel never came back"
    finally:
        client.disconnect()
        client.loop_stop()
    return got


def topics_of(prefix: str) -> dict[str, str]:
    return {t: f"{prefix}/{t}" for t in ("status", "summary", "event")}


def test_configs_are_retained_first_and_match_the_documented_schema(broker):
    own = Listener(broker.port, "hall", name="own", also=("homeassistant/#",))
    sink, status, _logs = make_sink(
        broker.port,
        "hall",
        every=3600,
        labels=("happy", "sad", "neutral"),
        device_name="Hall cam",
        view_url="http://hall.local:8080/",
    )
    try:
        wait_for(lambda: own.on("hall/status") == [b"online"] and sink._connected, 10, "online")
        for r in (rec(0), rec(1, face(1, "happy")), rec(2, face(1, "happy"), face(2, "sad"))):
            status.emit(r, None)
            sink.emit(r, None)
        wait_for(lambda: len(own.on("hall/summary")) >= 3, 10, "a summary per change of the faces in view")
        configs = {t: json.loads(p) for t, p in retained(broker.port, "homeassistant/#").items()}
        summary = json.loads(retained(broker.port, "hall/#")["hall/summary"])
    finally:
        sink.close(True)
        own.close()
    node = "hall_cam_hall"
    assert set(configs) == {
        f"homeassistant/sensor/{node}/faces/config",
        f"homeassistant/sensor/{node}/last_label/config",
        f"homeassistant/sensor/{node}/fps/config",
        f"homeassistant/binary_sensor/{node}/in_view_happy/config",
        f"homeassistant/binary_sensor/{node}/in_view_sad/config",
        f"homeassistant/binary_sensor/{node}/in_view_neutral/config",
    }
    components = [check_config(t, c, topics_of("hall")) for t, c in configs.items()]
    assert components.count("binary_sensor") == 3
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    devices = [c["device"] for c in configs.values()]
    assert all(d == devices[0] for d in devices), "one device for every entity"
    assert devices[0]["name"] == "Hall cam" and devices[0]["identifiers"] == [node]
    assert devices[0]["configuration_url"] == "http://hall.local:8080/"
    # the states Home Assistant would show, from the summary retained on the broker
    state = {t.split("/")[-2]: render(c["value_template"], summary) for t, c in configs.items()}
    assert state == {
        "faces": "2",
        "last_label": "sad",
        "fps": str(summary["fps"]),
        "in_view_happy": "ON",
        "in_view_sad": "ON",
        "in_view_neutral": "OFF",
    }
    by_name = {c["name"]: c for c in configs.values()}
    assert by_name["Faces in view"]["state_class"] == "measurement"
    assert by_name["FPS"]["unit_of_measurement"] == "fps"
    assert by_name["Happy face in view"]["payload_on"] == "ON"
    assert summary["in_view"] == {"happy": 1, "sad": 1, "neutral": 0} and summary["faces_in_view"] == 2
    # configs first, then online: an entity that appears is available at once
    order = [t for t, _p, _r in own.messages]
    assert max(order.index(t) for t in configs) < order.index("hall/status")
    assert render(by_name["Last expression"]["value_template"], {"last_label": None}) == "none"


def test_summary_on_each_change_of_the_faces_in_view(broker):
    own = Listener(broker.port, "kit", name="own")
    sink, status, _logs = make_sink(broker.port, "kit", every=3600, labels=("happy", "sad"))
    frames = [
        rec(0),  # the first frame: a summary
        rec(1),
        rec(2, face(1, "happy")),  # a face appears
        rec(3, face(1, "happy")),
        rec(4, face(1, "sad")),  # it turns sad
        rec(5, face(1, "sad")),
        rec(6),  # it leaves
        rec(7),
    ]
    try:
        wait_for(lambda: own.on("kit/status") == [b"online"] and sink._connected, 10, "online")
        for r in frames:
            status.emit(r, None)
            sink.emit(r, None)
        sink.emit(rec(8, face(2, "happy")), None)  # a last change: every summary before it has arrived with it
        got = wait_for(lambda: len(own.on("kit/summary")) >= 5 and own.on("kit/summary"), 10, "5 summaries")
    finally:
        sink.close(True)
        own.close()
    summaries = [json.loads(p) for p in got]
    assert [(s["faces_in_view"], s["in_view"], s["last_label"]) for s in summaries] == [
        (0, {"happy": 0, "sad": 0}, None),
        (1, {"happy": 1, "sad": 0}, "happy"),
        (1, {"happy": 0, "sad": 1}, "sad"),
        (0, {"happy": 0, "sad": 0}, "sad"),
        (1, {"happy": 1, "sad": 0}, "happy"),
    ]
    assert {"state", "fps", "faces", "counts", "time"} <= set(summaries[0])  # /status.json's fields are kept


def test_stale_labels_and_switched_off_discovery_are_removed(broker):
    ha = Listener(broker.port, "homeassistant", name="ha")

    def run(until: Any = None, **kw: Any) -> None:
        sink, _status, _logs = make_sink(broker.port, "door", device_name="door", **kw)
        try:
            wait_for(lambda: sink._connected and (until is None or until()), 10, "connected")
        finally:
            sink.close(True)

    def announced() -> set[str]:
        return {t.split("/")[-2] for t, p in retained(broker.port, "homeassistant/#").items() if p}

    run(labels=("happy", "sad", "neutral"))
    assert announced() == {"faces", "last_label", "fps", "in_view_happy", "in_view_sad", "in_view_neutral"}
    neutral = "homeassistant/binary_sensor/door_door/in_view_neutral/config"
    run(labels=("happy", "sad"), until=lambda: b"" in ha.on(neutral))  # another model: no neutral sensor
    assert announced() == {"faces", "last_label", "fps", "in_view_happy", "in_view_sad"}
    run(labels=("happy", "sad"), ha_discovery=False)
    assert announced() == set()
    removed = {t for t, p, _r in ha.messages if p == b""}
    assert len(removed) == 6, removed  # every config this device announced got its empty payload
    assert retained(broker.port, "door/#")["door/status"] == b"offline"  # the rest of MQTT goes on
    ha.close()


def test_ids_and_addresses():
    assert sanitize("Hall Cam #2") == "hall_cam_2" and sanitize("///") == "hs"
    d1 = Discovery("home/hs", name="Pi 4", labels=("happy",))
    d2 = Discovery("home/hs", name="Pi 4", labels=("happy",))
    assert d1.node == d2.node == "pi_4_home_hs" and d1.configs == d2.configs  # stable across restarts
    assert d1.node_filter == "homeassistant/+/pi_4_home_hs/+/config"
    odd = Discovery("p", name="x", labels=("not sure", "it's"))
    values = {"in_view": {"not sure": 1, "it's": 0}}
    assert [render(c["value_template"], values) for t, c in odd.configs.items() if "binary_sensor" in t] == [
        "ON",
        "OFF",
    ]
    assert check_prefix("/ha/") == "ha"
    for bad in ("", "ha/#", "a/+/b"):
        with pytest.raises(RuntimeFailure):
            check_prefix(bad)
    assert view_url(None, False) is None
    assert view_url("8080", False) == "http://127.0.0.1:8080/"
    assert view_url("[::1]:8443", True) == "https://[::1]:8443/"
    assert re.fullmatch(r"http://[^/:]+\.[^/:]+:8080/", view_url("0.0.0.0:8080", False) or "")


def test_hs_run_announces_itself_with_the_web_view(broker, tmp_path):
    own = Listener(broker.port, "cam3", name="own")
    if FACE_CLIP.is_file():
        source = ["--source", str(FACE_CLIP), "--loop"]
    else:
        source = ["--source", str(write_video(tmp_path / "v.avi", frames=30)), "--loop", "--roi", "frame"]
    proc = start_hs_run(
        *source,
        "--mqtt",
        f"mqtt://127.0.0.1:{broker.port}/cam3",
        "--device-name",
        "Test cam",
        "--serve",
        "127.0.0.1:0",
    )
    try:
        wait_for(lambda: own.on("cam3/status") == [b"online"], 30, "hs-run online")
        summary = json.loads(wait_for(lambda: own.on("cam3/summary"), 20, "a summary")[-1])
        configs = {t: json.loads(p) for t, p in retained(broker.port, "homeassistant/#").items()}
        url = next(iter(configs.values()))["device"]["configuration_url"]
        found = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url)
        assert found, url
        assert get(int(found[1]), "/status.json")[0] == 200  # the web view is really there (port 0: the one it got)
    finally:
        code, _out, err = stop(proc)
        own.close()
    assert code == 130, err
    for t, c in configs.items():
        check_config(t, c, topics_of("cam3"))
    assert {c["device"]["name"] for c in configs.values()} == {"Test cam"}
    labels = {c["name"].removesuffix(" face in view").lower() for t, c in configs.items() if "binary_sensor" in t}
    assert labels and labels == set(summary["in_view"]), (labels, summary["in_view"])  # one per model label
