"""Raw watchdog events in, complete changes out: which paths count, and when a file is done.

A created or modified file counts once its size and mtime have held still for `settle_seconds`,
or only `CLOSED_SECONDS` after its writer closed it (inotify's IN_CLOSE_WRITE: the observer
reports `closed`; a polling observer never does, and its files wait `settle_seconds`). A tool
that closes a file and opens it again to write more has it reported again once it is done:
the file changed, so it is examined again.
A rename from a temporary name (`photo.jpg.part` -> `photo.jpg`) is an arrival of the final
name. A folder moved or deleted reaches us as one event per file below it (both observers emit
those), plus one for the folder itself. Symlinked files are reported only with `follow_symlinks`,
as the catch-up scan skips them too.
"""

from __future__ import annotations

import enum
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from watchdog.events import FileSystemEvent

log = logging.getLogger(__name__)

_TOUCHES = frozenset({"created", "modified"})
CLOSED_SECONDS = 0.15  # how long a file closed after writing must then hold still
VANISHED_SECONDS = 5.0  # how long a file gone while settling is remembered for its rename


class ChangeKind(str, enum.Enum):
    UPDATED = "updated"  # created or modified, and now complete (settled)
    DELETED = "deleted"  # a file, or a folder: everything below it is gone
    MOVED = "moved"  # path -> dest, both inside the watched folders


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    path: Path
    dest: Path | None = None


@dataclass(frozen=True)
class _Seen:
    """A file being written: what stat said last, and since when it has held still."""

    size: int
    mtime_ns: int
    since: float
    closed: bool = False  # its writer closed it, and nothing wrote to it since


@dataclass(frozen=True)
class Tree:
    """Which paths count: inside a watched folder, not excluded, no hidden component."""

    roots: tuple[tuple[str, Path], ...]  # (folder as watchdog watches it, folder as configured)
    exclude: tuple[Path, ...]
    accept: Callable[[Path], bool]

    def local(self, raw: str | bytes) -> Path | None:
        """The configured-folder form of a path watchdog reported."""
        text = os.fsdecode(raw)
        for watched, folder in self.roots:
            if text == watched:
                return folder
            if text.startswith(watched.rstrip(os.sep) + os.sep):
                return folder / text[len(watched) :].lstrip(os.sep)
        return None

    def inside(self, path: Path) -> bool:
        root = next((f for _, f in self.roots if path == f or f in path.parents), None)
        if root is None or any(path == e or e in path.parents for e in self.exclude):
            return False
        return not any(part.startswith(".") for part in path.relative_to(root).parts)

    def named_photo(self, path: Path) -> bool:
        return self.inside(path) and self.accept(path)

    def is_root(self, path: Path) -> bool:
        return any(path == folder for _, folder in self.roots)


def watched_tree(
    folders: Sequence[Path], exclude: Sequence[Path], accept: Callable[[Path], bool]
) -> Tree:
    """Watch each folder by its real path (inotify won't follow a symlinked root) once."""
    roots: list[tuple[str, Path]] = []
    # By real path, so a folder inside another one comes after it and is dropped.
    for real, folder in sorted({(os.path.realpath(f), Path(os.path.abspath(f))) for f in folders}):
        if not any(real == w or real.startswith(w.rstrip(os.sep) + os.sep) for w, _ in roots):
            roots.append((real, folder))
    partial = Tree(tuple(roots), (), accept)
    excluded = {Path(os.path.abspath(e)) for e in exclude}
    # Also in the configured folders' spelling, should the album folder be reached via a symlink.
    excluded |= {p for e in exclude if (p := partial.local(os.path.realpath(e))) is not None}
    return replace(partial, exclude=tuple(sorted(excluded)))


