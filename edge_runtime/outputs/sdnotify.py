"""systemd's notify protocol in a few lines (no dependency): READY=1 once the run is set up, WATCHDOG=1
while frames flow, STOPPING=1 at the end. With ``WatchdogSec=`` in the unit, a pipeline that stops
delivering frames (hung, or its camera gone for longer than that) is killed and restarted by systemd.
Built only when systemd set ``NOTIFY_SOCKET``; harmless elsewhere.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import numpy as np

from edge_runtime.results import FrameResult


def notify(address: str, message: str) -> bool:
    """One datagram to the notify socket ('@' starts an abstract address); False if it could not be sent."""
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(message.encode(), target)
        return True
    except OSError:
        return False


class SystemdNotify:
    needs_image = False

    def __init__(self, address: str, watchdog_usec: int | None) -> None:
        self.address = address
        # pet twice per watchdog period, as sd_watchdog_enabled(3) advises
        self.interval = watchdog_usec / 2e6 if watchdog_usec else None
        self._petted = 0.0
        notify(address, "READY=1\nSTATUS=model loaded, source opened")

    def emit(self, result: FrameResult, image: np.ndarray | None) -> str | None:
        now = time.monotonic()
        if self.interval is not None and now - self._petted >= self.interval:
            self._petted = now
            notify(self.address, f"WATCHDOG=1\nSTATUS=frame {result.index}")
        return None

    def close(self, ok: bool) -> None:
        notify(self.address, "STOPPING=1")


def from_environment(env: Mapping[str, str]) -> SystemdNotify | None:
    """The sink when running under systemd with ``Type=notify``, else None."""
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return None
    pid = env.get("WATCHDOG_PID")
    usec = env.get("WATCHDOG_USEC")
    ours = pid is None or pid == str(os.getpid())
    return SystemdNotify(address, int(usec) if usec and usec.isdigit() and ours else None)
