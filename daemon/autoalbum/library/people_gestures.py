"""What the user did in the People tree with a file browser, as the user's word on faces
(the gestures of group_gestures.py, for persons).

A photo lies in the folder of each person in it (a group photo in several):

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
cannot-links).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from autoalbum.library.group_gestures import GroupGestures
from autoalbum.library.tables.faces import PersonRecord

log = logging.getLogger(__name__)


class PeopleGestures(GroupGestures[PersonRecord]):
    """The People tree's gestures, as faces pinned to persons or kept out of them."""

    def groups(self) -> Mapping[int, PersonRecord]:
        return {p.number: p for p in self.catalog.persons()}

    def rename(self, group: PersonRecord, folder: str) -> bool:
        clash = any(p.title == folder and p.id != group.id for p in self.catalog.persons())
        if clash or folder.startswith("."):
            log.warning("People folder renamed to %s, the name of another person: ignored", folder)
            return False
        self.catalog.name_person(group.id, folder)
        log.info("People folder %s renamed: the person is %s", group.title, folder)
        return True

    def add(self, folder: str) -> PersonRecord:
        log.info("new folder %s in the People tree: a person from its photos", folder)
        return self.catalog.add_person(folder)

    def hide(self, group: PersonRecord, folder: str) -> None:
        self.catalog.hide_person(group.id)
        log.info("People folder %s deleted: %s is not shown again", folder, group.title)

    def put(
        self, content: int, source: PersonRecord | None, target: PersonRecord, path: str
    ) -> int:
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

    def take_out(self, content: int, group: PersonRecord) -> int:
        faces = self.catalog.faces_in(content, group.id)
        self.catalog.exclude_faces(faces, group.id)
        return int(bool(faces))
