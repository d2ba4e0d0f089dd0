"""What the user did in the People tree with a file browser, as the user's word on faces.

A photo lies in the folder of each person in it (a group photo in several), so the People
tree is compared folder by folder with what autoalbum wrote there (its members pages):

| in the People folder                               | means                                   |
|----------------------------------------------------|-----------------------------------------|
| a photo's link moved from `Person 03` to `Ann`     | the face of Person 03 in it is Ann      |
| a photo's link deleted from `Ann`                  | Ann's face in it is not Ann             |
| every link of `Person 03` moved into `Ann`         | the same, face by face: the two merge   |
| `Person 03` renamed `Bob`                          | the person is called Bob, for good      |
| a new folder `Eve` with links                      | a person Eve, from those photos' faces  |
| `Person 03`'s folder deleted                       | that person is not shown again          |

A link put into a folder that no photo left (copied, or made to an original) says that a face
in the photo is that person: the photo's face in no person, else its face nearest the person.
Each one is kept by every later grouping (people.py: pins are must-links, exclusions
cannot-links). The folders a gesture changed are then recorded as the user left them, so the
write after updates them in place without undoing the user's links.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from autoalbum.albums.sidecar import Linked
from autoalbum.library import gestures
from autoalbum.library.catalog import Catalog
from autoalbum.library.records import Status
from autoalbum.library.tables.faces import PersonRecord
from autoalbum.library.views import renamed_folders, written_groups

log = logging.getLogger(__name__)

_Adoption = Mapping[str, list[Linked]] | None


class PeopleGestures:
    """Reads the People tree at `out` for gestures and records them in `catalog`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __call__(self, out: Path, folders: set[str] | None) -> tuple[int, _Adoption]:
        read = written_groups(out)
        if read is None:
            return 0, {}
        index, written = read
        if folders is not None:
            written = {f: links for f, links in written.items() if f in folders}
        found = gestures.found_paths(out, set(), folders)
        resolve = {os.path.realpath(m.path): m.path for ms in written.values() for m in ms}
        before = {f: {os.path.realpath(m.path) for m in ms} for f, ms in written.items()}
        now = {f: set(links) for f, links in found.items()}
        number = {shelf.folder: shelf.number for shelf in index.albums}
        with self.catalog.transaction():
            taken = self._record(before, now, number, resolve)
        if not taken:
            return 0, {}
        if set(now) - set(before) or set(before) - set(now):
            return taken, None  # a folder made, renamed or deleted: the tree is written anew
        adopted = {
            folder: [
                Linked(resolve.get(original, original), name, 0.0)
                for original, name in sorted(found[folder].items())
            ]
            for folder in now
            if now[folder] != before.get(folder)
        }
        return taken, adopted

    def _record(
        self,
        before: dict[str, set[str]],
        now: dict[str, set[str]],
        number: Mapping[str, int],
        resolve: Mapping[str, str],
    ) -> int:
        persons = {p.number: p for p in self.catalog.persons()}
        person_of = {f: persons[n] for f, n in number.items() if n in persons}
        renamed = renamed_folders(before, now)
        taken = 0
        for old, new in renamed.items():
            if (person := person_of.get(old)) is not None and self._rename(person, new):
                person_of[new] = person
                taken += 1
        for folder in set(now) - set(before) - set(renamed.values()):
            if now[folder]:
                person_of[folder] = self.catalog.add_person(folder)
                log.info("new folder %s in the People tree: a person from its photos", folder)
        for folder in set(before) - set(now) - set(renamed):
            if (person := person_of.get(folder)) is not None:
                self.catalog.hide_person(person.id)
                log.info("People folder %s deleted: %s is not shown again", folder, person.title)
                taken += 1
        alias = {new: old for old, new in renamed.items()}
        for folder, photos in now.items():
            target = person_of.get(folder)
            if target is None:
                continue
            was = before.get(alias.get(folder, folder), set())
            for original in photos - was:
                source = next(
                    (person_of.get(f) for f, held in before.items()
                     if original in held and original not in now.get(f, set())),
                    None,
                )  # fmt: skip
                taken += self._pin(resolve.get(original, original), source, target)
        arrived = {
            original
            for folder, photos in now.items()
            for original in photos - before.get(alias.get(folder, folder), set())
        }
        for folder, photos in before.items():
            source, home = person_of.get(folder), renamed.get(folder, folder)
            if source is None or home not in now:
                continue  # a folder deleted: its person is hidden
            for original in photos - now[home] - arrived:
                taken += self._exclude(resolve.get(original, original), source)
        return taken

    def _rename(self, person: PersonRecord, name: str) -> bool:
        clash = any(p.title == name and p.id != person.id for p in self.catalog.persons())
        if clash or name.startswith("."):
            log.warning("People folder renamed to %s, the name of another person: ignored", name)
            return False
        self.catalog.name_person(person.id, name)
        log.info("People folder %s renamed: the person is %s", person.title, name)
        return True

    def _content(self, path: str) -> int | None:
        record = self.catalog.file(Path(path))
        if record is None or record.status is not Status.OK or record.content_id is None:
            log.warning("ignoring a link to %s: not an indexed photo of this library", path)
            return None
        return record.content_id

    def _pin(self, path: str, source: PersonRecord | None, target: PersonRecord) -> int:
        """A photo's link put into `target`'s folder (from `source`'s, or made anew)."""
        content = self._content(path)
        if content is None:
            return 0
        faces = self.catalog.faces_in(content, source.id) if source else []
        if not faces:
            faces = self._likeliest(content, target)
        if not faces:
            log.warning("a link to %s put in %s: no face found in it", path, target.title)
            return 0
        self.catalog.pin_faces(faces, target.id)
        return 1

    def _likeliest(self, content: int, target: PersonRecord) -> list[int]:
        """The photo's face in no person, else its face nearest `target`'s faces."""
        faces = self.catalog.faces_of(content)
        loose = [face_id for face_id, _, person in faces if person is None]
        if loose or not faces:
            return loose[:1]
        rows = self.catalog.face_rows()
        own = rows.descriptors[rows.persons == target.id]
        if not len(own):
            return [faces[0][0]]
        centre = own.mean(axis=0)
        distances = [float(np.linalg.norm(face.descriptor - centre)) for _, face, _ in faces]
        return [faces[int(np.argmin(distances))][0]]

    def _exclude(self, path: str, person: PersonRecord) -> int:
        content = self._content(path)
        if content is None:
            return 0
        faces = self.catalog.faces_in(content, person.id)
        self.catalog.exclude_faces(faces, person.id)
        return int(bool(faces))
