"""Watch photo folders and report complete, settled changes in batches.

watchdog's handler only queues raw events; `changes()` (the consumer's thread) turns them into
UPDATED / DELETED / MOVED changes. A created or modified file counts only once its size and
mtime have held still for `settle_seconds`, so half-copied files are never read. A rename from a
temporary name (`photo.jpg.part` -> `photo.jpg`) is an arrival of the final name.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from autoalbum.images import is_candidate

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.05
_LIMIT_ERRNOS = (errno.ENOSPC, errno.EMFILE)


class ChangeKind(str, enum.Enum):
    UPDATED = "updated"  # created or modified, and now complete
    DELETED = "deleted"  # a file, or a folder whose files are all gone
    MOVED = "moved"  # path -> dest, both inside the watched folders


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    path: Path
    dest: Path | None = None


class _Queue(FileSystemEventHandler):
    """Runs in watchdog's thread: only records events."""

    def __init__(self) -> None:
        self.events: deque[FileSystemEvent] = deque()
        self.ready = threading.Condition()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        with self.ready:
            self.events.append(event)
            self.ready.notify_all()


@dataclass
class _Pending:
    size: int
    mtime_ns: int
    stable_since: float


class FolderWatcher:
    """Recursive watcher over several folders; use `with` or start()/stop()."""

    def __init__(
        self,
        folders: Sequence[Path],
        *,
        exclude: Sequence[Path] = (),
        polling: bool = False,
        poll_seconds: float = 5.0,
        settle_seconds: float = 0.5,
        accept: Callable[[Path], bool] = is_candidate,
        follow_symlinks: bool = False,
        native_factory: Callable[[], Any] = Observer,
    ) -> None:
        self.folders = [Path(os.path.abspath(f)) for f in folders]
        self.exclude = [Path(os.path.abspath(f)) for f in exclude]
        self.polling = polling
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.accept = accept
        self.follow_symlinks = follow_symlinks
        self._native_factory = native_factory
        self._queue = _Queue()
        self._pending: dict[Path, _Pending] = {}
        self._ready: list[Change] = []
        self._observer: Any = None
        self._stopped = threading.Event()

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # lifetime

    def start(self) -> None:
        if not self.polling:
            try:
                self._observer = self._started(self._native_factory())
                return
            except OSError as error:
                if error.errno not in _LIMIT_ERRNOS and "inotify" not in str(error):
                    raise
                log.warning(
                    "inotify watch limit reached (%s); falling back to polling every %g s. "
                    "Raise it with: sudo sysctl fs.inotify.max_user_watches=524288",
                    error, self.poll_seconds,
                )  # fmt: skip
                self.polling = True
        self._observer = self._started(PollingObserver(timeout=self.poll_seconds))

    def _started(self, observer: Any) -> Any:
        try:
            for folder in self.folders:
                observer.schedule(self._queue, str(folder), recursive=True)
            observer.start()
        except BaseException:
            if observer.is_alive():
                observer.stop()
                observer.join()
            raise
        return observer

    def stop(self) -> None:
        self._stopped.set()
        with self._queue.ready:
            self._queue.ready.notify_all()
        if self._observer is not None:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join()
            self._observer = None

    # consuming

    def changes(self, timeout: float) -> list[Change]:
        """Wait up to `timeout` s for settled changes; return all that are ready, in order."""
        deadline = time.monotonic() + timeout
        while not self._stopped.is_set():
            self._drain()
            self._settle()
            if self._ready:
                ready, self._ready = self._ready, []
                return ready
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            with self._queue.ready:
                if not self._queue.events:
                    self._queue.ready.wait(min(remaining, CHECK_SECONDS))
        return []

    def _drain(self) -> None:
        with self._queue.ready:
            events = list(self._queue.events)
            self._queue.events.clear()
        for event in events:
            self._handle(event)

    def _wanted(self, path: Path) -> bool:
        if any(path == e or e in path.parents for e in self.exclude):
            return False
        if not any(f in path.parents for f in self.folders):
            return False
        relative = next(path.relative_to(f) for f in self.folders if f in path.parents)
        return not any(part.startswith(".") for part in relative.parts[:-1])

    def _photo(self, path: Path) -> bool:
        if not (self._wanted(path) and self.accept(path)):
            return False
        return self.follow_symlinks or not path.is_symlink()

    def _handle(self, event: FileSystemEvent) -> None:
        source = Path(os.fsdecode(event.src_path))
        dest = Path(os.fsdecode(event.dest_path)) if event.dest_path else None
        if event.event_type == "moved" and dest is not None:
            self._moved(source, dest, event.is_directory)
        elif event.event_type == "deleted":
            self._deleted(source, event.is_directory)
        elif event.is_directory:
            if event.event_type == "created" and self._wanted(source):
                self._touch_folder(source)  # a folder moved in from outside, or copied in
        elif self._photo(source):
            self._touch(source)

    def _touch_folder(self, folder: Path) -> None:
        for parent, _dirs, files in os.walk(folder):
            for name in files:
                if self._photo(Path(parent) / name):
                    self._touch(Path(parent) / name)

    def _touch(self, path: Path) -> None:
        """(Re)start the settling clock of a file that was written to."""
        self._pending[path] = _Pending(-1, -1, time.monotonic())

    def _deleted(self, path: Path, is_directory: bool) -> None:
        if is_directory:
            self._pending = {p: s for p, s in self._pending.items() if path not in p.parents}
            if self._wanted(path):
                self._ready.append(Change(ChangeKind.DELETED, path))
        elif self._pending.pop(path, None) is None and self._wanted(path) and self.accept(path):
            self._ready.append(Change(ChangeKind.DELETED, path))

    def _moved(self, source: Path, dest: Path, is_directory: bool) -> None:
        if is_directory:
            self._moved_folder(source, dest)
            return
        was_photo = self._wanted(source) and self.accept(source)
        pending = self._pending.pop(source, None)
        if not self._photo(dest):
            if was_photo and pending is None:
                self._ready.append(Change(ChangeKind.DELETED, source))
            return
        if was_photo and pending is None:
            self._ready.append(Change(ChangeKind.MOVED, source, dest))
        else:  # a temporary name made final, a move in from outside, or an unsettled file
            self._touch(dest)

    def _moved_folder(self, source: Path, dest: Path) -> None:
        if not self._wanted(dest):
            self._deleted(source, is_directory=True)
            return
        for folder, _dirs, files in os.walk(dest):
            for name in files:
                new = Path(folder) / name
                self._moved(source / new.relative_to(dest), new, is_directory=False)

    def _settle(self) -> None:
        now = time.monotonic()
        for path, state in list(self._pending.items()):
            try:
                info = path.stat()
            except OSError:
                del self._pending[path]  # gone before it settled; a delete event follows
                continue
            if (info.st_size, info.st_mtime_ns) != (state.size, state.mtime_ns):
                self._pending[path] = _Pending(info.st_size, info.st_mtime_ns, now)
            elif now - state.stable_since >= self.settle_seconds:
                del self._pending[path]
                self._ready.append(Change(ChangeKind.UPDATED, path))
