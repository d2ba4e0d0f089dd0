"""The real daemon as a subprocess under a notify socket the test owns, as systemd runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class Manager:
    """The service manager's side of sd_notify: a datagram socket, each message timed."""

    def __init__(self, folder: Path) -> None:
        self.address = str(folder / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def times(self, message: str) -> list[float]:
        return [at for at, line in self.messages if line == message]

    def statuses(self) -> list[str]:
        return [line[len("STATUS=") :] for _, line in self.messages if line.startswith("STATUS=")]

    def close(self) -> None:
        self.sock.close()


def start_daemon(
    config: Path, manager: Manager, log: Path, watchdog_seconds: float
) -> subprocess.Popen[bytes]:
    """`autoalbum run` on `config`, its output appended to `log`."""
    env = {
        **os.environ,
        "NOTIFY_SOCKET": manager.address,
        "WATCHDOG_USEC": str(int(watchdog_seconds * 1e6)),
    }
    with log.open("ab") as out:  # the daemon keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "autoalbum.cli", "run", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def wait_on(
    daemon: subprocess.Popen[bytes], manager: Manager, done: Callable[[], bool], log: Path
) -> None:
    """Until `done()`, taking the daemon's messages; fails with its log if it exits or takes
    five minutes."""
    deadline = time.monotonic() + 300
    while not done():
        assert daemon.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        manager.drain()
    manager.drain()
