"""``--serve``: a live view for a headless device, on the standard library's HTTP server.

``/`` the page, ``/stream.mjpg`` the annotated video (MJPEG), ``/status.json`` the live panel's data,
``/healthz`` 200 while frames arrive and 503 while the source is down (for a supervisor), ``/metrics`` the
run's counters for Prometheus (``metrics.py``). Binds 127.0.0.1 unless told otherwise; with a token, every
request needs ``Authorization: Bearer TOKEN`` or ``?token=``. With ``--serve-cert``/``--serve-key`` it speaks
HTTPS only: each connection's TLS handshake runs on that connection's own thread, with a timeout, so a client
that stalls or fails it holds up nobody else.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import select
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from edge_runtime.errors import RuntimeFailure, first_line
from edge_runtime.outputs.framehub import FrameHub
from edge_runtime.outputs.live import LiveStatus
from edge_runtime.outputs.metrics import CONTENT_TYPE as METRICS_TYPE
from edge_runtime.outputs.metrics import Metrics
from edge_runtime.outputs.webpage import PAGE
from edge_runtime.results import FrameResult

BOUNDARY = "hsframe"
MAX_VIEWERS = 8  # each viewer holds a thread; more get 503
SEND_TIMEOUT_S = 10.0  # a viewer that accepts nothing for this long is dropped
VIEWER_SNDBUF = 128 * 1024  # bytes the kernel may hold for one viewer (a few JPEG frames)
HANDSHAKE_TIMEOUT_S = 10.0  # HTTPS: a client that has not finished its TLS handshake by then is let go
CLOSE_NOTIFY_S = 0.5  # HTTPS: how long a closing connection waits for the client's close_notify
TLS_RECORD = 0x16  # the first byte a TLS client sends (a handshake record); anything else is not TLS
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"this web view speaks HTTPS only: use https://\n"
)


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); the host defaults to 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535 or (sep and not host):
        raise RuntimeFailure(f"--serve wants [HOST:]PORT (e.g. 8080 or 0.0.0.0:8080), not {text!r}")
    return host, number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token: str | None, token_file: str | None) -> str | None:
    """The token itself, or the first line of a file (keeps it out of ``ps`` and the unit file)."""
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            raise RuntimeFailure(f"--serve-token-file {token_file}: no token read ({first_line(exc)})") from None
    if token is not None and not token:
        raise RuntimeFailure("--serve-token is empty")
    return token


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The server's TLS context for ``--serve-cert``/``--serve-key`` (None without them): both or neither; a
    file that cannot be read, is not PEM, is encrypted or does not match the other is one line."""
    if cert is None and key is None:
        return None
    if not cert or not key:
        raise RuntimeFailure("--serve-cert and --serve-key go together (HTTPS needs the certificate and its key)")
    for option, path, marker in (("--serve-cert", cert, "CERTIFICATE-----"), ("--serve-key", key, "PRIVATE KEY-----")):
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise RuntimeFailure(f"{option} {path}: cannot read it ({exc.strerror or first_line(exc)})") from None
        if marker.encode() not in pem:
            what = "a PEM certificate" if option == "--serve-cert" else "a PEM private key"
            raise RuntimeFailure(f"{option} {path}: not {what} (no '-----BEGIN ...{marker}' line)")
    asked: list[bool] = []

    def no_passphrase() -> bytes:  # never a prompt on the terminal: a service has nobody to answer it
        asked.append(True)
        return b""

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key, password=no_passphrase)
    except (ssl.SSLError, OSError, ValueError) as exc:
        if asked:
            why = "the key is encrypted; hs-run cannot ask for a passphrase (store it unencrypted, mode 600)"
        elif getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            why = "the key does not belong to the certificate"
        else:
            why = f"not a usable certificate and key ({first_line(exc)})"
        raise RuntimeFailure(f"--serve-cert {cert} / --serve-key {key}: {why}") from None
    return ctx


