"""The daemon: watch the folders, catch up, file arrivals into albums, recluster now and then,
and take what the user does in the album folder as corrections.

One thread owns the library and takes photos in a chunk at a time, arrivals before the
catch-up (backlog.py), then a model switch (switch.py), then the face catch-up (faces.py);
reclustering runs beside it (reclusters.py). Signals only set flags: SIGTERM/SIGINT finish
the current chunk and exit, SIGHUP reloads the config. `build_service` (build.py) makes the
collaborators; `Service` holds the policies: when to take in what, when to recluster, when
to rescan, how to reload, what to report.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from autoalbum.config import Config, reloaded
from autoalbum.faults import refusal, write_folders
from autoalbum.library import captures
from autoalbum.library.library import Library
from autoalbum.library.lock import LibraryLock
from autoalbum.notify import Notifier
from autoalbum.service.backlog import Backlog
from autoalbum.service.faces import FaceCatchUp
from autoalbum.service.intake import Intake
from autoalbum.service.pause import Pauser
from autoalbum.service.reclusters import Growth, OpenLibrary, Reclusterer
from autoalbum.service.search_refresh import IndexRefresh
from autoalbum.service.settler import Change, split_changes
from autoalbum.service.status import STATUS_NAME, StatusBoard
from autoalbum.service.switch import ModelSwitch

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
INDEX_CHECK_SECONDS = 30.0  # between looks at whether the search index's file is due
# The album folder is read for the user's gestures once it has been changed this long. No
# periodic re-read besides: a change made during a write of ours, or too soon after it for the
# folder's mtime to show, leaves its folder unsure (library/gesture_watch.py), which the cheap
# `album_folder_changed` check reports until a look has read it again.
ALBUMS_SETTLE_SECONDS = 1.0


class Watcher(Protocol):
    """What the service needs of a `FolderWatcher`."""

    @property
    def polling(self) -> bool: ...

    @property
    def pending(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def changes(self, timeout: float) -> list[Change]: ...


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
        self._intake: Intake | None = None
        self._switch: ModelSwitch | None = None
        self._faces: FaceCatchUp | None = None
        self._captures_unread = True  # until a look finds none: photos from before schema 9
        self._captures_read = 0
        self._last_reconcile = 0.0
        self._folders_looked = 0.0
        self._albums_changed_at: float | None = None
        self._board = StatusBoard(config.library.state / STATUS_NAME, notifier)
        # A refused write (a full disk, say: faults.py) pauses the work that writes; what it
        # left undone is done first when it resumes.
        self._pauser = Pauser(lambda: write_folders(self.config), clock)
        self._started = False  # the start's catch-up scan and tree write are done
        self._index_checked = -INDEX_CHECK_SECONDS  # when the search index was last looked at
        self._index_refresh = IndexRefresh()
        self._tree_owed = False  # a write was refused: the album tree may be behind

    @property
    def library(self) -> Library:
        if self._library is None:
            raise RuntimeError("the service is not running")
        return self._library

    @property
    def intake(self) -> Intake:
        if self._intake is None:
            raise RuntimeError("the service is not running")
        return self._intake

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
    def switching(self) -> ModelSwitch | None:
        """The model switch under way, if any."""
        return self._switch

    @property
    def looking_for_faces(self) -> FaceCatchUp | None:
        """The face catch-up under way, if any."""
        return self._faces

    @property
    def left_work_behind(self) -> bool:
        """Stopping let go of a recluster still running (in FAISS or BLAS, say)."""
        return self._reclusterer.left_behind

    @property
    def backlog(self) -> int:
        """Photos found or arrived and not yet taken in."""
        return len(self._backlog)

    # what signals ask for (service/build.py installs the handlers)

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
            self._library = self._open_first()
            if self._library is None:  # stopped while the state folder kept it shut
                yield
                return
            self._intake = Intake(
                self._library, self._backlog, self._growth,
                clock=self._clock, heartbeat=self.notifier.watchdog,
            )  # fmt: skip
            self._report()  # daemon.json, and the room kept to say a pause in (pause.py)
            try:
                self._watcher = self._start_watcher()
                try:
                    self.notifier.ready(f"watching {len(self.config.library.folders)} folders")
                    with self._pauser.guard():
                        self._start_catch_up()
                    yield
                finally:
                    self.watcher.stop()
                    self.notifier.stopping()
                    self.intake.call_off()
                    self._reclusterer.call_off()
                    self._write_tree_on_leaving()
                    self._report(running=False)
            finally:
                self.library.close()
                self._library = None

    def step(self) -> None:
        """One turn: take what settled, then the work that writes (`_work`) unless paused."""
        held = self._pauser.held()
        busy = bool(self._backlog) or (self._faces is not None and not self.reclustering)
        changes = self.watcher.changes(timeout=0.0 if busy and not held else POLL_SECONDS)
        if changes:
            self._queue(changes)
        if not held:
            with self._pauser.guard():
                self._work()
            self._tree_owed = self._tree_owed or self._pauser.pause is not None
        self._report()
        self.notifier.watchdog()

    def _work(self) -> None:
        """What a refused write left undone; a reload, reclusters and rescans; then one chunk
        of photos taken in (arrivals first), of a model switch, or of the face catch-up. While
        the start's scan runs (`_start_catch_up`), arrivals, departures and gestures only: a
        reload or a rescan waits for it, and the rest for its finds."""
        self._catch_up_on_refusals()
        if self._reload.is_set() and self._started:
            self._reload.clear()
            self._reload_config()
        if self._reclusterer.finished():
            self._take_in_recluster()
            self.notifier.watchdog()
        if self._started:
            self._maybe_reconcile()
            self._look_at_folders()
        self._take_gestures()
        if self._backlog and not (self._switch and self.library.arrivals_wait):
            self.intake.take_chunk(first=not self.reclustering and not self._has_albums())
        elif self._started:
            self._idle_step()
        self.notifier.watchdog()
        if self._switch is None:  # a recluster's albums would be in the old model's space
            self._reclusterer.maybe_start(
                self.config, self._clock(),
                catching_up=self._backlog.progress is not None or not self._started,
                has_albums=self._has_albums(),
                idle=not self._backlog and not self.watcher.pending,
            )  # fmt: skip

    def _idle_step(self) -> None:
        """With no photos to take in: a chunk of the model switch, else the album tree and
        the People and Events trees brought up to date and what the next arrival would wait
        for done ahead, then a chunk of the captures or the face catch-up, else the search
        index refreshed if due."""
        if self._switch is not None:
            self._switch_step(self._switch)
            return
        self.intake.settle()
        self.intake.write_views()
        self.library.prepare_arrivals()
        if not self._captures_step() and not self._faces_step():
            self._search_index_step()

    def _catch_up_on_refusals(self) -> None:
        """Once writes go through again: the start's catch-up (or a look whether its scan is
        done), the departures still to record, and the album tree, compared whole."""
        if not self._started:
            self._start_catch_up()
        self.intake.take_departures()
        if self._tree_owed:
            self.intake.write_tree(rebuild=True)
            self._tree_owed = False

    def _open_first(self) -> Library | None:
        """The library, once its state folder lets the catalog open: a full or read-only one
        at start is a pause (READY at once, tries with backoff), not a crash loop under
        systemd. None if stopped meanwhile."""
        while not self._stop.is_set():
            with self._pauser.guard():
                return self._open_library(self.config)
            self.notifier.ready(self._pauser.pause.describe() if self._pauser.pause else "")
            self._report()
            while self._pauser.held() and not self._stop.wait(POLL_SECONDS):
                self.notifier.watchdog()
        return None

    def _write_tree_on_leaving(self) -> None:
        """The album tree brought up to date on leaving; where the write is refused, the next
        start does it."""
        try:
            self.intake.write_tree()
        except Exception as error:
            found = refusal(error, write_folders(self.config))
            if found is None:
                raise
            log.warning("left the album tree as it was: %s; the next start brings it up to "
                        "date", found.sentence())  # fmt: skip

    def _start_catch_up(self) -> None:
        """The start's catch-up set off (intake.py: a library with albums is scanned beside
        the loop), or a look whether its scan is done; once its finds are queued, started,
        and "watching" logged (bench/scale.py times the scan by it)."""
        if self.intake.scanning:
            done = self.intake.scanned()
        else:
            self.notifier.status("loading the model")
            # Once, now, so that the first arrival need not wait for it.
            log.debug("model ready: %d-px input", self.library.embedder.input_size)
            self._under_way()
            self.notifier.watchdog()
            self.notifier.status("scanning the folders")
            done = self.intake.start()
        if done:
            self._last_reconcile = self._clock()
            self._started = True
            log.info("watching %s", ", ".join(map(str, self.config.library.folders)))

    def _queue(self, changes: Sequence[Change]) -> None:
        """Arrivals join the front of the backlog; deletions are recorded first thing in
        `_work` (while paused, they wait too)."""
        present, gone = split_changes(changes)
        self._backlog.arrive(present)
        self._backlog.depart(gone)

    def _start_watcher(self) -> Watcher:
        watcher = self._watch(self.config)
        watcher.start()
        return watcher

    def _maybe_reconcile(self) -> None:
        interval = self.config.watch.reconcile_minutes * 60
        if interval and self._clock() - self._last_reconcile >= interval:
            self._last_reconcile = self._clock()
            found, vanished = self.intake.scan()
            if found or vanished:
                log.info("reconciliation scan caught %d changes missed by events",
                         len(found) + len(vanished))  # fmt: skip

    def _look_at_folders(self) -> None:
        """Every watch.check_folders_seconds (a few stats), which folders are offline
        (library/folders.py); one that is back is watched afresh (a watch on an empty mount
        point sees nothing of the drive mounted over it) and scanned."""
        if self._clock() - self._folders_looked < self.config.watch.check_folders_seconds:
            return
        self._folders_looked = self._clock()
        folders = self.library.folders
        before = {offline.folder for offline in folders.offline()}
        back = before - {offline.folder for offline in folders.look()}
        if back:
            self.watcher.stop()
            self._watcher = self._start_watcher()
            self.intake.scan()

    def _take_gestures(self) -> None:
        """What the user did in the album folder becomes corrections, once the folder has been
        still for a moment. Compared with what autoalbum wrote (library/gestures.py), so its own
        writes and swaps, which happen on this thread, are never taken for the user's."""
        now = self._clock()
        if not self.library.album_folder_changed:
            self._albums_changed_at = None
        elif self._albums_changed_at is None:
            self._albums_changed_at = now
        elif now - self._albums_changed_at >= ALBUMS_SETTLE_SECONDS:
            self._albums_changed_at = None
            taken = self.library.take_gestures()
            if taken:
                log.info("took %d changes made in the album folder as corrections", taken)

    def _take_in_recluster(self) -> None:
        """Place what arrived while reclustering, then swap the new albums in whole. A
        recluster whose commit was refused pauses the service, and runs again after."""
        refused = self._reclusterer.take_refusal()
        if refused is not None:
            raise refused
        self.library.assign_new()
        self.intake.write_tree(rebuild=True)

    def _has_albums(self) -> bool:
        return self.library.catalog.has_centres()

    def _reload_config(self) -> None:
        config = reloaded(self.config)
        if config is None:
            return
        log.info("reloaded %s", config.source)
        previous, self.config = self.config, config
        try:
            self._reopen_library()
        except Exception:
            self.config = previous
            self._reload.set()  # again once a refused write lets it
            raise
        self.watcher.stop()
        self._watcher = self._start_watcher()
        self.intake.scan()

    def _reopen_library(self) -> None:
        """A library is made for one config (and model): open it afresh rather than change it
        under it."""
        old, self._library = self.library, self._open_library(self.config)
        old.close()
        self.intake.library = self.library
        self._under_way()

    def _under_way(self) -> None:
        """The model switch and the face catch-up that the library (just opened) is in."""
        self._switch = ModelSwitch.under_way(self.library, self._clock)
        self.notifier.watchdog()
        self._faces = FaceCatchUp.under_way(self.library, self._clock, self.notifier.watchdog)

    # model switches

    def _switch_step(self, switch: ModelSwitch) -> None:
        """A chunk of the switch; once all is embedded (and no recluster is out in the old
        space), the library takes the new vectors and is opened again with the new model."""
        if not switch.step() or self.reclustering:
            return
        self.library.complete_switch()
        log.info("switched model to %s", switch.target)
        self._reopen_library()
        self.library.assign_new()
        self.intake.write_tree(rebuild=True)
        self._reclusterer.start(self.config)

    def _captures_step(self) -> bool:
        """A chunk of photos from before capture dates were read (headers only); whether
        there was one."""
        if not self._captures_unread:
            return False
        read = captures.catch_up(self.library.catalog)
        if read:
            self._captures_read += read
            return True
        log.info("read when and where %d photos were taken", self._captures_read)
        self._captures_unread = False
        return False

    def _faces_step(self) -> bool:
        """A chunk of the face catch-up, unless a recluster is out: it groups the faces too;
        whether the catch-up is still under way."""
        if self._faces is not None and not self.reclustering and self._faces.step():
            self._faces = None
        return self._faces is not None

    def _search_index_step(self) -> None:
        """Now and then, when idle: the search index's file brought up to date if due, by a
        child process of its own (search_refresh.py)."""
        now = self._clock()
        self._index_refresh.collect()
        if self._index_refresh.running or now - self._index_checked < INDEX_CHECK_SECONDS:
            return
        self._index_checked = now
        if self.library.search_index_due(time.time()):
            self._index_refresh.start(self.config.library.state)

    def _report(self, *, running: bool = True) -> None:
        """daemon.json and systemd's STATUS=, when what they say has changed; while the
        start's scan runs, STATUS= says so every step (the board's line would say
        "watching")."""
        watcher = self._watcher
        waiting = (watcher.pending if running and watcher else 0) + len(self._backlog)
        batches = self.intake.batches if self._intake else 0
        self._board.show(
            running=running,
            waiting=waiting,
            batches=batches,
            catch_up=self._backlog.progress if running else None,
            arrivals_since_recluster=self._growth.arrivals_since_recluster,
            polling=bool(watcher and watcher.polling),
            switch=self._switch if running else None,
            faces=self._faces if running else None,
            offline=self.library.folders.offline() if self._library else (),
            paused=self._pauser.pause,
        )
        scanning = running and self._intake is not None and self._intake.scanning
        if scanning and self._pauser.pause is None:
            self.notifier.status(
                f"scanning the folders; {batches} batches filed, {waiting} waiting"
            )
