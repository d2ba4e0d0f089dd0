"""The daemon's pause: while a folder it writes to refuses writes (full, read-only, permission
lost; faults.py), the work that writes waits and nothing is dropped. The daemon keeps
watching and queueing, tries again with backoff (FIRST_TRY_SECONDS doubling up to
LAST_TRY_SECONDS), and at once when the folder looks writable again (space freed, remounted
read-write); the first try that goes through resumes it.

So that daemon.json can say the daemon pauses on a full state folder, the daemon keeps a
little room there (`Room`), given up for that write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoalbum.faults import Folder, Probe, Refusal, refusal

log = logging.getLogger(__name__)

FIRST_TRY_SECONDS = 5.0
LAST_TRY_SECONDS = 300.0
ROOM_NAME = "daemon.room"  # in the state folder
ROOM_BYTES = 64 * 1024  # a few dozen rewrites of daemon.json
ROOM_SECONDS = 60.0  # how often making the room again is tried while it is missing


@dataclass(frozen=True)
class Pause:
    """Why the work that writes waits, since when (wall clock) and until when (service clock)."""

    refusal: Refusal
    since: float
    delay: float
    retry_at: float

    def describe(self) -> str:
        """`paused: state folder full (0 bytes free)`."""
        return f"paused: {self.refusal.describe()}"

    def as_dict(self) -> dict[str, Any]:
        """For daemon.json."""
        return {**self.refusal.as_dict(), "since": self.since, "retry_seconds": self.delay}


class Pauser:
    """Runs the work that writes under `guard()`, and holds it back while paused."""

    def __init__(
        self,
        folders: Callable[[], Sequence[Folder]],
        clock: Callable[[], float],
        *,
        first: float = FIRST_TRY_SECONDS,
        last: float = LAST_TRY_SECONDS,
    ) -> None:
        self._folders = folders
        self._clock = clock
        self._first = first
        self._last = last
        self.pause: Pause | None = None

    def held(self) -> bool:
        """Whether the work that writes must wait still: paused, the next try not due, and the
        folder looking no better than when it refused."""
        pause = self.pause
        if pause is None or self._clock() >= pause.retry_at:
            return False
        before, now = pause.refusal.probe, Probe.of(pause.refusal.folder.path)
        return not (before and now and now.better_than(before))

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Run the work that writes: a refused write pauses (or keeps paused, with a longer
        wait) instead of raising; work that goes through ends a pause. Other errors pass."""
        try:
            yield
        except Exception as error:
            found = refusal(error, self._folders())
            if found is None:
                raise
            self.refused(found)
            return
        self._resumed()

    def refused(self, found: Refusal) -> None:
        """Pause, or stay paused waiting twice as long as last time."""
        before = self.pause
        delay = self._first if before is None else min(before.delay * 2, self._last)
        since = time.time() if before is None else before.since
        self.pause = Pause(found, since, delay, self._clock() + delay)
        if before is None or before.refusal.describe() != found.describe():
            log.warning("paused: %s: committed work is kept and new photos wait in the queue; "
                        "%s and autoalbum resumes by itself (next try in %.0f s)",
                        found.sentence(), found.advice(), delay)  # fmt: skip
        else:
            log.info("still paused: %s; next try in %.0f s", found.describe(), delay)

    def _resumed(self) -> None:
        pause, self.pause = self.pause, None
        if pause is not None:
            minutes = (time.time() - pause.since) / 60
            log.info("resumed after %.1f min: the %s takes writes again",
                     minutes, pause.refusal.folder.role)  # fmt: skip


class Room:
    """A file of ROOM_BYTES kept in the state folder, given up to make room when the folder is
    full (the daemon then says why it pauses), and made again once there is room."""

    def __init__(self, state: Path) -> None:
        self.path = state / ROOM_NAME
        self._tried = -ROOM_SECONDS

    def keep(self) -> None:
        """Make the room if it is missing (at most every ROOM_SECONDS); never raises."""
        now = time.monotonic()
        if now - self._tried < ROOM_SECONDS or self.path.exists():
            return
        self._tried = now
        try:
            with self.path.open("wb") as stream:
                stream.write(bytes(ROOM_BYTES))
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as error:
            log.debug("no room kept in %s: %s", self.path.parent, error)
            self.give_up()

    def give_up(self) -> bool:
        """Delete the room; whether there was one."""
        try:
            self.path.unlink()
        except OSError:
            return False
        return True
