"""``--mqtt mqtt[s]://[user:pass@]host[:port]/prefix``: events for home automation, with paho-mqtt (the
optional ``[mqtt]`` extra, imported only when this sink is built).

Topics (payloads in docs/DEPLOY.md): ``PREFIX/status`` retained ``online``/``offline`` (the last will
says offline if the device dies), ``PREFIX/event`` a JSON object each time a tracked face changes label,
``PREFIX/summary`` a retained JSON summary when the labels in view change and every ``every`` seconds.
QoS 1. On every connect, before ``online``: Home Assistant's retained discovery configs (ha_discovery.py),
or empty ones that remove them when discovery is off. paho reconnects with backoff; while the broker is
away events wait in a bounded queue (the oldest are dropped when it is full, and counted) and only the
newest summary is kept.

``mqtts://`` (port 8883 by default) is TLS: the system's CAs or ``ca``, and a client certificate and key
for brokers that ask for one. A failed handshake (an unknown CA) is logged and retried like a broker that
is down.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.outputs.events import LabelChanges
from edge_runtime.outputs.ha_discovery import Discovery, check_prefix, summary_fields
from edge_runtime.outputs.live import LiveStatus
from edge_runtime.results import FrameResult

QOS = 1


FAIL_LOG_EVERY_S = 60.0


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    prefix: str
    username: str | None = None
    password: str | None = None
    tls: bool = False


def redacted(text: str) -> str:
    """The URL as it may be shown: a password in it becomes ***."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    creds, at, host = rest.rpartition("@")  # a password may hold / or @ itself: the host follows the last @
    user, colon, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}{at}{host}"


def parse_url(text: str) -> BrokerUrl:
    shown = redacted(text)
    try:
        url = urlsplit(text)
        hostname = url.hostname
    except ValueError:  # an unclosed [ of an IPv6 address
        raise RuntimeFailure(f"--mqtt {shown!r}: not a URL (mqtt://[user:pass@]host[:port]/prefix)") from None
    if url.scheme not in ("mqtt", "mqtts") or not hostname:
        raise RuntimeFailure(f"--mqtt wants mqtt://[user:pass@]host[:port]/prefix (mqtts:// for TLS), not {shown!r}")
    tls = url.scheme == "mqtts"
    try:
        port = url.port or (8883 if tls else 1883)
    except ValueError:
        raise RuntimeFailure(f"--mqtt {shown!r}: bad port (a password with / or ? must be %-encoded)") from None
    prefix = url.path.strip("/") or "happysad"
    if any(c in text.partition("://")[2].rpartition("@")[2] for c in "+#?"):  # host and prefix, not the password
        raise RuntimeFailure(
            f"--mqtt {shown!r}: the prefix may not contain +, # or ? (in a password, %-encode them: %2B %23 %3F)"
        )
    user = unquote(url.username) if url.username else None
    password = unquote(url.password) if url.password else None
    return BrokerUrl(hostname, port, prefix, user, password, tls)


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> str:
    raise _EncryptedKey  # OpenSSL would otherwise ask for it on the terminal of a service


