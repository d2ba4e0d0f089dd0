"""The daemon's intake: photos from the backlog into the library, a chunk at a time, and the
album tree kept current at a pace that suits arrivals and catch-ups alike."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from autoalbum.library.library import Library
from autoalbum.service.backlog import Backlog
from autoalbum.service.reclusters import Growth

log = logging.getLogger(__name__)

TREE_SECONDS = 10.0  # during a catch-up, the album tree is brought up to date this often


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
        self._tree_stale = False

    def start(self) -> None:
        """Queue what changed while the daemon was stopped (everything, on a first start) and
        bring the album tree in line with the catalog, whatever a crash left."""
        first = not self.library.catalog.has_centres()
        found, vanished = self.scan(sample_first=first)
        self.take_departures()
        self.library.assign_new(cluster_first=False)
        self.write_tree()
        last = self.library.catalog.last_run("recluster")
        self.growth.images_at_recluster = last.images if last else 0
        if first:  # photos a crash left before the first albums count towards them
            self.growth.arrivals_since_recluster = len(self.library.catalog.unassigned_ids())
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
            write_tree=live, cluster_first=False,
        )  # fmt: skip
        self.batches += 1
        if report.changed:
            self.growth.arrivals_since_recluster += report.embedded
            if self.growth.first_change_at is None:
                self.growth.first_change_at = self._clock()
            self._tree_stale = self._tree_stale or not live
        if not live and self._clock() - self._tree_written >= TREE_SECONDS:
            self.write_tree()
        log.info(
            "%s: %d files, %d embedded, %d moved or duplicate, %d gone, %d failed (%.2f s)",
            "batch" if live else "catch-up", len(present) + len(gone), report.embedded,
            report.relinked, report.missing, len(report.failed), report.seconds,
        )  # fmt: skip
        for failure in report.failed:
            log.warning("skipping %s: %s", failure.path, failure.reason)

    def write_tree(self, *, rebuild: bool = False) -> None:
        self.library.write_tree(rebuild=rebuild, tick=self._heartbeat)
        self._tree_written = self._clock()
        self._tree_stale = False

    def settle(self) -> None:
        """With nothing left to take in: the album tree brought up to date if a catch-up left
        it behind."""
        if self._tree_stale:
            self.write_tree()
