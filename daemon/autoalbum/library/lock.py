"""One daemon per library: an exclusive lock file in the state folder."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from autoalbum.errors import AutoalbumError
from autoalbum.faults import fault_of

log = logging.getLogger(__name__)

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
        handle = _open(self.path)
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
        try:
            # Over the pid before it, in place: a full disk has no block for a new one.
            if not handle.writable():
                raise OSError(errno.EROFS, "read-only file system")
            written = str(os.getpid()).encode()
            os.pwrite(handle.fileno(), written, 0)
            os.ftruncate(handle.fileno(), len(written))
        except OSError as error:
            if fault_of(error) is None:
                handle.close()
                raise
            log.warning("can't write the pid into %s (%s); the library is locked all the same",
                        self.path, error.strerror)  # fmt: skip
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


def _open(path: Path) -> IO[str]:
    """The lock file, made if need be; only read where the state folder is read-only (a lock
    holds on a file opened for reading too)."""
    try:
        return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o666), "r+")
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EACCES) or not path.exists():
            raise
        return path.open("r")


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
