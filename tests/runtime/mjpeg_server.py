"""A small MJPEG-over-HTTP camera for the tests, on 127.0.0.1: serves ``/stream.mjpg`` as
multipart/x-mixed-replace JPEG frames at a set rate, and can drop out (``stop``: the listening socket and
every open stream closed) and come back on the same port (``start``), like an IP camera that reboots."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "hsframe"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MjpegCamera:
    def __init__(self, port: int | None = None, fps: float = 25.0, size: tuple[int, int] = (96, 64)) -> None:
        self.port = port or free_port()
        self.fps, self.size = fps, size
        self.frames_sent = 0
        self._server: ThreadingHTTPServer | None = None
        self._alive = threading.Event()
        self.flowing = threading.Event()  # cleared: keep the connections open and send nothing (a hung stream)
        self.flowing.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def _jpeg(self, i: int) -> bytes:
        w, h = self.size
        img = np.full((h, w, 3), (i * 7) % 256, np.uint8)
        cv2.circle(img, (w // 2, h // 2), h // 4, (40, 180, 220), -1)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        return buf.tobytes()

    def start(self) -> MjpegCamera:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                i = 0
                try:
                    while camera._alive.is_set():
                        camera.flowing.wait()  # stop() sets it again, so a stalled stream still ends
                        if not camera._alive.is_set():
                            break
                        data = camera._jpeg(i)
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                            + data
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        camera.frames_sent += 1
                        i += 1
                        time.sleep(1.0 / camera.fps)
                except OSError:
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.allow_reuse_address = True
        self._server = server
        self._alive.set()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Drop out: no new connections, and the open streams end."""
        self._alive.clear()
        self.flowing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
