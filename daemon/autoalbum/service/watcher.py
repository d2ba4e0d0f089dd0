"""Watch photo folders and report complete, settled changes in batches.

watchdog's handler only queues raw events. One worker thread hands them to the `Settler`
(settler.py), which decides what they mean, and re-stats files still being written every
`TICK_SECONDS`, so settling goes on while the consumer is busy filing the previous batch;
`changes()` hands over what is ready. This module sets up the observers: native (inotify),
falling back to polling when inotify runs out of watches, or polling as asked. Symlinked
folders are never entered without `follow_symlinks`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver, PollingObserverVFS

from autoalbum.embedding.images import is_candidate
from autoalbum.printable import printable
from autoalbum.service.settler import Change, ChangeKind, Settler, watched_tree

log = logging.getLogger(__name__)

TICK_SECONDS = 0.1  # how often files still being written are stat'ed again
_NOISE = frozenset({"opened", "closed_no_write", "attrib"})
_IN_ONLYDIR = 0x01000000


class _Inbox(FileSystemEventHandler):
    """Runs in watchdog's threads: only queues events for the worker."""

    def __init__(self) -> None:
        self._events: queue.SimpleQueue[FileSystemEvent | None] = queue.SimpleQueue()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _NOISE or (event.is_directory and event.event_type == "modified"):
            return
        self._events.put(event)

    def wake(self) -> None:
        self._events.put(None)

    def take(self, timeout: float | None) -> list[FileSystemEvent]:
        """Wait up to `timeout` s (None: for ever) for events, then take all queued."""
        try:
            first = self._events.get(timeout=timeout)
        except queue.Empty:
            return []
        events = [first]
        with contextlib.suppress(queue.Empty):
            while True:
                events.append(self._events.get_nowait())
        return [event for event in events if event is not None]


class _Outbox:
    """Changes ready for the consumer; a newer change for a path replaces an unconsumed one."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._changes: dict[Path | Change, Change] = {}
        self._settling = 0
        self._closed = False

    def publish(self, changes: Sequence[Change], settling: int) -> None:
        """Hand over `changes`; `settling` more files are still being written."""
        with self._ready:
            self._settling = settling
            for change in changes:
                key = change if change.kind is ChangeKind.MOVED else change.path
                self._changes.pop(key, None)  # re-added last: arrival order of the newest
                self._changes[key] = change
            if changes:
                self._ready.notify_all()

    @property
    def waiting(self) -> int:
        with self._ready:
            return self._settling + len(self._changes)

    def take(self, timeout: float) -> list[Change]:
        with self._ready:
            self._ready.wait_for(lambda: self._changes or self._closed, max(timeout, 0.0))
            changes = list(self._changes.values())
            self._changes.clear()
        return changes

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()


def _is_limit(error: OSError) -> bool:
    """True for inotify running out of watches (ENOSPC) or instances (EMFILE)."""
    message = str(error).lower()
    return error.errno in (errno.ENOSPC, errno.EMFILE) or (
        "inotify" in message and "limit" in message
    )


def _warn_limit(error: OSError, poll_seconds: float) -> None:
    what, key, floor = "watch", "watches", 524288
    if error.errno == errno.EMFILE:
        what, key, floor = "instance", "instances", 1024
    try:
        current = int(Path(f"/proc/sys/fs/inotify/max_user_{key}").read_text())
    except (OSError, ValueError):
        current = 0
    log.warning(
        "inotify %s limit reached (%d %s); falling back to polling every %g s. "
        "Raise it with: sudo sysctl fs.inotify.max_user_%s=%d (and in /etc/sysctl.d/ to keep it)",
        what, current, key, poll_seconds, key, max(floor, 2 * current),
    )  # fmt: skip


def _check_inotify_room(path: str) -> None:
    """Raise ENOSPC if no inotify watch is left: watchdog skips sub-folders it can't watch."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = int(libc.inotify_init1(os.O_CLOEXEC))
    if fd < 0:
        return  # out of instances, not watches: what watchdog holds already works
    try:
        added = int(libc.inotify_add_watch(fd, os.fsencode(path), _IN_ONLYDIR))
        if added < 0 and ctypes.get_errno() == errno.ENOSPC:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
    finally:
        os.close(fd)


