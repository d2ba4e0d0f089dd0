"""When the daemon reclusters, and the recluster itself, on a thread of its own.

A recluster reads every vector (as codes, decoded a chunk at a time), so it runs beside the
main loop on its own library (its own catalog connection) while arrivals keep flowing; the main
loop takes its albums in when it is done. Stopping never waits for one: it is called off, and
since it commits only at its very end, a called-off or killed recluster leaves the catalog as
it was.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from threadpoolctl import threadpool_limits

from autoalbum.config import Config, ReclusterConfig
from autoalbum.faults import refused_write
from autoalbum.library.library import Cancelled, Library
from autoalbum.service.backlog import SAMPLE

log = logging.getLogger(__name__)

# A young library reclusters whenever it has doubled (and has at least this many new photos):
# albums formed from the first five photos of a card say little about the two hundred after.
GROWTH_MINIMUM = 10
STOP_WAIT_SECONDS = 1.0  # how long stopping lets a called-off recluster wind down


class OpenLibrary(Protocol):
    """Opens the library a config describes; the caller closes it."""

    def __call__(self, config: Config) -> Library: ...


@dataclass
class Growth:
    """What the recluster policy counts."""

    arrivals_since_recluster: int = 0
    images_at_recluster: int = 0
    first_change_at: float | None = None

    def due(self, policy: ReclusterConfig, now: float, *, catching_up: bool) -> bool:
        """After enough new photos (fewer while the library is young), or long enough after
        the first change since the last recluster. During a catch-up only growth counts: the
        library doubles often early on, and the albums should follow, but reclustering every
        `after_new_images` photos of a big backlog would spend the time the backlog needs."""
        doubled = max(GROWTH_MINIMUM, self.images_at_recluster)
        threshold = doubled if catching_up else min(policy.after_new_images, doubled)
        due_by_count = self.arrivals_since_recluster >= threshold
        due_by_time = (
            not catching_up
            and self.first_change_at is not None
            and now - self.first_change_at >= policy.after_minutes * 60
        )
        return due_by_count or due_by_time


class Reclusterer:
    """Runs one background recluster at a time and says when its albums are ready."""

    def __init__(self, open_library: OpenLibrary, growth: Growth) -> None:
        self._open_library = open_library
        self._growth = growth
        self._thread: threading.Thread | None = None
        self.left_behind = False  # a called-off recluster was still running when let go
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._counted = 0  # the arrivals that made the running recluster due
        self._refusal: Exception | None = None  # why it could not commit: a full disk, say

    @property
    def running(self) -> bool:
        """A recluster is running, or finished and not yet taken in."""
        return self._thread is not None

    def maybe_start(
        self, config: Config, now: float, *, catching_up: bool, has_albums: bool, idle: bool
    ) -> None:
        """Start a recluster when the policy says so. The first albums come from the opening
        sample of a catch-up, or else from all that arrived once nothing more is coming in
        (`idle`): clustering the first two photos of a card of six makes one album, and the
        other four are too far from it."""
        growth = self._growth
        if self.running:
            return
        if not has_albums:
            ready = growth.arrivals_since_recluster >= SAMPLE if catching_up else idle
            if not ready or not growth.arrivals_since_recluster:
                return
        elif not growth.due(config.recluster, now, catching_up=catching_up):
            return
        self.start(config)

    def start(self, config: Config) -> None:
        """Start a recluster now (unless one is running)."""
        if self.running:
            return
        self._counted = self._growth.arrivals_since_recluster
        self._growth.arrivals_since_recluster = 0
        self._growth.first_change_at = None
        self._refusal = None
        self._done.clear()
        self._cancel.clear()
        self._thread = threading.Thread(
            target=self._run, args=(config,), name="recluster", daemon=True
        )
        self._thread.start()

    def finished(self) -> bool:
        """True once, when a recluster has ended (well or not) and its albums can be taken in."""
        if self._thread is None or not self._done.is_set():
            return False
        self._thread.join()
        self._thread = None
        return True

    def take_refusal(self) -> Exception | None:
        """The refused write (faults.py) that kept the last recluster from committing, once;
        the arrivals it counted then count towards the next one again."""
        refused, self._refusal = self._refusal, None
        if refused is not None:
            self._growth.arrivals_since_recluster += self._counted
        return refused

    def call_off(self) -> None:
        """Stop waiting for a running recluster: it will commit nothing."""
        if self._thread is None:
            return
        self._cancel.set()
        self._thread.join(STOP_WAIT_SECONDS)
        self.left_behind = self._thread.is_alive()
        if self.left_behind:
            log.info("left an unfinished recluster behind; the albums stay as they were")
        self._thread = None

    def _run(self, config: Config) -> None:
        try:
            # One BLAS thread: a recluster shares the CPU with embedding, and oversubscribed
            # OpenBLAS threads spin; on a busy 2-core machine one 600-photo clustering took
            # 6-14 s with two of them and 0.25 s with one.
            with (
                threadpool_limits(limits=1, user_api="blas"),
                self._open_library(config) as library,
            ):
                report = library.recluster(write=False, cancelled=self._cancel.is_set)
            self._growth.images_at_recluster = report.images
            log.info("reclustered %d images into %d albums in %.1f s",
                     report.images, report.albums, report.seconds)  # fmt: skip
        except Cancelled:
            log.info("recluster called off")
        except Exception as error:
            if not refused_write(error):
                log.exception("recluster failed; albums stay as they are")
            else:
                log.info("recluster could not commit (%s); albums stay as they are", error)
                self._refusal = error
        finally:
            self._done.set()
