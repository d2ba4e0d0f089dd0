"""One daemon per library: an exclusive lock file in the state folder."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from autoalbum.errors import AutoalbumError

LOCK_NAME = "daemon.lock"


class LibraryLocked(AutoalbumError):
    """Another autoalbum daemon holds the library."""


class LibraryLock:
    """Held while the daemon runs; the kernel drops it if the process dies, even by kill -9."""

    def __init__(self, state: Path) -> None:
        self.path = state / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            handle.close()
            raise LibraryLocked(
                f"another autoalbum daemon (pid {pid}) is running on this library "
                f"({self.path.parent}); stop it first"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> LibraryLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def holder(state: Path) -> int | None:
    """The pid of the daemon holding the library, or None when none runs."""
    path = state / LOCK_NAME
    if not path.exists():
        return None
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
