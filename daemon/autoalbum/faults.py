"""Writes refused by where they go, not by what they are: a full disk (or quota), a file system
remounted read-only, write permission lost, a disk failing writes.

`refusal(error, folders)` tells such an error from any other (an OSError by its errno, SQLite's
by its message), whatever it was raised from, and names the folder that refused: the state
folder, the album folder or a sidecar folder, with the bytes free there. `Blocked` is the
AutoalbumError that says so and what to do; the CLI ends a command with it and the daemon
pauses on it (service/pause.py) rather than crash.
"""

from __future__ import annotations

import enum
import errno
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoalbum.errors import AutoalbumError

if TYPE_CHECKING:
    from autoalbum.config import Config

# What the free bytes of a full folder must grow by before it looks writable again.
LIFT_BYTES = 1 << 20


class Fault(str, enum.Enum):
    FULL = "full"
    READ_ONLY = "read-only"
    DENIED = "not writable"  # write permission lost
    FAILING = "failing writes"  # a disk I/O error no other fault explains


_ERRNOS = {
    errno.ENOSPC: Fault.FULL,
    errno.EDQUOT: Fault.FULL,
    errno.EROFS: Fault.READ_ONLY,
    errno.EACCES: Fault.DENIED,
    errno.EPERM: Fault.DENIED,
    errno.EIO: Fault.FAILING,
}
_SQLITE = {
    "database or disk is full": Fault.FULL,
    "attempt to write a readonly database": Fault.READ_ONLY,
    "disk i/o error": Fault.FAILING,
}


def fault_of(error: BaseException) -> Fault | None:
    """The kind of refusal `error` itself is, by errno or SQLite's message; None for others."""
    if isinstance(error, OSError):
        return _ERRNOS.get(error.errno or 0)
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return next((fault for message, fault in _SQLITE.items() if message in text), None)
    return None


@dataclass(frozen=True)
class Folder:
    """A folder autoalbum writes to, and what it is to the user."""

    role: str  # "state folder", "album folder", "sidecar folder"
    path: Path


def write_folders(config: Config) -> tuple[Folder, ...]:
    """The folders a library writes to, the state folder first: the albums, and the sidecars
    (the mirror, or beside the photos)."""
    tags = config.tags
    mirror = tags.mirror if tags.location == "mirror" else None
    sidecars = (mirror,) if mirror else config.library.folders
    return (
        Folder("state folder", config.library.state),
        Folder("album folder", config.library.albums),
        *(Folder("sidecar folder", folder) for folder in sidecars),
    )


@dataclass(frozen=True)
class Probe:
    """What a folder's file system says now: bytes free, read-only, writable by us."""

    free: int
    read_only: bool
    writable: bool

    @classmethod
    def of(cls, folder: Path) -> Probe | None:
        """None when nothing of the folder (or the folders above it) can be looked at."""
        place = _existing(folder)
        try:
            info = os.statvfs(place)
        except OSError:
            return None
        free = info.f_bavail * info.f_frsize  # as df shows it, and shutil.disk_usage
        return cls(free, bool(info.f_flag & os.ST_RDONLY), os.access(place, os.W_OK))

    def better_than(self, before: Probe) -> bool:
        """Whether writes refused at `before` may go through now."""
        return (
            self.free >= before.free + LIFT_BYTES
            or (before.read_only and not self.read_only)
            or (not before.writable and self.writable)
        )


def _existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists (an album folder not made yet)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


