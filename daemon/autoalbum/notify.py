"""sd_notify for Type=notify units: READY, STATUS, WATCHDOG and STOPPING messages.

A few lines over a datagram socket, so no libsystemd binding is needed; outside systemd
($NOTIFY_SOCKET unset) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

EXTEND_EVERY = 10.0  # seconds between two EXTEND_TIMEOUT_USEC messages
EXTEND_USEC = 60_000_000  # what each asks for


class Notifier:
    """Talks to the service manager named by $NOTIFY_SOCKET, if any."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        # An abstract socket is written "@name" and means a leading NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = int(environ.get("WATCHDOG_USEC", "0") or 0)
        # A ping every third of WatchdogSec: a step that runs a while between two chances to
        # ping still leaves the service well inside the limit.
        self.watchdog_interval = usec / 3e6 if usec else 0.0
        self._last_ping = 0.0
        self._last_extend = -EXTEND_EVERY

    def send(self, message: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError as error:
            log.debug("sd_notify %r failed: %s", message, error)

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def extend_start(self) -> int:
        """Ask for 60 s more to start, at most every 10 s (a progress handler: returns 0, go
        on): for work that must come before READY=1, such as rewriting the catalog once."""
        if time.monotonic() - self._last_extend >= EXTEND_EVERY:
            self._last_extend = time.monotonic()
            self.send(f"EXTEND_TIMEOUT_USEC={EXTEND_USEC}")
        return 0

    def watchdog(self) -> None:
        """Ping the watchdog every third of its interval; cheap to call often."""
        if self.watchdog_interval and time.monotonic() - self._last_ping >= self.watchdog_interval:
            self._last_ping = time.monotonic()
            self.send("WATCHDOG=1")
