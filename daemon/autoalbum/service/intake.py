"""The daemon's intake: photos from the backlog into the library, a chunk at a time, and the
album tree kept current at a pace that suits arrivals and catch-ups alike.

The start's scan of a library with albums (a walk and a stat per file: some 40 s at a million
photos) runs on a thread of its own (`StartScan`), so that photos arriving meanwhile are taken
in at once rather than after it; its finds are queued when it is done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from autoalbum.library.library import BacklogScan, Found, Library
from autoalbum.service.backlog import Backlog
from autoalbum.service.reclusters import Growth

log = logging.getLogger(__name__)

# During a catch-up, the album tree is brought up to date this often; during a stream of
# arrivals (each batch's albums at once), the People and Events trees.
TREE_SECONDS = 10.0
# A start's scan done within this is waited for: a small library starts as it did before its
# scan had a thread (its finds queued before any arrival), and an arrival waits at most this.
SCAN_WAIT_SECONDS = 1.0
STOP_WAIT_SECONDS = 1.0  # how long stopping waits for a called-off scan to wind down


class _CalledOff(Exception):
    """The start's scan was called off."""


class StartScan:
    """A `BacklogScan` on a thread of its own; a daemon thread, so that one still walking a
    big folder when called off keeps no process alive (it only reads)."""

    def __init__(self, scan: BacklogScan) -> None:
        self._scan = scan
        self._found: Found | None = None
        self._error: Exception | None = None
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="start scan", daemon=True)
        self._thread.start()

    def result(self, wait: float = 0.0) -> Found | None:
        """The scan's finds, once it is done (waiting up to `wait` s); None before. Raises
        what ended it early."""
        if not self._done.wait(wait):
            return None
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._found

    def call_off(self) -> None:
        """Stop the scan at its next tick (a folder, a chunk of stats)."""
        self._stop.set()
        self._thread.join(STOP_WAIT_SECONDS)

    def _run(self) -> None:
        try:
            self._found = self._scan(self._tick)
        except _CalledOff:
            pass
        except Exception as error:  # raised on the library's thread, which takes the result
            self._error = error
        finally:
            self._done.set()

    def _tick(self) -> None:
        if self._stop.is_set():
            raise _CalledOff