@dataclass(frozen=True)
class Refusal:
    """A folder refused a write: which, why, and the bytes free there when it did."""

    folder: Folder
    fault: Fault
    probe: Probe | None

    @property
    def free(self) -> int | None:
        return self.probe.free if self.probe else None

    def describe(self) -> str:
        """`state folder full (0 bytes free)`, `album folder read-only`."""
        return f"{self.folder.role} {self._what()}"

    def sentence(self) -> str:
        """`state folder /x is full (0 bytes free)`."""
        return f"{self.folder.role} {self.folder.path} is {self._what()}"

    def _what(self) -> str:
        if self.fault is Fault.FULL and self.free is not None:
            return f"full ({self.free:,} bytes free)"
        if self.fault is Fault.DENIED:
            return "not writable (permission denied)"
        return str(self.fault.value)

    def advice(self) -> str:
        """What the user does about it."""
        path = self.folder.path
        advice: dict[Fault, str] = {
            Fault.FULL: f"free some space on the disk of {path}",
            Fault.READ_ONLY: f"remount the file system of {path} read-write",
            Fault.DENIED: f"give autoalbum write access to {path} again",
            Fault.FAILING: f"check the disk of {path} (dmesg shows why writes fail)",
        }
        return advice[self.fault]

    def as_dict(self) -> dict[str, Any]:
        """For daemon.json."""
        return {
            "role": self.folder.role,
            "path": str(self.folder.path),
            "fault": self.fault.value,
            "free": self.free,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> Refusal:
        free = saved.get("free")
        probe = Probe(int(free), False, True) if isinstance(free, int) else None
        folder = Folder(str(saved["role"]), Path(saved["path"]))
        return cls(folder, Fault(saved["fault"]), probe)


class Blocked(AutoalbumError):
    """A write was refused: the message names the folder and what to do; what was committed
    before stays committed."""

    def __init__(self, refusal: Refusal, committed: str | None = None) -> None:
        kept = f"committed work is kept ({committed})" if committed else "committed work is kept"
        super().__init__(
            f"{refusal.sentence()}: {kept}; {refusal.advice()} and run the command again"
        )
        self.refusal = refusal


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it was raised from or during, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def refused_write(error: BaseException) -> bool:
    """Whether `error`, or one it was raised from, is of the kinds a refused write is."""
    return any(isinstance(e, Blocked) or fault_of(e) is not None for e in _chain(error))


def refusal(error: BaseException, folders: Sequence[Folder]) -> Refusal | None:
    """The refused write behind `error`, or None when it is no such error. `folders` are the
    folders written to, the state folder first (where the catalog, SQLite's, lives)."""
    for cause in _chain(error):
        if isinstance(cause, Blocked):
            return cause.refusal
        fault = fault_of(cause)
        if fault is not None and (found := _locate(cause, fault, folders)) is not None:
            return found
    return None


def _locate(error: BaseException, fault: Fault, folders: Sequence[Folder]) -> Refusal | None:
    if isinstance(error, sqlite3.Error):
        folder = folders[0] if folders else None
    else:
        folder = _folder_of(error, folders)
        if folder is None and fault is Fault.DENIED:
            return None  # a photo that can't be read, say: not a refused write
        folder = folder or _outside(error) or _likeliest(fault, folders)
    if folder is None:
        return None
    probe = Probe.of(folder.path)
    if fault is Fault.FAILING and probe is not None:
        # SQLite says "disk I/O error" where it could not grow a file of a full disk, too.
        fault = Fault.READ_ONLY if probe.read_only else Fault.FULL if not probe.free else fault
    return Refusal(folder, fault, probe)


def _folder_of(error: BaseException, folders: Sequence[Folder]) -> Folder | None:
    """The folder the path of `error` lies in (the deepest, should folders nest)."""
    names = [getattr(error, "filename", None), getattr(error, "filename2", None)]
    paths = [Path(os.path.abspath(os.fsdecode(n))) for n in names if isinstance(n, str | bytes)]
    inside = [
        f
        for f in folders
        for p in paths
        if p == Path(os.path.abspath(f.path)) or Path(os.path.abspath(f.path)) in p.parents
    ]
    return max(inside, key=lambda f: len(f.path.parts), default=None)


def _outside(error: BaseException) -> Folder | None:
    """The folder of the error's path, where it is none of the library's (a model cache)."""
    name = getattr(error, "filename", None)
    if not isinstance(name, str | bytes):
        return None
    return Folder("folder", Path(os.path.abspath(os.fsdecode(name))).parent)


def _likeliest(fault: Fault, folders: Sequence[Folder]) -> Folder | None:
    """For an error without a path: the folder whose file system shows the fault, else the
    first (the state folder)."""
    for folder in folders:
        probe = Probe.of(folder.path)
        if probe is not None and (
            (fault is Fault.FULL and probe.free < LIFT_BYTES)
            or (fault is Fault.READ_ONLY and probe.read_only)
        ):
            return folder
    return folders[0] if folders else None
