"""The daemon: catch up, watch the folders, file arrivals into albums, recluster now and then.

One thread owns the library and applies changes in batches; reclustering runs in a second
thread on its own catalog connection so arrivals keep flowing. Signals only set flags:
SIGTERM/SIGINT finish the current batch and exit, SIGHUP reloads the config.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from autoalbum.config import Config, ConfigError, load_config
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


@dataclass
class _Counters:
    arrivals_since_recluster: int = 0
    images_at_recluster: int = 0
    first_change_at: float | None = None
    batches: int = 0
    started_at: float = field(default_factory=time.time)


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
    """`autoalbum run`: keeps one library's albums current until told to stop."""

    def __init__(
        self, config_path: Path, config: Config, embedder_factory: Callable[[], Embedder]
    ) -> None:
        self.config_path = config_path
        self.config = config
        self.embedder_factory = embedder_factory
        self.notifier = Notifier()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._recluster: threading.Thread | None = None
        self._recluster_done = threading.Event()
        self._counters = _Counters()
        self._last_reconcile = time.monotonic()
        self._watcher: FolderWatcher | None = None

    # signals

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        self.stop()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload.set()

    def stop(self) -> None:
        self._stop.set()

    # main loop

    def run(self) -> int:
        """Run until stopped; returns the exit status."""
        with LibraryLock(self.config.library.state):
            embedder = self.embedder_factory()  # load once, up front: arrivals must be fast
            with Library(self.config, lambda: embedder) as library:
                self._catch_up(library)
                try:
                    self._watch(library, embedder)
                finally:
                    self.notifier.stopping()
                    self._wait_for_recluster(library)
                    self._write_status(library, pending=0, running=False)
        log.info("stopped")
        return 0

    def _catch_up(self, library: Library) -> None:
        self.notifier.status("indexing what changed while stopped")
        report = library.index_files()
        last = library.catalog.last_run("recluster")
        self._counters.images_at_recluster = last.images if last else 0
        log.info(
            "caught up: %d files, %d embedded, %d moved or duplicate, %d missing, %d failed",
            report.found, report.embedded, report.relinked, report.missing, len(report.failed),
        )  # fmt: skip
        self._counters.arrivals_since_recluster += report.embedded

    def _new_watcher(self) -> FolderWatcher:
        library, watch = self.config.library, self.config.watch
        return FolderWatcher(
            library.folders,
            exclude=[library.albums, library.state],
            polling=watch.observer.value == "polling",
            poll_seconds=watch.poll_seconds,
            settle_seconds=watch.settle_seconds,
            follow_symlinks=library.follow_symlinks,
        )

    def _watch(self, library: Library, embedder: Embedder) -> None:
        self._watcher = self._new_watcher()
        self._watcher.start()
        try:
            self.notifier.ready(f"watching {len(self.config.library.folders)} folders")
            log.info("watching %s", ", ".join(map(str, self.config.library.folders)))
            while not self._stop.is_set():
                self._step(library, embedder)
        finally:
            self._watcher.stop()

    def _step(self, library: Library, embedder: Embedder) -> None:
        assert self._watcher is not None
        changes = self._watcher.changes(timeout=POLL_SECONDS)
        if changes:
            self._apply(library, changes)
        if self._reload.is_set():
            self._reload.clear()
            self._reload_config(library, embedder)
        if self._recluster_done.is_set():
            self._recluster_done.clear()
            self._recluster = None
            library.assign_new()
            library.write_tree(rebuild=True)
        self._maybe_reconcile(library)
        self._maybe_recluster()
        self.notifier.watchdog()

    def _apply(self, library: Library, changes: Sequence[Change]) -> None:
        present, gone = split_changes(changes)
        report = library.ingest(present, gone)
        self._counters.batches += 1
        if report.embedded or report.relinked or report.missing:
            self._counters.arrivals_since_recluster += report.embedded
            if self._counters.first_change_at is None:
                self._counters.first_change_at = time.monotonic()
        log.info(
            "batch: %d changes, %d embedded, %d moved or duplicate, %d gone, %d failed (%.2f s)",
            len(changes), report.embedded, report.relinked, report.missing, len(report.failed),
            report.seconds,
        )  # fmt: skip
        for failure in report.failed:
            log.warning("skipping %s: %s", failure.path, failure.reason)
        self._write_status(library, pending=0, running=True)
        self.notifier.status(f"{self._counters.batches} batches filed")

    def _maybe_reconcile(self, library: Library) -> None:
        interval = self.config.watch.reconcile_minutes * 60
        if interval and time.monotonic() - self._last_reconcile >= interval:
            self._last_reconcile = time.monotonic()
            report = library.index_files()
            if report.embedded or report.relinked or report.missing:
                log.info("reconciliation scan caught %d changes missed by events",
                         report.embedded + report.relinked + report.missing)  # fmt: skip

    def _maybe_recluster(self) -> None:
        if self._recluster is not None:
            return
        policy = self.config.recluster
        counters = self._counters
        due_by_count = counters.arrivals_since_recluster >= min(
            policy.after_new_images, max(GROWTH_MINIMUM, counters.images_at_recluster)
        )
        due_by_time = (
            counters.first_change_at is not None
            and time.monotonic() - counters.first_change_at >= policy.after_minutes * 60
        )
        if not (due_by_count or due_by_time):
            return
        counters.arrivals_since_recluster = 0
        counters.first_change_at = None
        self._recluster = threading.Thread(
            target=self._recluster_in_background, name="recluster", daemon=True
        )
        self._recluster.start()

    def _recluster_in_background(self) -> None:
        try:
            with Library(self.config, self.embedder_factory, load_index=False) as library:
                report = library.recluster(write=False)
            self._counters.images_at_recluster = report.images
            log.info("reclustered %d images into %d albums in %.1f s",
                     report.images, report.albums, report.seconds)  # fmt: skip
        except Exception:
            log.exception("recluster failed; albums stay as they are")
        finally:
            self._recluster_done.set()

    def _wait_for_recluster(self, library: Library) -> None:
        if self._recluster is not None:
            self._recluster.join()
            library.assign_new()
            library.write_tree(rebuild=True)

    def _reload_config(self, library: Library, embedder: Embedder) -> None:
        try:
            config = load_config(self.config_path)
        except ConfigError as error:
            log.error("not reloading: the new config has mistakes, keeping the old one:\n%s", error)
            return
        if config.library.state != self.config.library.state:
            log.error("not reloading: library.state cannot change while running; restart instead")
            return
        log.info("reloaded %s", self.config_path)
        self.config = config
        library.config = config
        assert self._watcher is not None
        self._watcher.stop()
        self._watcher = self._new_watcher()
        self._watcher.start()
        library.index_files()

    def _write_status(self, library: Library, pending: int, running: bool) -> None:
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
        path = self.config.library.state / STATUS_NAME
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(status, indent=2))
        os.replace(temp, path)
