"""The daemon: catch up, watch the folders, file arrivals into albums, recluster now and then.

One thread owns the library and applies changes in batches; reclustering runs in a second
thread on its own library (its own catalog connection) so arrivals keep flowing. Signals only
set flags: SIGTERM/SIGINT finish the current batch and exit, SIGHUP reloads the config.
`build_service` makes the collaborators; `Service` holds the policies: when to recluster,
when to rescan, how to reload, what to report.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

from autoalbum.config import Config, ConfigError, ReclusterConfig, load_config
from autoalbum.durable import write_text_atomically
from autoalbum.embedding.embedder import Embedder
from autoalbum.library.library import Library
from autoalbum.library.lock import LibraryLock
from autoalbum.service.notify import Notifier
from autoalbum.service.settler import Change, ChangeKind
from autoalbum.service.status import STATUS_NAME
from autoalbum.service.watcher import FolderWatcher

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
# A young library reclusters whenever it has doubled (and has at least this many new photos):
# albums formed from the first five photos of a card say little about the two hundred after.
GROWTH_MINIMUM = 10


class Watcher(Protocol):
    """What the service needs of a `FolderWatcher`."""

    @property
    def polling(self) -> bool: ...

    @property
    def pending(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def changes(self, timeout: float) -> list[Change]: ...


class OpenLibrary(Protocol):
    """Opens the library a config describes; the caller closes it."""

    def __call__(self, config: Config, *, load_index: bool = True) -> Library: ...


@dataclass
class _Counters:
    arrivals_since_recluster: int = 0
    images_at_recluster: int = 0
    first_change_at: float | None = None
    batches: int = 0
    started_at: float = field(default_factory=time.time)

    def recluster_due(self, policy: ReclusterConfig, now: float) -> bool:
        """After enough new photos (fewer while the library is young), or long enough after
        the first change since the last recluster."""
        due_by_count = self.arrivals_since_recluster >= min(
            policy.after_new_images, max(GROWTH_MINIMUM, self.images_at_recluster)
        )
        due_by_time = (
            self.first_change_at is not None
            and now - self.first_change_at >= policy.after_minutes * 60
        )
        return due_by_count or due_by_time


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


class Service:
    """`autoalbum run`: keeps one library's albums current until told to stop.

    `run()` is `running()` plus `step()` until `stop()`; tests drive the two directly.
    """

    def __init__(
        self,
        config: Config,
        *,
        open_library: OpenLibrary,
        watch: Callable[[Config], Watcher],
        lock: LibraryLock,
        notifier: Notifier,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.notifier = notifier
        self._open_library = open_library
        self._watch = watch
        self._lock = lock
        self._clock = clock
        self._library: Library | None = None
        self._watcher: Watcher | None = None
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._recluster: threading.Thread | None = None
        self._recluster_done = threading.Event()
        self._counters = _Counters()
        self._last_reconcile = 0.0
        self._reported_pending: int | None = None

    @property
    def library(self) -> Library:
        if self._library is None:
            raise RuntimeError("the service is not running")
        return self._library

    @property
    def watcher(self) -> Watcher:
        if self._watcher is None:
            raise RuntimeError("the service is not running")
        return self._watcher

    @property
    def reclustering(self) -> bool:
        """A background recluster is running, or finished and not yet taken in."""
        return self._recluster is not None

    # signals

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        self.stop()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload()

    def stop(self) -> None:
        self._stop.set()

    def reload(self) -> None:
        """Read the config file again at the next step."""
        self._reload.set()

    # main loop

    def run(self) -> int:
        """Run until stopped; returns the exit status."""
        with self.running():
            while not self._stop.is_set():
                self.step()
        log.info("stopped")
        return 0

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Hold the library, catch up and watch; on leaving, let a recluster finish."""
        with self._lock:
            self._library = self._open_library(self.config)
            try:
                self._last_reconcile = self._clock()
                self._catch_up()
                self._watcher = self._start_watcher()
                try:
                    self.notifier.ready(f"watching {len(self.config.library.folders)} folders")
                    log.info("watching %s", ", ".join(map(str, self.config.library.folders)))
                    yield
                finally:
                    self.watcher.stop()
                    self.notifier.stopping()
                    self._wait_for_recluster()
                    self._write_status(running=False)
            finally:
                self.library.close()
                self._library = None

    def step(self) -> None:
        """One turn: file what settled, then see to a reload, reclusters and rescans."""
        changes = self.watcher.changes(timeout=POLL_SECONDS)
        if changes:
            self._apply(changes)
        if self._reload.is_set():
            self._reload.clear()
            self._reload_config()
        if self._recluster_done.is_set():
            self._recluster_done.clear()
            self._recluster = None
            self._take_in_recluster()
        self._maybe_reconcile()
        self._maybe_recluster()
        if self.watcher.pending != self._reported_pending:  # a copy in progress shows at once
            self._write_status(running=True)
        self.notifier.watchdog()

    def _catch_up(self) -> None:
        self.notifier.status("indexing what changed while stopped")
        report = self.library.index_files()
        last = self.library.catalog.last_run("recluster")
        self._counters.images_at_recluster = last.images if last else 0
        log.info(
            "caught up: %d files, %d embedded, %d moved or duplicate, %d missing, %d failed",
            report.found, report.embedded, report.relinked, report.missing, len(report.failed),
        )  # fmt: skip
        self._counters.arrivals_since_recluster += report.embedded

    def _start_watcher(self) -> Watcher:
        watcher = self._watch(self.config)
        watcher.start()
        return watcher

    def _apply(self, changes: Sequence[Change]) -> None:
        present, gone = split_changes(changes)
        report = self.library.ingest(present, gone)
        self._counters.batches += 1
        if report.embedded or report.relinked or report.missing:
            self._counters.arrivals_since_recluster += report.embedded
            if self._counters.first_change_at is None:
                self._counters.first_change_at = self._clock()
        log.info(
            "batch: %d changes, %d embedded, %d moved or duplicate, %d gone, %d failed (%.2f s)",
            len(changes), report.embedded, report.relinked, report.missing, len(report.failed),
            report.seconds,
        )  # fmt: skip
        for failure in report.failed:
            log.warning("skipping %s: %s", failure.path, failure.reason)
        self._write_status(running=True)
        self.notifier.status(f"{self._counters.batches} batches filed")

    def _maybe_reconcile(self) -> None:
        interval = self.config.watch.reconcile_minutes * 60
        if interval and self._clock() - self._last_reconcile >= interval:
            self._last_reconcile = self._clock()
            report = self.library.index_files()
            if report.embedded or report.relinked or report.missing:
                log.info("reconciliation scan caught %d changes missed by events",
                         report.embedded + report.relinked + report.missing)  # fmt: skip

    def _maybe_recluster(self) -> None:
        if self._recluster is not None:
            return
        if not self._counters.recluster_due(self.config.recluster, self._clock()):
            return
        self._counters.arrivals_since_recluster = 0
        self._counters.first_change_at = None
        self._recluster = threading.Thread(
            target=self._recluster_in_background, name="recluster", daemon=True
        )
        self._recluster.start()

    def _recluster_in_background(self) -> None:
        try:
            with self._open_library(self.config, load_index=False) as library:
                report = library.recluster(write=False)
            self._counters.images_at_recluster = report.images
            log.info("reclustered %d images into %d albums in %.1f s",
                     report.images, report.albums, report.seconds)  # fmt: skip
        except Exception:
            log.exception("recluster failed; albums stay as they are")
        finally:
            self._recluster_done.set()

    def _take_in_recluster(self) -> None:
        """Place what arrived while reclustering, then swap the new albums in whole."""
        self.library.assign_new()
        self.library.write_tree(rebuild=True)

    def _wait_for_recluster(self) -> None:
        if self._recluster is not None:
            self._recluster.join()
            self._recluster = None
            self._recluster_done.clear()
            self._take_in_recluster()

    def _reload_config(self) -> None:
        source = self.config.source
        if source is None:
            log.error("not reloading: the config was not read from a file")
            return
        try:
            config = load_config(source)
        except ConfigError as error:
            log.error("not reloading: the new config has mistakes, keeping the old one:\n%s", error)
            return
        if config.library.state != self.config.library.state:
            log.error("not reloading: library.state cannot change while running; restart instead")
            return
        log.info("reloaded %s", source)
        self.config = config
        self.watcher.stop()
        # A library is made for one config: open it afresh rather than change it under it.
        old, self._library = self.library, self._open_library(config)
        old.close()
        self._watcher = self._start_watcher()
        self.library.index_files()

    def _write_status(self, running: bool) -> None:
        pending = self._watcher.pending if running and self._watcher else 0
        self._reported_pending = pending
        status = {
            "pid": os.getpid(),
            "running": running,
            "started": self._counters.started_at,
            "updated": time.time(),
            "pending": pending,
            "batches": self._counters.batches,
            "arrivals_since_recluster": self._counters.arrivals_since_recluster,
            "polling": bool(self._watcher and self._watcher.polling),
        }
        write_text_atomically(self.config.library.state / STATUS_NAME, json.dumps(status, indent=2))


def folder_watcher(config: Config) -> FolderWatcher:
    """The watcher over the library's folders, leaving out the albums and the state."""
    library, watch = config.library, config.watch
    return FolderWatcher(
        library.folders,
        exclude=[library.albums, library.state],
        polling=watch.observer.value == "polling",
        poll_seconds=watch.poll_seconds,
        settle_seconds=watch.settle_seconds,
        follow_symlinks=library.follow_symlinks,
    )


def build_service(config: Config, embedder_factory: Callable[[], Embedder]) -> Service:
    """The daemon for `config` with its real collaborators. The model loads once, with the
    first library (after the lock is taken): arrivals must be fast."""
    model = functools.cache(embedder_factory)

    def open_library(config: Config, *, load_index: bool = True) -> Library:
        model()
        return Library(config, model, load_index=load_index)

    return Service(
        config,
        open_library=open_library,
        watch=folder_watcher,
        lock=LibraryLock(config.library.state),
        notifier=Notifier(),
    )