def tls_context(ca: str | None = None, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    """The TLS settings of mqtts://: verify the broker against ``ca`` (None: the system's CAs) and its host
    name; ``cert`` and ``key``: the client certificate. Every problem with the files is one line."""
    for option, path in (("--mqtt-ca", ca), ("--mqtt-cert", cert), ("--mqtt-key", key)):
        if path:
            try:
                with open(path, "rb") as f:
                    f.read(1)
            except OSError as exc:
                raise RuntimeFailure(f"{option} {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        context = ssl.create_default_context(cafile=ca)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise RuntimeFailure(f"--mqtt-ca {ca}: no usable PEM certificate ({first_line(exc)})") from None
    if cert:
        try:
            context.load_cert_chain(cert, key, password=_no_passphrase)
        except _EncryptedKey:
            raise RuntimeFailure(f"--mqtt-key {key}: the key has a passphrase; give it one without") from None
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise RuntimeFailure(
                f"--mqtt-cert {cert} / --mqtt-key {key}: not a PEM certificate and its key ({first_line(exc)})"
            ) from None
    return context


def check_settings(
    url: str | None,
    ca: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    ha_prefix: str = "homeassistant",
) -> ssl.SSLContext | None:
    """The MQTT options together, before the model is loaded (paho is not needed for this); mqtts://
    gives its TLS context."""
    given = [name for name, value in (("--mqtt-ca", ca), ("--mqtt-cert", cert), ("--mqtt-key", key)) if value]
    if url is None:
        if given:
            raise RuntimeFailure(f"{', '.join(given)}: only with --mqtt mqtts://host/prefix")
        return None
    broker = parse_url(url)
    if given and not broker.tls:
        raise RuntimeFailure(f"{', '.join(given)} needs mqtts:// (TLS), not {redacted(url)!r}")
    if bool(cert) != bool(key):
        raise RuntimeFailure("--mqtt-cert and --mqtt-key go together (the client certificate and its key)")
    check_prefix(ha_prefix)
    return tls_context(ca, cert, key) if broker.tls else None


def _paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise RuntimeFailure(
            "--mqtt needs paho-mqtt: pip install 'happysad-edge-runtime[mqtt]' (or pip install 'paho-mqtt>=2')"
        ) from None
    return mqtt


class MqttSink:
    needs_image = False

    def __init__(
        self,
        url: str,
        status: LiveStatus,
        log: Callable[[str], None],
        every: float = 30.0,
        queue: int = 1000,
        backoff: tuple[float, float] = (1.0, 30.0),
        client_id: str = "",
        labels: Sequence[str] = (),
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        ha_discovery: bool = True,
        ha_prefix: str = "homeassistant",
        device_name: str | None = None,
        view_url: str | None = None,
    ) -> None:
        context = check_settings(url, ca, cert, key, ha_prefix)
        self.url, self.status, self.log, self.every = parse_url(url), status, log, every
        mqtt = _paho()
        p = self.url.prefix
        self.topics = {"status": f"{p}/status", "event": f"{p}/event", "summary": f"{p}/summary"}
        self.labels = tuple(labels)
        self.discovery = Discovery(p, ha_prefix, device_name, self.labels, view_url)
        self.ha_discovery = ha_discovery
        self._announce = self.discovery.payloads(ha_discovery)
        self._lock = threading.Lock()
        self._events: deque[tuple[str, bytes, bool]] = deque(maxlen=max(1, queue))
        self._summary: bytes | None = None
        self.dropped = 0  # events pushed out of a full queue while the broker was away
        self.published = 0
        self._dropped_said = 0
        self._connected = False
        self._changes = LabelChanges()
        self._last_label: str | None = None
        self._in_view: tuple[Any, ...] | None = None  # what the last summary said is in view
        self._last_summary = time.monotonic() - every  # the first frame sends one
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if context is not None:
            self.client.tls_set_context(context)
        if self.url.username:
            self.client.username_pw_set(self.url.username, self.url.password)
        self.client.will_set(self.topics["status"], "offline", qos=QOS, retain=True)
        self.client.reconnect_delay_set(min_delay=max(1, round(backoff[0])), max_delay=max(1, round(backoff[1])))
        # paho's own queue: bounded, with room for the status, the discovery configs and stale ones removed
        self.client.max_queued_messages_set(max(1, queue) + 2 * len(self._announce) + 64)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = self._on_message
        self.client.on_log = self._on_log
        self._log_error = mqtt.MQTT_LOG_ERR
        self._paho_error = ""  # paho's last error line: why a connection ended before it was accepted
        self._closing = False
        self._fail_logged = -float("inf")  # when a failed connection attempt was last logged
        self._fail_said = ""  # and what it said
        self.failed_attempts = 0
        self.last_error: OSError | None = None  # why the last connection attempt failed
        reconnect = self.client.reconnect

        def reconnect_keeping_the_reason() -> Any:  # paho's on_connect_fail is not told why
            try:
                return reconnect()
            except OSError as exc:
                self.last_error = exc
                raise

        self.client.reconnect = reconnect_keeping_the_reason
        try:
            self.client.connect_async(self.url.host, self.url.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(f"--mqtt {self.url.host}:{self.url.port}: {exc}") from None
        self.client.loop_start()  # a broker that is down at start is retried with backoff, not fatal
        log(
            f"mqtt: publishing to {self.url.host}:{self.url.port}{' over TLS' if self.url.tls else ''} "
            f"under {p}/ (status, event, summary)"
        )
        d = self.discovery
        if ha_discovery:
            log(
                f"mqtt: Home Assistant discovery: device {d.name!r} with {len(d.configs)} entities under "
                f"{d.ha_prefix}/+/{d.node}/"
            )
        else:
            log(f"mqtt: Home Assistant discovery off: removing device {d.name!r} from {d.ha_prefix}/+/{d.node}/")

    # paho's network thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            self.log(f"mqtt: broker refused the connection: {reason}")
            return
        for topic, payload in self._announce.items():  # retained, before online: entities find their state
            client.publish(topic, payload, qos=QOS, retain=True)
        client.subscribe(self.discovery.node_filter, qos=QOS)  # configs of an earlier run: other labels
        client.publish(self.topics["status"], "online", qos=QOS, retain=True)
        with self._lock:
            self._connected = True
            lost = self.dropped - self._dropped_said
            self._dropped_said = self.dropped
        self.log("mqtt: connected" + (f"; {lost} oldest events dropped while away (queue full)" if lost else ""))
        self._flush()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        """A retained config of this device that this run does not announce (a label the model no longer
        has, or every one with discovery off): removed."""
        if message.payload and message.topic not in self._announce:
            client.publish(message.topic, b"", qos=QOS, retain=True)

    def _on_log(self, client: Any, userdata: Any, level: int, text: str) -> None:
        if level == self._log_error:
            self._paho_error = text

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        where = f"{self.url.host}:{self.url.port}"
        exc = self.last_error
        if isinstance(exc, ssl.SSLError):
            self._failed(f"TLS handshake with {where} failed ({first_line(exc)})")
        else:
            self._failed(f"cannot reach {where}" + (f" ({first_line(exc)})" if exc is not None else ""))

    def _failed(self, said: str) -> None:
        """A broker that cannot be reached: said at once, then once a minute or when the reason changes."""
        self.failed_attempts += 1
        now = time.monotonic()
        if said != self._fail_said or now - self._fail_logged >= FAIL_LOG_EVERY_S:
            self._fail_logged, self._fail_said = now, said
            self.log(f"mqtt: {said}; {self.failed_attempts} attempt(s) so far, retrying with backoff, queueing events")

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            was, self._connected = self._connected, False
        if self._closing:
            return
        if was:
            self.log(f"mqtt: broker connection lost ({reason}); reconnecting with backoff, queueing events")
        else:  # e.g. TLS 1.3: a broker that wants a client certificate says so after the handshake
            why = self._paho_error.removeprefix("failed to receive on socket: ") or str(reason)
            self._paho_error = ""
            hint = " (a client certificate wanted? --mqtt-cert, --mqtt-key)" if "certificate" in why else ""
            self._failed(f"{self.url.host}:{self.url.port} closed the connection before accepting it: {why}{hint}")

    # the pipeline's thread
    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        for c in self._changes.update(result.faces):
            r = c.result.to_dict()
            payload = {
                "time": result.time,
                "track": c.track,
                "label": c.label,
                "previous": c.previous,
                "score": r["score"],
                "scores": r["scores"],
                "box": r["box"],
                "source": result.source,
            }
            self._queue(self.topics["event"], json.dumps(payload).encode())
            self._last_label = c.label
        fields = summary_fields(result.faces, self.labels, self._last_label)
        in_view = (tuple(fields["in_view"].items()), self._last_label)
        now = time.monotonic()
        if in_view != self._in_view or now - self._last_summary >= self.every:  # a change: at once
            self._last_summary, self._in_view = now, in_view
            summary = self.status.snapshot()
            summary["time"] = result.time
            summary.update(fields)
            with self._lock:
                self._summary = json.dumps(summary).encode()
        self._flush()
        return None

    def _queue(self, topic: str, payload: bytes) -> None:
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self.dropped += 1
            self._events.append((topic, payload, False))

    def _flush(self) -> None:
        """Hand queued messages to paho while connected; whatever paho refuses stays queued."""
        with self._lock:
            if not self._connected:
                return
            while self._events:
                topic, payload, retain = self._events[0]
                if not self._publish(topic, payload, retain):
                    return
                self._events.popleft()
            if self._summary is not None and self._publish(self.topics["summary"], self._summary, True):
                self._summary = None

    def _publish(self, topic: str, payload: bytes, retain: bool) -> bool:
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        ok = bool(info.rc == 0)
        self.published += ok
        return ok

    def close(self, ok: bool) -> None:
        """Say offline (retained), give in-flight messages a moment, and stop the network thread."""
        with self._lock:
            connected = self._connected
            self._closing = True
        if connected:
            self._flush()
            info = self.client.publish(self.topics["status"], "offline", qos=QOS, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            left = len(self._events)
        if left or self.dropped:
            self.log(f"mqtt: {left} events unsent at exit, {self.dropped} dropped while the broker was away")
