"""The daemon's search index, brought up to date in a process of its own at idle priority.

Building the index of a million photos takes half a minute of both cores and 700 MB. In a
thread of the daemon it held the GIL from arrivals (a single arrival took 1.7 s instead of 0.6
during a build at 100,000 photos) and left the daemon that much bigger; a child process
(multiprocessing's spawn: a fresh interpreter, no copy of the daemon's state) shares neither,
runs at SCHED_IDLE so that arrivals and other programs go first, and gives its memory back when
it ends. A child cut off by a stop leaves the index file as it was: the next start finds it
due again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.process import BaseProcess
from pathlib import Path

from autoalbum.library.search_index import refresh_search_index

log = logging.getLogger(__name__)


def idle_priority() -> None:
    """Run every thread of this process, and those it starts later, only when nothing else of
    the machine's wants the CPU (Linux's SCHED_IDLE, set thread by thread: numpy's BLAS threads
    started when it was imported). Where that can't be set, the process stays as it is."""
    try:
        for task in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(task), os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as error:
        log.debug("the search index keeps its priority: %s", error)


def _refresh(state: Path) -> None:
    """The child's work (its errors end it with a traceback on stderr, the journal's)."""
    idle_priority()
    refresh_search_index(state)


def _policies() -> list[int]:
    """The scheduling policy of each thread of this process (for the tests)."""
    return [os.sched_getscheduler(int(task)) for task in os.listdir("/proc/self/task")]


class IndexRefresh:
    """At most one child at a time bringing a library's search index up to date."""

    def __init__(self) -> None:
        self._child: BaseProcess | None = None

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.is_alive()

    def start(self, state: Path) -> None:
        """A child for the library in `state`."""
        log.info("bringing the search index up to date in the background")
        child = multiprocessing.get_context("spawn").Process(
            target=_refresh, args=(state,), name="autoalbum-search-index", daemon=True
        )
        child.start()
        self._child = child

    def collect(self) -> None:
        """A child that ended since the last call, logged as done or failed."""
        child = self._child
        if child is None or child.is_alive():
            return
        child.join()
        self._child = None
        if child.exitcode == 0:
            log.info("brought the search index up to date")
        else:
            log.warning("could not bring the search index up to date (exit status %s, its "
                        "error above); trying again later", child.exitcode)  # fmt: skip
