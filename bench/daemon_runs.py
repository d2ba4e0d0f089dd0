"""The real daemon and `autoalbum index` as subprocesses, for the benchmarks that time them.

Each run gets its own config naming its photo, album and state folders. `code` is a checkout's
`daemon/` folder: the subprocess imports autoalbum from there, so one benchmark can time two
versions of the code side by side with the same interpreter and packages.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import yaml

HERE_CODE = Path(__file__).resolve().parents[1] / "daemon"
CLI = (sys.executable, "-m", "autoalbum.cli")


def write_config(root: Path, photos: Path, **sections: dict[str, object]) -> Path:
    """`root/autoalbum.yaml` for `photos`, albums in `root/albums`, state in `root/state`."""
    library = {
        "folders": [str(photos)],
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


def add_photo_options(parser: argparse.ArgumentParser, generate: int) -> None:
    """--photos DIR or --generate N (default `generate`) 12 MP JPEGs."""
    photos = parser.add_mutually_exclusive_group()
    photos.add_argument("--photos", type=Path, metavar="DIR", help="an existing photo folder")
    photos.add_argument(
        "--generate", type=int, default=generate, metavar="N", help="N generated 12 MP JPEGs"
    )
