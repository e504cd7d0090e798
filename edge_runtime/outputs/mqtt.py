"""``--mqtt mqtt://[user:pass@]host[:port]/prefix``: events for home automation, with paho-mqtt (the
optional ``[mqtt]`` extra, imported only when this sink is built).

Topics (payloads in docs/DEPLOY.md): ``PREFIX/status`` retained ``online``/``offline`` (the last will
says offline if the device dies), ``PREFIX/event`` a JSON object each time a tracked face changes label,
``PREFIX/summary`` a retained JSON summary every ``every`` seconds. QoS 1. paho reconnects with backoff;
while the broker is away events wait in a bounded queue (the oldest are dropped when it is full, and
counted) and only the newest summary is kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from edge_runtime.errors import RuntimeFailure
from edge_runtime.outputs.events import LabelChanges
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
    if url.scheme != "mqtt" or not hostname:
        raise RuntimeFailure(f"--mqtt wants mqtt://[user:pass@]host[:port]/prefix, not {shown!r}")
    try:
        port = url.port or 1883
    except ValueError:
        raise RuntimeFailure(f"--mqtt {shown!r}: bad port (a password with / or ? must be %-encoded)") from None
    prefix = url.path.strip("/") or "happysad"
    if any(c in text.partition("://")[2].rpartition("@")[2] for c in "+#?"):  # host and prefix, not the password
        raise RuntimeFailure(
            f"--mqtt {shown!r}: the prefix may not contain +, # or ? (in a password, %-encode them: %2B %23 %3F)"
        )
    user = unquote(url.username) if url.username else None
    password = unquote(url.password) if url.password else None
    return BrokerUrl(hostname, port, prefix, user, password)


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
    ) -> None:
        self.url, self.status, self.log, self.every = parse_url(url), status, log, every
        mqtt = _paho()
        p = self.url.prefix
        self.topics = {"status": f"{p}/status", "event": f"{p}/event", "summary": f"{p}/summary"}
        self._lock = threading.Lock()
        self._events: deque[tuple[str, bytes, bool]] = deque(maxlen=max(1, queue))
        self._summary: bytes | None = None
        self.dropped = 0  # events pushed out of a full queue while the broker was away
        self.published = 0
        self._dropped_said = 0
        self._connected = False
        self._changes = LabelChanges()
        self._last_summary = time.monotonic() - every  # the first frame sends one
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if self.url.username:
            self.client.username_pw_set(self.url.username, self.url.password)
        self.client.will_set(self.topics["status"], "offline", qos=QOS, retain=True)
        self.client.reconnect_delay_set(min_delay=max(1, round(backoff[0])), max_delay=max(1, round(backoff[1])))
        self.client.max_queued_messages_set(max(1, queue) + 8)  # paho's own queue: bounded, with room for status
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self._fail_logged = -float("inf")  # when a failed connection attempt was last logged
        self.failed_attempts = 0
        try:
            self.client.connect_async(self.url.host, self.url.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(f"--mqtt {self.url.host}:{self.url.port}: {exc}") from None
        self.client.loop_start()  # a broker that is down at start is retried with backoff, not fatal
        log(f"mqtt: publishing to {self.url.host}:{self.url.port} under {p}/ (status, event, summary)")

    # paho's network thread
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            self.log(f"mqtt: broker refused the connection: {reason}")
            return
        client.publish(self.topics["status"], "online", qos=QOS, retain=True)
        with self._lock:
            self._connected = True
            lost = self.dropped - self._dropped_said
            self._dropped_said = self.dropped
        self.log("mqtt: connected" + (f"; {lost} oldest events dropped while away (queue full)" if lost else ""))
        self._flush()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        """A broker that cannot be reached: said at once, then once a minute, not only at exit."""
        self.failed_attempts += 1
        now = time.monotonic()
        if now - self._fail_logged >= FAIL_LOG_EVERY_S:
            self._fail_logged = now
            self.log(
                f"mqtt: cannot reach {self.url.host}:{self.url.port} ({self.failed_attempts} attempt(s) so far); "
                "retrying with backoff, queueing events"
            )

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._lock:
            was, self._connected = self._connected, False
        if was:
            self.log(f"mqtt: broker connection lost ({reason}); reconnecting with backoff, queueing events")

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
        now = time.monotonic()
        if now - self._last_summary >= self.every:
            self._last_summary = now
            summary = self.status.snapshot()
            summary["time"] = result.time
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