def _discard(observer: BaseObserver) -> None:
    """Stop an observer, started or not (an InotifyObserver runs a thread from birth)."""
    observer.stop()
    if observer.is_alive():
        observer.join()


class FolderWatcher:
    """Recursive watcher over several folders; use `with` or start()/stop().

    `polling` is True while a polling observer runs, asked for or fallen back to.
    `native_factory` builds the native observer (tests pass one that is out of watches).
    """

    def __init__(
        self,
        folders: Sequence[Path],
        *,
        exclude: Sequence[Path] = (),
        polling: bool = False,
        poll_seconds: float = 5.0,
        settle_seconds: float = 1.0,
        accept: Callable[[Path], bool] = is_candidate,
        follow_symlinks: bool = False,
        native_factory: Callable[[], BaseObserver] = Observer,
    ) -> None:
        self.polling = polling
        self.poll_seconds = poll_seconds
        self.follow_symlinks = follow_symlinks
        self._native_factory = native_factory
        self._tree = watched_tree(folders, exclude, accept)
        self._settler = Settler(self._tree, settle_seconds, follow_symlinks)
        self._inbox = _Inbox()
        self._outbox = _Outbox()
        self._stopping = threading.Event()
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None

    def __enter__(self) -> FolderWatcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start watching; falls back to polling when inotify runs out of watches."""
        if self._worker is not None or self._stopping.is_set():
            raise RuntimeError("a FolderWatcher starts once; make a new one to watch again")
        self._worker = threading.Thread(target=self._work, name="autoalbum-watcher", daemon=True)
        self._worker.start()
        try:
            self._observer = self._start_observer()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the observer and the worker, and wake a waiting `changes()`; idempotent."""
        self._outbox.close()
        self._stopping.set()
        if self._observer is not None:
            _discard(self._observer)
            self._observer = None
        if self._worker is not None:
            self._inbox.wake()
            self._worker.join()

    def changes(self, timeout: float) -> list[Change]:
        """Wait up to `timeout` s for settled changes; return all that are ready, in order."""
        return self._outbox.take(timeout)

    @property
    def pending(self) -> int:
        """Paths seen but not handed over yet: files still settling, changes not yet taken."""
        return self._outbox.waiting

    def _start_observer(self) -> BaseObserver:
        if not self.polling:
            try:
                return self._scheduled(self._native_factory)
            except OSError as error:
                if not _is_limit(error):
                    raise
                _warn_limit(error, self.poll_seconds)
                self.polling = True
        return self._scheduled(self._polling_observer)

    def _polling_observer(self) -> BaseObserver:
        if self.follow_symlinks:
            return PollingObserver(timeout=self.poll_seconds)
        # lstat: a symlinked folder is a file to the snapshot, so it is never walked into.
        return PollingObserverVFS(os.lstat, os.scandir, polling_interval=self.poll_seconds)

    def _scheduled(self, factory: Callable[[], BaseObserver]) -> BaseObserver:
        observer = factory()
        try:
            for watched, folder in self._tree.roots:
                try:  # an offline folder (library/folders.py) is watched again once it is back
                    os.scandir(watched).close()
                except OSError as error:
                    log.warning("not watching %s: %s", printable(folder), error.strerror)
                    continue
                observer.schedule(
                    self._inbox, watched, recursive=True, follow_symlink=self.follow_symlinks
                )
            observer.start()
            if not self.polling and self._tree.roots and sys.platform.startswith("linux"):
                _check_inotify_room(self._tree.roots[0][0])
        except BaseException:
            _discard(observer)
            raise
        return observer

    def _work(self) -> None:
        """The worker: apply queued events at once, re-stat pending files every tick."""
        next_check = 0.0
        while not self._stopping.is_set():
            wait = max(0.0, next_check - time.monotonic()) if self._settler.pending else None
            events = self._inbox.take(wait)
            try:
                found = [change for event in events for change in self._settler.apply(event)]
                now = time.monotonic()
                if now >= next_check:
                    found += self._settler.settle(now)
                    next_check = now + TICK_SECONDS
                self._outbox.publish(found, len(self._settler.pending))
            except Exception:
                log.exception(
                    "could not handle %d file events; the next scan catches up", len(events)
                )
