"""Home Assistant MQTT discovery for ``--mqtt``: the device announces its own entities, the way Zigbee2MQTT
and ESPHome do, so nobody pastes YAML.

One retained config per entity (Home Assistant's single-component discovery), on
``HA_PREFIX/<component>/<node>/<object>/config``; ``node`` is the device id: the sanitized device name (host
name by default) and topic prefix, the same at every start. Every entity reads the device's own topics:
state from the retained ``PREFIX/summary`` (its ``faces_in_view``, ``last_label``, ``fps`` and ``in_view``
fields), availability from ``PREFIX/status`` (``online`` / ``offline``, the last will included).

Entities: sensor "Faces in view", sensor "Last expression", sensor "FPS" (diagnostic), and one binary sensor
"<Label> face in view" per model label. Home Assistant's MQTT camera takes image bytes on a topic, not a URL,
so the ``--serve`` view is the device's ``configuration_url`` instead (its MJPEG stream, ``/stream.mjpg``, is
for Home Assistant's MJPEG camera integration). With discovery off, the same topics get empty retained
payloads, which removes the entities.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edge_runtime import __version__
from edge_runtime.errors import RuntimeFailure
from edge_runtime.results import FaceResult

ONLINE, OFFLINE = "online", "offline"
MANUFACTURER = "happysad-edge"
MODEL = "hs-run face expressions"


def sanitize(text: str) -> str:
    """An id Home Assistant accepts in a discovery topic: ``[a-z0-9_-]`` only, never empty."""
    return re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_") or "hs"


def check_prefix(prefix: str) -> str:
    """``--ha-prefix`` without its slashes; one line when it cannot be a topic level."""
    clean = prefix.strip("/")
    if not clean or any(c in clean for c in "+#"):
        raise RuntimeFailure(f"--ha-prefix {prefix!r}: a topic prefix without + or # (default homeassistant)")
    return clean


def device_name(name: str | None) -> str:
    return name or socket.gethostname() or "hs-run"


def view_url(serve: str | None, https: bool, sinks: Iterable[object] = ()) -> str | None:
    """The ``--serve`` page as a link for Home Assistant's device page (None without ``--serve``). A port of
    0 is the one the server got; a wildcard address is this host's name (``HOST.local`` by mDNS)."""
    if not serve:
        return None
    from edge_runtime.outputs.web import WebSink, parse_address

    host, port = parse_address(serve)
    for sink in sinks:
        if isinstance(sink, WebSink):
            port = sink.server.port
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
        host = host if "." in host else f"{host}.local"
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if https else 'http'}://{shown}:{port}/"


def summary_fields(faces: Sequence[FaceResult], labels: Sequence[str], last_label: str | None) -> dict[str, Any]:
    """What the entities read from ``PREFIX/summary`` besides the /status.json fields: faces in view now,
    per label how many faces have it now (every model label present, 0 when none), the last label a face
    turned to (None before the first face)."""
    in_view = dict.fromkeys(labels, 0)
    for f in faces:
        in_view[f.label] = in_view.get(f.label, 0) + 1
    return {"faces_in_view": len(faces), "in_view": in_view, "last_label": last_label}


class Discovery:
    """The config topics and payloads of one device; ``payloads(on)`` is what to publish retained."""

    def __init__(
        self,
        topic_prefix: str,
        ha_prefix: str = "homeassistant",
        name: str | None = None,
        labels: Sequence[str] = (),
        url: str | None = None,
    ) -> None:
        self.ha_prefix = check_prefix(ha_prefix)
        self.name = device_name(name)
        self.node = sanitize(f"{self.name}_{topic_prefix}")
        self.status, self.summary, self.event = (f"{topic_prefix}/{t}" for t in ("status", "summary", "event"))
        device: dict[str, Any] = {
            "identifiers": [self.node],
            "name": self.name,
            "manufacturer": MANUFACTURER,
            "model": MODEL,
            "sw_version": __version__,
        }
        if url:
            device["configuration_url"] = url
        self.common: dict[str, Any] = {
            "availability_topic": self.status,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "qos": 1,
            "device": device,
            "origin": {"name": "hs-run", "sw_version": __version__},
        }
        self.configs: dict[str, dict[str, Any]] = {}
        self._add(
            "sensor",
            "faces",
            name="Faces in view",
            value_template="{{ value_json.faces_in_view }}",
            state_class="measurement",
            icon="mdi:account-multiple",
        )
        self._add(
            "sensor",
            "last_label",
            name="Last expression",
            value_template="{{ value_json.last_label or 'none' }}",
            json_attributes_topic=self.event,  # track, previous label, score, scores of the last change
            icon="mdi:emoticon-outline",
        )
        self._add(
            "sensor",
            "fps",
            name="FPS",
            value_template="{{ value_json.fps }}",
            unit_of_measurement="fps",
            state_class="measurement",
            suggested_display_precision=1,
            entity_category="diagnostic",
            icon="mdi:speedometer",
        )
        seen: set[str] = set()
        for label in labels:
            key = f"in_view_{sanitize(label)}"
            if key in seen:  # two labels that sanitize alike: the first wins, the id must stay unique
                continue
            seen.add(key)
            self._add(
                "binary_sensor",
                key,
                name=f"{label[:1].upper()}{label[1:]} face in view",
                value_template=f"{{{{ 'ON' if value_json.in_view[{label!r}] else 'OFF' }}}}",
                payload_on="ON",
                payload_off="OFF",
                icon="mdi:face-recognition",
            )

    def _add(self, component: str, key: str, **entity: Any) -> None:
        topic = f"{self.ha_prefix}/{component}/{self.node}/{key}/config"
        self.configs[topic] = {
            **entity,
            "unique_id": f"{self.node}_{key}",
            "state_topic": self.summary,
            **self.common,
        }

    @property
    def node_filter(self) -> str:
        """Every config topic of this device, its older ones (other labels) included."""
        return f"{self.ha_prefix}/+/{self.node}/+/config"

    def payloads(self, on: bool) -> Mapping[str, bytes]:
        """Topic -> retained payload: the JSON configs, or empty payloads that remove them."""
        return {t: json.dumps(c).encode() if on else b"" for t, c in self.configs.items()}
