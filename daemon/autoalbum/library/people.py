"""A library's persons: faces stored as photos are taken in, filed into persons, regrouped, and
shown as the People tree (one folder of links per person, written by the album tree's own
writer, albums/tree.py and update.py, with persons as its groups).

A new face joins the person whose faces it is nearest to, within faces/persons.py's match
distance, at once; one near nobody waits for the next grouping. Grouping (at each recluster,
and when a library has faces but no persons yet) clusters every face afresh; each new group
takes over the person whose faces it holds most of, so numbers, folders and names survive.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.tree import Album, Row
from autoalbum.config import PeopleConfig
from autoalbum.errors import AutoalbumError
from autoalbum.faces.finder import FaceFinder, PhotoFaces, find_faces
from autoalbum.faces.persons import cluster_faces, nearest_person
from autoalbum.library.catalog import Catalog
from autoalbum.library.people_gestures import PeopleGestures
from autoalbum.library.stores import Stores
from autoalbum.library.tables.faces import PersonRecord
from autoalbum.library.views import GroupTree, PerGroup, absolute, continuing
from autoalbum.printable import printable

log = logging.getLogger(__name__)

# New faces at once (beyond a quarter of those in persons) that are grouped with all the others
# rather than filed one by one: among them may be persons no face stood for yet.
REGROUP_AT = 200
CATCH_UP_CHUNK = 64  # photos looked at for faces per commit: a few seconds on two cores
APART_PER_FACE = 8  # pinned faces a face the user took out of a person is kept apart from
STAMPS_NAME = "people-stamps.json"  # in the state folder: the People tree's, for its gestures
GROUPING_KEY = "face_grouping"  # in the catalog's meta: counts the groupings, for held faces


class People(GroupTree):
    """The persons of one library, and its People tree."""

    kind = "people"

    def __init__(self, config: PeopleConfig, albums: Path, stores: Stores) -> None:
        # What the user does in the People tree, taken before each write (people_gestures.py).
        interpret = PeopleGestures(stores.catalog)
        super().__init__(config.tree(albums), stores.state, interpret, STAMPS_NAME)
        self.config = config
        self.catalog = stores.catalog
        # Descriptors and persons of the faces in a person, held between arrivals, and the
        # grouping they come from (another process's regrouping makes them stale).
        self._known: tuple[NDArray[np.float32], NDArray[np.int64]] | None = None
        self._known_grouping: str | None = None
        # Faces and photos of each person as the last write counted them, and the grouping.
        self._counts_figures: PerGroup[tuple[int, int]] = PerGroup()
        self._counted_grouping: str | None = None

    @cached_property
    def finder(self) -> FaceFinder:
        return FaceFinder(self.config.detect_side)

    def check_model(self) -> None:
        """Faces of one library come from one face model: faces found by another (another
        detection size) are dropped, to be found again by the catch-up; persons' names stay
        with their numbers only while their faces do."""
        digest = self.finder.identity.digest
        stored = self.catalog.meta("face_model")
        if stored == digest:
            return
        with self.catalog.transaction():
            if stored is not None:
                log.warning("faces were found by another face model (%s); finding them again",
                            stored)  # fmt: skip
                self.catalog.forget_faces()
            self.catalog.set_meta("face_model", digest)

    def store(self, content_id: int, photo: PhotoFaces) -> list[int]:
        """Record a content's faces (inside the caller's transaction); their ids."""
        return self.catalog.add_faces(content_id, photo.faces, photo.size)

    # persons

    def _known_faces(self) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Descriptors and persons of every face in a person, held between arrivals."""
        grouping = self.catalog.meta(GROUPING_KEY)
        if self._known is None or grouping != self._known_grouping:
            self._known_grouping = grouping
            rows = self.catalog.face_rows()
            grouped = rows.persons >= 0
            self._known = (rows.descriptors[grouped], rows.persons[grouped])
        return self._known

    def file_faces(self, face_ids: Sequence[int]) -> set[int]:
        """Put new faces into the persons they are near; returns the persons that gained."""
        if not face_ids:
            return set()
        descriptors, persons = self._known_faces()
        if not self.catalog.persons() or len(face_ids) > max(REGROUP_AT, len(persons) // 4):
            return self.regroup()  # the first faces, or a catch-up's many: group them all
        excluded = set(self.catalog.face_exclusions())
        placed: list[tuple[int, int | None]] = []
        for face_id, descriptor in zip(*self.catalog.sure_faces(face_ids), strict=True):
            person = nearest_person(descriptor, descriptors, persons)
            if (face_id, person) in excluded:
                person = None
            placed.append((face_id, person))
            if person is not None:
                descriptors = np.vstack([descriptors, descriptor[None, :]])
                persons = np.append(persons, person)
        self._known = (descriptors, persons)
        with self.catalog.transaction():
            self.catalog.set_face_persons(placed)
        gained = {p for _, p in placed if p is not None}
        self.note(gained)
        return gained

    def regroup(self) -> set[int]:
        """Cluster every face afresh, as the user's word on faces says (pins, exclusions);
        groups keep the persons whose faces they hold most of, a pinned face's group its
        person. Returns the persons whose faces changed."""
        rows = self.catalog.face_rows()
        self._known = None
        self.stale = None
        if not len(rows.ids):
            return set()
        row_of = {int(face): row for row, face in enumerate(rows.ids)}
        pins = {row_of[f]: p for f, p in self.catalog.face_pins().items() if f in row_of}
        exclusions = [(row_of[f], p) for f, p in self.catalog.face_exclusions() if f in row_of]
        labels = cluster_faces(
            rows.descriptors,
            must_link=_groups(pins),
            cannot_link=_apart(exclusions, pins),
        )
        new = self._heirs(labels, rows.persons, pins)
        for row, person in exclusions:
            if new[row] == person:
                new[row] = -1
        with self.catalog.transaction():
            for label in sorted(set(labels.tolist()) - {-1}):
                members = labels == label
                if (new[members] == -2).any():
                    new[members & (new == -2)] = self.catalog.add_person().id
            moves = [
                (int(face), None if person < 0 else int(person))
                for face, person, old in zip(rows.ids, new, rows.persons, strict=True)
                if person != old
            ]
            self.catalog.set_face_persons(moves)
            changed = {int(p) for p in new if p >= 0} | {int(p) for p in rows.persons if p >= 0}
            self.catalog.count_up(GROUPING_KEY)
            kept = {p.id for p in self.catalog.persons() if p.name is not None or p.hidden}
            self.catalog.drop_persons({p.id for p in self.catalog.persons()} - kept - set(new))
        log.info("grouped %d faces into %d persons", len(rows.ids), len(set(new.tolist()) - {-1}))
        return changed

    @staticmethod
    def _heirs(
        labels: NDArray[np.int64], before: NDArray[np.int64], pins: dict[int, int]
    ) -> NDArray[np.int64]:
        """Each face's person after a grouping: a group is the person most of its faces were
        in (each person one group), else the person its pinned faces were pinned to; a
        pinned face is its person whatever its group. -1 for no person, -2 for a new person
        to be made."""
        heir = continuing(labels, before, skip=pins)
        pinned: Counter[tuple[int, int]] = Counter(
            (int(labels[row]), person) for row, person in pins.items() if labels[row] >= 0
        )
        for (label, person), _ in pinned.most_common():
            heir.setdefault(label, person)
        new = np.array([heir.get(int(label), -2) if label >= 0 else -1 for label in labels])
        for row, person in pins.items():
            new[row] = person
        return new.astype(np.int64)

    def person(self, person: str) -> PersonRecord:
        """A person by name, folder or number."""
        for record in self.catalog.persons():
            if person in (record.title, str(record.number), f"{record.number:02d}"):
                return record
        raise AutoalbumError(
            f"no person {printable(person)}; `autoalbum people` lists them with their numbers"
        )

    def rename(self, person: str, name: str) -> PersonRecord:
        """Name a person for good; the folder follows. Returns the person as it was."""
        record = self.person(person)
        name = name.strip()
        clash = [p for p in self.catalog.persons() if p.title == name and p.id != record.id]
        if not name or "/" in name or name.startswith(".") or clash:
            raise AutoalbumError(
                f"can't name a person {name!r}: give a name that no other person has, without "
                "'/', not starting with '.'"
            )
        with self.catalog.transaction():
            self.catalog.name_person(record.id, name)
        return record

    # the People tree

    def shown(self) -> list[PersonRecord]:
        """The persons with a folder: at least `min_photos` photos."""
        return shown_persons(self.catalog, self.config, self._counts())

    def _counts(self) -> dict[int, tuple[int, int]]:
        """Each person's faces and photos, counted whole unless the catalog's grouping is the
        one last counted (PerGroup: at a million photos with 400,000 faces, counting all
        takes 3 s)."""
        grouping = self.catalog.meta(GROUPING_KEY)
        if grouping != self._counted_grouping:
            self._counts_figures.forget()
            self._counted_grouping = grouping
        return self._counts_figures.get(self.compared, self.catalog.person_counts)

    def groups(self) -> list[tuple[int, Album]]:
        return [(p.id, Album(p.number, p.title, (), p.title)) for p in self.shown()]

    def photos(self, group_ids: Collection[int]) -> dict[int, list[Row]]:
        return {p: absolute(rows) for p, rows in self.catalog.person_rows(group_ids).items()}

    def forget(self) -> None:
        """People off: every face, person and name is deleted, and the People tree too."""
        if (
            self.catalog.face_counts() == (0, 0, 0)
            and not self.catalog.persons()
            and not self.tree_exists
        ):
            return
        with self.catalog.transaction():
            self.catalog.forget_faces()
        self.remove_tree()
        log.info("people is off: deleted every face and person")

    # catch-up of photos never looked at for faces

    def unseen(self) -> int:
        """Live photos not yet looked at for faces."""
        return self.catalog.count_unseen_faces()

    def catch_up(
        self, limit: int = CATCH_UP_CHUNK, workers: int | None = None
    ) -> tuple[int, list[int]]:
        """Look for faces in up to `limit` photos never looked at, in one commit; returns how
        many were looked at and the new faces' ids."""
        unseen = self.catalog.unseen_faces(limit)
        if not unseen:
            return 0, []
        found = find_faces([Path(os.fsdecode(raw)) for _, raw in unseen], self.finder, workers)
        ids: list[int] = []
        with self.catalog.transaction():
            for (content, _), photo in zip(unseen, found, strict=True):
                ids += self.store(content, photo or PhotoFaces((0, 0)))
        return len(unseen), ids


def _pinned(pins: dict[int, int]) -> dict[int, list[int]]:
    """Person -> the faces (rows) pinned to them."""
    by_person: dict[int, list[int]] = {}
    for row, person in pins.items():
        by_person.setdefault(person, []).append(row)
    return by_person


def _groups(pins: dict[int, int]) -> list[list[int]]:
    """The faces pinned to each person, as one group each."""
    return list(_pinned(pins).values())


def _apart(exclusions: list[tuple[int, int]], pins: dict[int, int]) -> list[tuple[int, int]]:
    """A face the user said is not a person is kept apart from the faces pinned to it (up to
    APART_PER_FACE of them: one pinned face is enough where they are grouped)."""
    pinned = _pinned(pins)
    return [
        (row, other)
        for row, person in exclusions
        for other in pinned.get(person, [])[:APART_PER_FACE]
        if other != row
    ]


def shown_persons(
    catalog: Catalog, config: PeopleConfig, counts: Mapping[int, tuple[int, int]] | None = None
) -> list[PersonRecord]:
    """The persons with a People folder: not hidden, with at least `min_photos` photos (of
    `counts`, else counted now); none when people is off."""
    if not config.enabled:
        return []
    counts = catalog.person_counts() if counts is None else counts
    return [
        p
        for p in catalog.persons()
        if not p.hidden and counts.get(p.id, (0, 0))[1] >= config.min_photos
    ]
