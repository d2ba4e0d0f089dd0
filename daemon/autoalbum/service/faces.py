"""The daemon's face catch-up: the photos of a library indexed before people was on (or by
another face model) looked at for faces, a chunk per step, when arrivals and a model switch
leave room.

Each chunk is committed on its own (People.catch_up), so a stop or a crash loses at most the
chunk in hand and the next start carries on with the photos still unseen. A chunk's faces are
filed into persons at once and the People tree follows every TREE_SECONDS; when the catch-up
ends, every face is grouped afresh, since faces filed a chunk at a time can only join the
persons that the first chunks made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from autoalbum.library.library import Library
from autoalbum.library.people import CATCH_UP_CHUNK
from autoalbum.service.backlog import CatchUp
from autoalbum.service.intake import TREE_SECONDS

log = logging.getLogger(__name__)

CHUNK = CATCH_UP_CHUNK  # photos looked at per step: a few seconds on two cores


class FaceCatchUp:
    """Looks for faces in `library`'s photos never looked at, a chunk and a commit per step."""

    def __init__(
        self,
        library: Library,
        unseen: int,
        clock: Callable[[], float],
        heartbeat: Callable[[], None],
    ) -> None:
        self.library = library
        self._clock = clock
        self._heartbeat = heartbeat
        self._started = self._tree_written = clock()
        self._total = len(library.catalog.content_ids(live_only=True))
        self._earlier = max(0, self._total - unseen)  # looked at before this run
        self._looked = 0
        self._found = 0  # faces found in this run
        log.info("%s", self.describe())

    @classmethod
    def under_way(
        cls, library: Library, clock: Callable[[], float], heartbeat: Callable[[], None]
    ) -> FaceCatchUp | None:
        """The catch-up `library` needs, with people on: its photos never looked at for faces
        (all of them, where the faces it holds were found by another face model)."""
        if not library.config.people.enabled:
            return None
        library.people.check_model()
        unseen = library.people.unseen()
        return cls(library, unseen, clock, heartbeat) if unseen else None

    def as_dict(self) -> dict[str, object]:
        """For daemon.json: photos looked at and in all, and the pace of this run (the chunks
        committed before a restart came free)."""
        done = min(self._total, self._earlier + self._looked)
        pace = CatchUp(done, self._total, self._clock() - self._started, self._earlier)
        return {**pace.as_dict()}

    def describe(self) -> str:
        return describe_faces(self.as_dict())

    def step(self) -> bool:
        """Look for faces in the next chunk, commit them and file them into persons; True once
        none is left, the faces grouped afresh and the People tree written."""
        people = self.library.people
        looked, ids = people.catch_up(CHUNK)
        self._heartbeat()
        if not looked:
            self._finish()
            return True
        self._looked += looked
        self._found += len(ids)
        people.file_faces(ids)
        if self._clock() - self._tree_written >= TREE_SECONDS:
            self._write_tree()
        return False

    def _finish(self) -> None:
        if self._found:
            self.library.people.regroup()
            self._heartbeat()
        self._write_tree()
        log.info("looked for faces in %d photos: %d faces found", self._looked, self._found)

    def _write_tree(self) -> None:
        self.library.people.write_tree()
        self._tree_written = self._clock()
        self._heartbeat()


def describe_faces(status: Mapping[str, Any]) -> str:
    """'looking for faces: 1,234 of 5,000 photos (30/s, about 2 min left)'."""
    return f"looking for faces: {CatchUp.from_dict(status).describe()}"
