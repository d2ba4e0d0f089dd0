"""The daemon: watch the folders, catch up, file arrivals into albums, recluster now and then.

One thread owns the library and takes photos in a chunk at a time, arrivals before the
catch-up (backlog.py); reclustering runs beside it (reclusters.py). Signals only set flags:
SIGTERM/SIGINT finish the current chunk and exit, SIGHUP reloads the config. `build_service`
(build.py) makes the collaborators; `Service` holds the policies: when to take in what, when
to recluster, when to rescan, how to reload, what to report.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

from autoalbum.config import Config, ConfigError, load_config
from autoalbum.library.library import Library
from autoalbum.library.lock import LibraryLock
from autoalbum.service.backlog import SAMPLE, Backlog
from autoalbum.service.notify import Notifier
from autoalbum.service.reclusters import Growth, OpenLibrary, Reclusterer
from autoalbum.service.settler import Change, ChangeKind
from autoalbum.service.status import STATUS_NAME, StatusBoard

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
TREE_SECONDS = 10.0  # during a catch-up, the album tree is brought up to date this often
INDEX_SAVE_SECONDS = 120.0  # and the vector index saved this often (the catalog has it all)


class Watcher(Protocol):
    """What the service needs of a `FolderWatcher`."""

    @property
    def polling(self) -> bool: ...

    @property
    def pending(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def changes(self, timeout: float) -> list[Change]: ...


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

    `run()` is `running()` plus `step()` until `stop()`; tests drive the two directly. READY
    goes to systemd as soon as the library is open; catching up is then work of the loop, a
    chunk per step, so the watchdog hears from every step and a stop waits for one chunk.
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
        self._growth = Growth()
        self._reclusterer = Reclusterer(open_library, self._growth)
        self._backlog = Backlog(clock)
        self._batches = 0
        self._last_reconcile = 0.0
        self._tree_written = 0.0
        self._tree_stale = False
        self._index_saved = 0.0
        self._board = StatusBoard(config.library.state / STATUS_NAME, notifier)

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
        return self._reclusterer.running

    @property
    def backlog(self) -> int:
        """Photos found or arrived and not yet taken in."""
        return len(self._backlog)

    # signals

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current chunk", signal.Signals(signum).name)
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
        """Hold the library and watch; ready at once, the catch-up comes in the steps. On
        leaving, a running recluster is called off and the album tree brought up to date."""
        with self._lock:
            self._library = self._open_library(self.config)
            try:
                self._watcher = self._start_watcher()
                try:
                    self.notifier.ready(f"watching {len(self.config.library.folders)} folders")
                    self._start_catch_up()
                    log.info("watching %s", ", ".join(map(str, self.config.library.folders)))
                    yield
                finally:
                    self.watcher.stop()
                    self.notifier.stopping()
                    self._reclusterer.call_off()
                    self._write_tree()
                    self._report(running=False)
            finally:
                self.library.close()
                self._library = None

    def step(self) -> None:
        """One turn: take what settled, see to a reload, reclusters and rescans, then take in
        one chunk of photos (arrivals first)."""
        changes = self.watcher.changes(timeout=0.0 if self._backlog else POLL_SECONDS)
        if changes:
            self._queue(changes)
        if self._reload.is_set():
            self._reload.clear()
            self._reload_config()
        if self._reclusterer.finished():
            self._take_in_recluster()
            self._heartbeat()
        self._maybe_reconcile()
        if self._backlog:
            self._take_chunk()
        elif self._tree_stale:
            self._write_tree()
            self.library.save_index()
        self._heartbeat()
        self._maybe_recluster()
        self._maybe_save_index()
        self._report()
        self.notifier.watchdog()

    def _heartbeat(self) -> None:
        self.notifier.watchdog()

    def _start_catch_up(self) -> None:
        """Find what changed while the daemon was stopped (everything, on a first start) and
        queue it; bring the album tree in line with the catalog, whatever a crash left."""
        self.notifier.status("loading the model")
        # Once, now, so that the first arrival need not wait for it.
        log.debug("model ready: %d-px input", self.library.embedder.input_size)
        self._heartbeat()
        self.notifier.status("scanning the folders")
        first = not self.library.catalog.has_centres()
        found, vanished = self._scan(sample_first=first)
        self.library.assign_new(cluster_first=False)
        self._write_tree()
        last = self.library.catalog.last_run("recluster")
        self._growth.images_at_recluster = last.images if last else 0
        if first:  # photos a crash left before the first albums count towards them
            self._growth.arrivals_since_recluster = len(self.library.catalog.unassigned_ids())
        self._last_reconcile = self._clock()
        log.info("%d photos to take in, %d gone since the last run", len(found), len(vanished))

    def _start_watcher(self) -> Watcher:
        watcher = self._watch(self.config)
        watcher.start()
        return watcher

    def _queue(self, changes: Sequence[Change]) -> None:
        """Arrivals join the front of the backlog; deletions are recorded at once."""
        present, gone = split_changes(changes)
        self._backlog.arrive(present)
        if gone:
            self._backlog.forget(gone)
            self._ingest([], gone, live=True)

    def _take_chunk(self) -> None:
        first = not self.reclustering and not self.library.catalog.has_centres()
        chunk, live = self._backlog.take(first=first)
        self._ingest(chunk, [], live=live)

    def _ingest(self, present: Sequence[Path], gone: Sequence[Path], *, live: bool) -> None:
        """Index a chunk and file it; arrivals reach the album tree at once, a catch-up's
        chunks every TREE_SECONDS (and when it ends)."""
        report = self.library.ingest(
            present, gone, lambda total: lambda n: self._heartbeat(),
            write_tree=live, cluster_first=False,
        )  # fmt: skip
        self._batches += 1
        if report.changed:
            self._growth.arrivals_since_recluster += report.embedded
            if self._growth.first_change_at is None:
                self._growth.first_change_at = self._clock()
            self._tree_stale = self._tree_stale or not live
        if not live and self._clock() - self._tree_written >= TREE_SECONDS:
            self._write_tree()
        log.info(
            "%s: %d files, %d embedded, %d moved or duplicate, %d gone, %d failed (%.2f s)",
            "batch" if live else "catch-up", len(present) + len(gone), report.embedded,
            report.relinked, report.missing, len(report.failed), report.seconds,
        )  # fmt: skip
        for failure in report.failed:
            log.warning("skipping %s: %s", failure.path, failure.reason)

    def _write_tree(self) -> None:
        self.library.write_tree()
        self._tree_written = self._clock()
        self._tree_stale = False

    def _maybe_save_index(self) -> None:
        if self._clock() - self._index_saved >= INDEX_SAVE_SECONDS:
            self.library.save_index()
            self._index_saved = self._clock()

    def _scan(self, *, sample_first: bool = False) -> tuple[list[Path], list[Path]]:
        """Queue what the folders hold that the catalog does not; record what is gone."""
        found, vanished = self.library.backlog(self._heartbeat)
        self._backlog.catch_up(found, sample_first=sample_first)
        if vanished:
            self._ingest([], vanished, live=True)
        return found, vanished

    def _maybe_reconcile(self) -> None:
        interval = self.config.watch.reconcile_minutes * 60
        if interval and self._clock() - self._last_reconcile >= interval:
            self._last_reconcile = self._clock()
            found, vanished = self._scan()
            if found or vanished:
                log.info("reconciliation scan caught %d changes missed by events",
                         len(found) + len(vanished))  # fmt: skip

    def _maybe_recluster(self) -> None:
        """Recluster in the background when the policy says so; the first albums come from the
        opening sample of a catch-up, or from what arrived when there is none."""
        if self._reclusterer.running:
            return
        catching_up = self._backlog.progress is not None
        growth = self._growth
        if not self.library.catalog.has_centres():
            if growth.arrivals_since_recluster < (SAMPLE if catching_up else 1):
                return
        elif not growth.due(self.config.recluster, self._clock(), catching_up=catching_up):
            return
        self._growth.arrivals_since_recluster = 0
        self._growth.first_change_at = None
        self._reclusterer.start(self.config)

    def _take_in_recluster(self) -> None:
        """Place what arrived while reclustering, then swap the new albums in whole."""
        self.library.assign_new()
        self.library.write_tree(rebuild=True)
        self._tree_written = self._clock()
        self._tree_stale = False

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
        self._scan()

    def _report(self, *, running: bool = True) -> None:
        """daemon.json and systemd's STATUS=, when what they say has changed."""
        watcher = self._watcher
        self._board.show(
            running=running,
            waiting=(watcher.pending if running and watcher else 0) + len(self._backlog),
            batches=self._batches,
            catch_up=self._backlog.progress if running else None,
            arrivals_since_recluster=self._growth.arrivals_since_recluster,
            polling=bool(watcher and watcher.polling),
        )