class _Server(ThreadingHTTPServer):
    """``ThreadingHTTPServer``, HTTPS when given a context: ``accept`` only accepts; the handshake runs in
    ``finish_request``, on the connection's own thread."""

    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        conn = _handshake(self.tls, request)
        if conn is None:
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            _close_tls(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away mid-request (reset, timeout, TLS alert) is routine, not a traceback."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def _handshake(ctx: ssl.SSLContext, raw: socket.socket) -> ssl.SSLSocket | None:
    """The TLS side of one accepted connection, or None (the client left, stalled, spoke plain HTTP or failed
    the handshake; a plain-HTTP client is told to use https://)."""
    try:
        raw.settimeout(HANDSHAKE_TIMEOUT_S)
        first = raw.recv(1, socket.MSG_PEEK)
        if not first:
            return None
        if first[0] != TLS_RECORD:
            _refuse_plain(raw)
            return None
        conn = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
    except OSError:
        return None
    try:
        conn.do_handshake()
    except OSError:  # ssl.SSLError is one: a wrong CA on the client's side, a protocol error, a timeout
        conn.close()
        return None
    return conn


def _refuse_plain(raw: socket.socket) -> None:
    """Answer a plain-HTTP request with a plain 400, then read what it sent (up to a bound): closing with its
    request unread would reset the connection before the client reads the answer."""
    raw.sendall(PLAIN_HTTP_ANSWER)
    raw.shutdown(socket.SHUT_WR)
    raw.settimeout(1.0)
    left = 64 * 1024
    while left > 0:
        chunk = raw.recv(min(left, 4096))
        if not chunk:
            break
        left -= len(chunk)


def _close_tls(conn: ssl.SSLSocket) -> None:
    """Send close_notify (a client reading to the end sees a clean end), waiting a moment at most."""
    try:
        conn.settimeout(CLOSE_NOTIFY_S)
        conn.unwrap().close()
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


class WebServer:
    """The HTTP(S) server on its own thread; request handlers read ``status``, ``hub`` and ``metrics`` only."""

    def __init__(
        self,
        host: str,
        port: int,
        status: LiveStatus,
        hub: FrameHub,
        token: str | None,
        tls: ssl.SSLContext | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.status, self.hub, self.token, self.metrics = status, hub, token, metrics
        self.names = {host.lower(), socket.gethostname().lower(), f"{socket.gethostname().lower()}.local"}
        handler = _handler(self)
        try:
            self.httpd = _Server((host, port), handler)
            self.httpd.tls = tls
        except OSError as exc:
            raise RuntimeFailure(f"--serve {host}:{port}: cannot listen ({first_line(exc)})") from None
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="web:serve", daemon=True
        )
        self._thread.start()

    def host_allowed(self, host_header: str | None) -> bool:
        """Without a token, only requests addressed to an IP address, a loopback name, the --serve host or this
        machine's own name: a page on another site that rebinds its own name to this address (DNS rebinding)
        sends that name, and is refused. With a token the token decides."""
        if self.token is not None:
            return True
        if not host_header:
            return False
        name = host_header.strip().lower()
        name = name[1 : name.index("]")] if name.startswith("[") and "]" in name else name.rsplit(":", 1)[0]
        if is_loopback(name) or name in self.names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def authorised(self, headers: Any, query: dict[str, list[str]]) -> bool:
        if self.token is None:
            return True
        given = ""
        auth = str(headers.get("Authorization") or "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        elif query.get("token"):
            given = query["token"][0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def close(self) -> None:
        self.hub.close()  # open streams end
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=2.0)


def _handler(web: WebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hs-run"
        timeout = SEND_TIMEOUT_S

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would flood the journal

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if not web.host_allowed(self.headers.get("Host")):
                self._send(
                    403,
                    b"unknown Host; without --serve-token only IP addresses and this machine's names\n",
                    "text/plain",
                )
                return
            if not web.authorised(self.headers, parse_qs(url.query)):
                self._send(401, b"token required\n", "text/plain", {"WWW-Authenticate": "Bearer"})
                return
            route: dict[str, Callable[[], None]] = {
                "/": self._page,
                "/index.html": self._page,
                "/status.json": self._status,
                "/healthz": self._health,
                "/stream.mjpg": self._stream,
                "/metrics": self._metrics,
            }
            route.get(url.path, self._missing)()

        def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _page(self) -> None:
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")

        def _missing(self) -> None:
            self._send(404, b"not found\n", "text/plain")

        def _status(self) -> None:
            data = web.status.snapshot()
            data["viewers"] = web.hub.viewers
            self._send(200, json.dumps(data).encode(), "application/json")

        def _metrics(self) -> None:
            if web.metrics is None:
                self._missing()
                return
            self._send(200, web.metrics.render(viewers=web.hub.viewers).encode(), METRICS_TYPE)

        def _health(self) -> None:
            ok, why = web.status.healthy()
            self._send(200 if ok else 503, (why + "\n").encode(), "text/plain")

        def _stream(self) -> None:
            if not web.hub.join(MAX_VIEWERS):
                self._send(503, b"too many viewers\n", "text/plain")
                return
            try:
                # A small send buffer: a viewer that reads nothing fills it within a frame or two, so the
                # SEND_TIMEOUT_S on the next write drops it after about that long, not after the kernel's
                # default megabytes of frames.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, VIEWER_SNDBUF)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                seq = 0
                while not web.hub.closed:
                    seq, jpeg = web.hub.next_jpeg(seq, timeout=1.0)
                    if jpeg is None:
                        if _hung_up(self.connection):  # no frames (source down): still notice who left
                            break
                        continue
                    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    self.wfile.flush()
            except OSError:
                pass  # the viewer went away, or accepted nothing for SEND_TIMEOUT_S
            finally:
                web.hub.leave()

    return Handler


def _hung_up(conn: socket.socket) -> bool:
    """True when the viewer closed its end (readable with nothing to read). Over TLS nothing can be peeked;
    a viewer sends nothing after its request, so whatever arrives is its close_notify or its end."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        if not readable:
            return False
        if not isinstance(conn, ssl.SSLSocket):
            return conn.recv(1, socket.MSG_PEEK) == b""
        timeout = conn.gettimeout()
        conn.settimeout(0)
        try:
            return conn.recv(1) == b""
        except ssl.SSLWantReadError:  # part of a record so far
            return False
        finally:
            conn.settimeout(timeout)
    except OSError:
        return True


class WebSink:
    """The sink side: wants the annotated image only while someone watches, at the viewer frame rate."""

    def __init__(
        self,
        address: str,
        status: LiveStatus,
        log: Callable[[str], None],
        token: str | None = None,
        fps: float = 10.0,
        cert: str | None = None,
        key: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``cert``/``key``: PEM files for HTTPS (both or neither); ``metrics``: the collector ``/metrics``
        shows (a sink of its own, fed before this one; without it ``/metrics`` is 404)."""
        host, port = parse_address(address)
        tls = tls_context(cert, key)
        self.hub = FrameHub(fps)
        try:
            self.server = WebServer(host, port, status, self.hub, token, tls=tls, metrics=metrics)
        except BaseException:
            self.hub.close()
            raise
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if tls else "http"
        paths = "status.json, healthz, stream.mjpg" + (", metrics" if metrics else "")
        log(f"web view on {scheme}://{shown}:{self.server.port}/ ({paths})")
        if not is_loopback(host):
            log(
                f"warning: --serve {host} is reachable from other machines"
                + ("" if token else "; anyone there can watch the camera (set --serve-token-file)")
            )

    @property
    def needs_image(self) -> bool:
        return self.hub.wants_frame()

    @needs_image.setter
    def needs_image(self, value: bool) -> None:
        """Decided frame by frame, not set: the setter only makes this fit the ``Sink`` protocol."""

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        if image is not None and self.hub.wants_frame():
            self.hub.offer(image)
        return None

    def close(self, ok: bool) -> None:
        self.server.close()
