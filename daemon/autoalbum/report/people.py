"""The persons a library's report shows, read from its catalog: those with a folder in the People
tree, each with its counts and its biggest sure face, most photos first."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autoalbum.config import PeopleConfig
from autoalbum.faces.kinds import SURE_SCORE
from autoalbum.library.catalog import Catalog
from autoalbum.library.people import shown_persons
from autoalbum.report.thumbnails import Crop

LOOK_AT = 64  # of a person's photos, biggest face first, searched for a sure face


@dataclass(frozen=True)
class ReportPerson:
    title: str  # Ann, or Person 07
    folder: Path  # in the People tree
    photos: int
    faces: int
    face: Crop  # the biggest sure face


def read_persons(catalog: Catalog, people: PeopleConfig, albums: Path) -> tuple[ReportPerson, ...]:
    """The persons with a People folder (as library/people.py's `shown`), most photos first;
    none when people is off."""
    shown = shown_persons(catalog, people)
    counts = catalog.person_counts()
    rows = catalog.person_rows([p.id for p in shown])
    tree = people.tree(albums)
    persons = []
    for person in shown:
        face = _biggest_face(catalog, person.id, [Path(path) for path, _ in rows[person.id]])
        if face is not None:
            faces, photos = counts[person.id]
            persons.append(ReportPerson(person.title, tree / person.title, photos, faces, face))
    return tuple(sorted(persons, key=lambda p: (-p.photos, -p.faces, p.title)))


def _biggest_face(catalog: Catalog, person_id: int, photos: Sequence[Path]) -> Crop | None:
    """The person's biggest sure face (the biggest face where none is sure). The photos come
    biggest face first, so the search ends at the first photo that can't hold a bigger one."""
    best: tuple[bool, int, Crop] | None = None
    for path in itertools.islice(photos, LOOK_AT):
        record = catalog.file(path)
        if record is None or record.content_id is None:
            continue
        faces = [f for _, f, p in catalog.faces_of(record.content_id) if p == person_id]
        if not faces:
            continue
        if best is not None and best[0] and max(f.side for f in faces) <= best[1]:
            break
        for face in faces:
            found = (face.score >= SURE_SCORE, face.side, Crop(path, face.box))
            if best is None or found[:2] > best[:2]:
                best = found
    return None if best is None else best[2]