class Intake:
    """Takes photos in: arrivals reach the album tree at once, a catch-up's chunks every
    TREE_SECONDS (and when it ends); every embedded batch tells `heartbeat` it is alive."""

    def __init__(
        self,
        library: Library,
        backlog: Backlog,
        growth: Growth,
        *,
        clock: Callable[[], float],
        heartbeat: Callable[[], None],
    ) -> None:
        self.library = library  # replaced by the service on a config reload
        self.backlog = backlog
        self.growth = growth
        self.batches = 0
        self._clock = clock
        self._heartbeat = heartbeat
        self._tree_written = 0.0
        self._views_written = 0.0  # when the People and Events trees were last written
        self._tree_stale = False
        self._start_scan: StartScan | None = None

    @property
    def scanning(self) -> bool:
        """The start's scan is running on its thread (`start`): `scanned` takes its finds."""
        return self._start_scan is not None

    def start(self) -> bool:
        """Queue what changed while the daemon was stopped (everything, on a first start) and
        bring the album tree in line with the catalog, whatever a crash left; whether that is
        done. A library with albums is scanned on a thread (`StartScan`) while arrivals are
        taken in, and `scanned` finishes the start; a first start scans here, as the first
        albums come from its opening sample, which arrivals would only wait for anyway."""
        last = self.library.catalog.last_run("recluster")
        self.growth.images_at_recluster = last.images if last else 0
        if self.library.catalog.has_centres():
            self.backlog.scan_begins()
            self._start_scan = StartScan(self.library.backlog_scan())
            return self.scanned(wait=SCAN_WAIT_SECONDS)
        found, vanished = self.scan(sample_first=True)
        self._caught_up(found, vanished)
        # photos a crash left before the first albums count towards them
        self.growth.arrivals_since_recluster = len(self.library.catalog.unassigned_ids())
        return True

    def scanned(self, wait: float = 0.0) -> bool:
        """Whether the start's scan is done (waiting up to `wait` s), its finds queued and the
        start finished. Raises what ended the scan early; `start` again then."""
        if self._start_scan is None:
            return True
        try:
            found = self._start_scan.result(wait)
        except Exception:
            self._start_scan = None
            raise
        if found is None:
            return False
        self._start_scan = None
        changed, vanished = self.library.take_backlog(found)
        self.backlog.catch_up(changed, sample_first=False)
        self._caught_up(changed, self.backlog.scan_found_gone(vanished))
        return True

    def call_off(self) -> None:
        """Stopping: the start's scan, if running, is called off."""
        if self._start_scan is not None:
            self._start_scan.call_off()
            self._start_scan = None

    def _caught_up(self, found: Sequence[Path], vanished: Sequence[Path]) -> None:
        """After the start's scan: the photos gone recorded, those a crash left unfiled
        filed, and the album tree brought in line."""
        self.take_departures()
        self.library.assign_new(cluster_first=False)
        self.write_tree()
        log.info("%d photos to take in, %d gone since the last run", len(found), len(vanished))

    def scan(self, *, sample_first: bool = False) -> tuple[list[Path], list[Path]]:
        """Queue what the folders hold that the catalog does not, and what is gone."""
        found, vanished = self.library.backlog(self._heartbeat)
        self.backlog.catch_up(found, sample_first=sample_first)
        self.backlog.depart(vanished)
        return found, vanished

    def take_departures(self) -> None:
        """Record the photos gone since the last look; should that fail (a full disk), they
        stay queued."""
        gone = self.backlog.departures
        if gone:
            self.ingest([], gone, live=True)
            self.backlog.recorded(gone)

    def take_chunk(self, *, first: bool) -> None:
        """The next chunk of the backlog; `first`: the opening sample of a first start. Should
        taking it in fail (a full disk), it goes back to the front of the queue."""
        chunk, live = self.backlog.take(first=first)
        try:
            self.ingest(chunk, [], live=live)
        except Exception:
            self.backlog.put_back(chunk, live=live)
            raise

    def ingest(self, present: Sequence[Path], gone: Sequence[Path], *, live: bool) -> None:
        """Index photos that came or changed and record those that went; file them."""
        report = self.library.ingest(
            present, gone, lambda total: lambda n: self._heartbeat(),
            write_tree=live, views=False, cluster_first=False,
        )  # fmt: skip
        self.batches += 1
        if report.changed:
            self.growth.arrivals_since_recluster += report.embedded
            if self.growth.first_change_at is None:
                self.growth.first_change_at = self._clock()
            self._tree_stale = self._tree_stale or not live
        if not live and self._clock() - self._tree_written >= TREE_SECONDS:
            self.write_tree()
        elif live and self._clock() - self._views_written >= TREE_SECONDS:
            self.write_views()  # else the idle step writes them, once the arrivals are in
        log.info(
            "%s: %d files, %d embedded, %d moved or duplicate, %d gone, %d failed (%.2f s)",
            "batch" if live else "catch-up", len(present) + len(gone), report.embedded,
            report.relinked, report.missing, len(report.failed), report.seconds,
        )  # fmt: skip
        for failure in report.failed:
            log.warning("skipping %s: %s", failure.path, failure.reason)

    def write_tree(self, *, rebuild: bool = False) -> None:
        self.library.write_tree(rebuild=rebuild, tick=self._heartbeat)
        self._tree_written = self._views_written = self._clock()
        self._tree_stale = False

    def write_views(self) -> None:
        """The People and Events trees brought up to date, if arrivals left them behind."""
        if self.library.write_views():
            self._views_written = self._clock()

    def settle(self) -> None:
        """With nothing left to take in: the album tree brought up to date if a catch-up left
        it behind."""
        if self._tree_stale:
            self.write_tree()
