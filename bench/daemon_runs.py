"""The real daemon and `autoalbum index` as subprocesses, for the benchmarks that time them.

Each run gets its own config naming its photo, album and state folders. `code` is a checkout's
`daemon/` folder: the subprocess imports autoalbum from there, so one benchmark can time two
versions of the code side by side with the same interpreter and packages.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

HERE_CODE = Path(__file__).resolve().parents[1] / "daemon"
REPO = HERE_CODE.parent
CLI = (sys.executable, "-m", "autoalbum.cli")


def write_config(root: Path, photos: Path | Sequence[Path], **sections: dict[str, object]) -> Path:
    """`root/autoalbum.yaml` for `photos` (one folder or several), albums in `root/albums`,
    state in `root/state`."""
    folders = [photos] if isinstance(photos, Path) else list(photos)
    library = {
        "folders": [str(folder) for folder in folders],
        "albums": str(root / "albums"),
        "state": str(root / "state"),
    }
    path = root / "autoalbum.yaml"
    path.write_text(yaml.safe_dump({"library": library, **sections}, sort_keys=False))
    return path


def code_env(code: Path = HERE_CODE, **extra: str) -> dict[str, str]:
    """This process's environment with autoalbum imported from `code`, plus `extra`."""
    return {**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1", **extra}


def cli(command: str, config: Path) -> list[str]:
    """The command line of `autoalbum COMMAND` on `config`, the model on the CPU."""
    return [*CLI, command, "--config", str(config), "--device", "cpu"]


def start_daemon(
    config: Path, env: dict[str, str] | None = None, output: IO[bytes] | int | None = None
) -> subprocess.Popen[bytes]:
    """`autoalbum run` on `config`, its log to `output` (default: this process's stderr)."""
    return subprocess.Popen(
        cli("run", config), env=env, stdout=output, stderr=subprocess.STDOUT if output else None
    )


def stop_daemon(daemon: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """SIGTERM, then wait: seconds until the daemon exited (killed after `timeout`)."""
    started = time.perf_counter()
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    return time.perf_counter() - started


def time_index(
    config: Path,
    env: dict[str, str] | None = None,
    quiet: bool = False,
    timeout: float | None = None,
) -> float:
    """Wall seconds of one `autoalbum index` on `config`."""
    output = subprocess.DEVNULL if quiet else None
    command = cli("index", config)
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=output, stderr=output, timeout=timeout)
    return time.perf_counter() - started


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> float:
    """Poll `condition` until it holds; returns the moment it did (perf_counter)."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.005)
    return time.perf_counter()


@dataclass(frozen=True)
class Measured:
    """A finished subprocess: its wall time and its own peak resident memory."""

    seconds: float
    peak_rss: int  # bytes (the child's ru_maxrss)


def run_measured(
    command: Sequence[str],
    env: dict[str, str] | None = None,
    output: IO[bytes] | int | None = None,
    timeout: float | None = None,
) -> Measured:
    """Run `command` to the end (killed after `timeout`: TimeoutExpired), its output to
    `output`; a non-zero exit raises CalledProcessError."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if timeout is not None and time.perf_counter() - started > timeout:
            child.kill()
            child.wait()
            raise subprocess.TimeoutExpired(list(command), timeout)
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, list(command))
    return Measured(seconds, usage.ru_maxrss * 1024)


def memory(pid: int, key: str = "VmRSS") -> int:
    """A live process's memory figure from /proc/PID/status, in bytes: VmRSS (resident now)
    or VmHWM (its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0]) * 1024
    raise KeyError(f"/proc/{pid}/status has no {key}")


def add_photo_options(parser: argparse.ArgumentParser, generate: int) -> None:
    """--photos DIR or --generate N (default `generate`) 12 MP JPEGs."""
    photos = parser.add_mutually_exclusive_group()
    photos.add_argument("--photos", type=Path, metavar="DIR", help="an existing photo folder")
    photos.add_argument(
        "--generate", type=int, default=generate, metavar="N", help="N generated 12 MP JPEGs"
    )


# The code


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True)
    return done.stdout.decode().strip()


@contextmanager
def checkout(ref: str, folder: Path) -> Iterator[Path]:
    """A detached worktree of `ref` at `folder` for the run; yields its daemon/ folder."""
    git("worktree", "add", "--detach", "--quiet", str(folder), ref)
    try:
        yield folder / "daemon"
    finally:
        git("worktree", "remove", "--force", str(folder))


def describe_checkout() -> str:
    changed = git("status", "--porcelain", "--", "daemon")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if changed else "")


# What the daemon says


class NotifySocket:
    """A datagram socket standing in for systemd's: every message with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify", daemon=True)

    def __enter__(self) -> NotifySocket:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()
        self.path.unlink()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode(errors="replace")))

    def times(self, assignment: str) -> list[float]:
        """Arrival times of the messages holding the line `assignment` (READY=1, WATCHDOG=1)."""
        return [t for t, text in self.messages if assignment in text.splitlines()]

    def values(self, key: str) -> list[str]:
        """Every value sent for `key` (STATUS), in order."""
        prefix = f"{key}="
        lines = (line for _, text in self.messages for line in text.splitlines())
        return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]

    def keys(self) -> Counter[str]:
        return Counter(
            line.partition("=")[0] for _, text in self.messages for line in text.splitlines()
        )


class LogLines:
    """The daemon's log, read from its pipe as it comes, each line with its arrival time."""

    def __init__(self, stream: Iterator[bytes], copy: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self._copy = copy
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Iterator[bytes]) -> None:
        with self._copy.open("wb") as copy:
            for line in stream:
                copy.write(line)
                self.lines.append((time.monotonic(), line.decode(errors="replace").rstrip()))

    def first(self, words: str) -> float | None:
        return next((t for t, line in self.lines if words in line), None)

    def tail(self, n: int = 15) -> str:
        return "\n".join(line for _, line in self.lines[-n:])