class Settler:
    """The worker's state: turns raw events into changes, holding back files being written."""

    def __init__(self, tree: Tree, settle_seconds: float, follow_symlinks: bool) -> None:
        self.tree = tree
        self.settle_seconds = settle_seconds
        self.follow_symlinks = follow_symlinks
        self.pending: dict[Path, _Seen] = {}
        # Files that vanished while settling, kept a while: the rename that took them away
        # may still be queued, and its new name must settle, not be reported as a move.
        self.vanished: dict[Path, _Seen] = {}

    def apply(self, event: FileSystemEvent) -> list[Change]:
        source = self.tree.local(event.src_path)
        if source is None:
            return []
        if event.event_type == "moved":
            dest = self.tree.local(event.dest_path) if event.dest_path else None
            if event.is_directory:
                return []  # watchdog follows with a move event for each file below
            return self._moved(source, dest) if dest else self._deleted(source, False)
        if event.event_type == "deleted":
            return self._deleted(source, event.is_directory)
        if event.is_directory or not self.tree.named_photo(source):
            return []
        if event.event_type in _TOUCHES:
            self._touch(source, closed=False)
        elif event.event_type == "closed":
            self._touch(source, closed=True)
        return []

    def _touch(self, path: Path, *, closed: bool) -> None:
        """(Re)start the settling clock: the file was just written to, or closed."""
        seen = self.pending.get(path)
        now = time.monotonic()
        self.pending[path] = replace(seen or _Seen(-1, -1, now), since=now, closed=closed)

    def _deleted(self, path: Path, is_directory: bool) -> list[Change]:
        if not is_directory:
            self.pending.pop(path, None)
            self.vanished.pop(path, None)
            return [Change(ChangeKind.DELETED, path)] if self.tree.named_photo(path) else []
        if self.tree.is_root(path):
            # Rather an unmount or a dropped share than a whole library deleted on purpose.
            log.warning("watched folder %s is gone; its photos stay in the albums", path)
            return []
        for below in [p for p in self.pending if path in p.parents]:
            del self.pending[below]
        return [Change(ChangeKind.DELETED, path)] if self.tree.inside(path) else []

    def _moved(self, source: Path, dest: Path) -> list[Change]:
        seen = self.pending.pop(source, None) or self.vanished.pop(source, None)
        was_photo = self.tree.named_photo(source)
        if not (self.tree.named_photo(dest) and self._followable(dest)):
            return [Change(ChangeKind.DELETED, source)] if was_photo else []
        if was_photo and seen is None:
            return [Change(ChangeKind.MOVED, source, dest)]
        # A temporary name made final, a move in from an ignored place, or a file still
        # being written: the new name arrives once settled (a rename keeps size and mtime).
        self.pending[dest] = seen or _Seen(-1, -1, time.monotonic())
        return [Change(ChangeKind.DELETED, source)] if was_photo else []

    def _followable(self, path: Path) -> bool:
        return self.follow_symlinks or not path.is_symlink()

    def settle(self, now: float) -> list[Change]:
        """UPDATED for each pending file whose size and mtime held still long enough."""
        ready = []
        forget = now - max(self.settle_seconds, VANISHED_SECONDS)
        self.vanished = {path: seen for path, seen in self.vanished.items() if seen.since > forget}
        for path, seen in list(self.pending.items()):
            info = self._stat(path)
            if info is None:  # gone, a symlink we don't follow, or not a regular file
                self.vanished[path] = replace(self.pending.pop(path), since=now)
            elif (info.st_size, info.st_mtime_ns) != (seen.size, seen.mtime_ns):
                since = seen.since if seen.size < 0 else now  # the first look is no change
                self.pending[path] = _Seen(info.st_size, info.st_mtime_ns, since, seen.closed)
            elif now - seen.since >= self._wait(seen):
                del self.pending[path]
                ready.append(Change(ChangeKind.UPDATED, path))
        return ready

    def _wait(self, seen: _Seen) -> float:
        """How long `seen` must hold still to count as complete."""
        return min(self.settle_seconds, CLOSED_SECONDS) if seen.closed else self.settle_seconds

    def _stat(self, path: Path) -> os.stat_result | None:
        try:
            info = os.stat(path) if self.follow_symlinks else os.lstat(path)
        except OSError:
            return None
        return info if stat.S_ISREG(info.st_mode) else None


def split_changes(changes: Sequence[Change]) -> tuple[list[Path], list[Path]]:
    """Paths to (re)examine and paths that are gone; a move is a delete plus an arrival."""
    present: dict[Path, None] = {}
    gone: dict[Path, None] = {}
    for change in changes:
        if change.kind is ChangeKind.DELETED:
            gone[change.path] = None
            present.pop(change.path, None)
        elif change.kind is ChangeKind.MOVED and change.dest is not None:
            gone[change.path] = None
            present.pop(change.path, None)
            present[change.dest] = None
            gone.pop(change.dest, None)
        else:
            present[change.path] = None
            gone.pop(change.path, None)
    return list(present), list(gone)
