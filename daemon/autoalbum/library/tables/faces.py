"""The `faces` and `persons` tables: each content's faces with their descriptors, and the
persons the faces are grouped into (faces/)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.faces import codes
from autoalbum.faces.detector import SURE_SCORE, Box, Face
from autoalbum.library.records import Status
from autoalbum.library.tables import Table, path_of

_Row = tuple[str, float]  # a photo as the tree takes it: (path, distance)


@dataclass(frozen=True)
class PersonRecord:
    id: int
    number: int
    name: str | None  # the user's, None until named
    hidden: bool = False  # its folder deleted by the user: never shown again

    @property
    def title(self) -> str:
        """The person's name, or `Person 07` until the user names them."""
        return self.name or f"Person {self.number:02d}"


@dataclass(frozen=True)
class FaceRows:
    """Every face of the live photos: ids, contents, descriptors and persons (-1: none)."""

    ids: NDArray[np.int64]
    contents: NDArray[np.int64]
    descriptors: NDArray[np.float32]
    persons: NDArray[np.int64]


class Faces(Table):
    def add_faces(self, content_id: int, faces: Sequence[Face], size: tuple[int, int]) -> list[int]:
        """Record the faces found in a content (none is a finding too); returns their ids."""
        self.db.execute("DELETE FROM faces WHERE content_id = ?", (content_id,))
        self.db.execute(
            "UPDATE contents SET faces = ?, width = ?, height = ? WHERE id = ?",
            (len(faces), size[0], size[1], content_id),
        )
        ids = []
        for face in faces:
            b = face.box
            cursor = self.db.execute(
                """INSERT INTO faces (content_id, x0, y0, x1, y1, side, score, descriptor)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    content_id,
                    round(b.left, 5),
                    round(b.top, 5),
                    round(b.right, 5),
                    round(b.bottom, 5),
                    face.side,
                    round(face.score, 4),
                    codes.to_blob(face.descriptor),
                ),
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def unseen_faces(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` live contents never looked at for faces, with one present file each."""
        rows = self.db.execute(
            """SELECT c.id, MIN(f.path) FROM contents c JOIN files f ON f.content_id = c.id
               WHERE c.faces IS NULL AND f.status = ? GROUP BY c.id ORDER BY c.id LIMIT ?""",
            (Status.OK.value, limit),
        )
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def count_unseen_faces(self) -> int:
        row = self.db.execute(
            """SELECT COUNT(*) FROM contents c WHERE c.faces IS NULL AND EXISTS (
                   SELECT 1 FROM files f WHERE f.content_id = c.id AND f.status = ?)""",
            (Status.OK.value,),
        ).fetchone()
        return int(row[0])

    def face_rows(self) -> FaceRows:
        """Every sure face of a live photo (detector.SURE_SCORE), in id order."""
        rows = self.db.execute(
            """SELECT fa.id, fa.content_id, fa.descriptor, fa.person_id FROM faces fa
               WHERE fa.score >= ? AND EXISTS (SELECT 1 FROM files f
                     WHERE f.content_id = fa.content_id AND f.status = ?) ORDER BY fa.id""",
            (SURE_SCORE, Status.OK.value),
        ).fetchall()
        return FaceRows(
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.int64),
            codes.from_blobs([r[2] for r in rows]),
            np.array([-1 if r[3] is None else r[3] for r in rows], dtype=np.int64),
        )

    def faces_of(self, content_id: int) -> list[tuple[int, Face, int | None]]:
        """A content's faces: (face id, face, person id)."""
        rows = self.db.execute(
            "SELECT * FROM faces WHERE content_id = ? ORDER BY id", (content_id,)
        ).fetchall()
        descriptors = codes.from_blobs([r["descriptor"] for r in rows])
        return [
            (
                r["id"],
                Face(Box(r["x0"], r["y0"], r["x1"], r["y1"]), r["side"], r["score"], d),
                r["person_id"],
            )
            for r, d in zip(rows, descriptors, strict=True)
        ]

    def sure_faces(self, face_ids: Sequence[int]) -> tuple[list[int], NDArray[np.float32]]:
        """Those of these faces that are sure (detector.SURE_SCORE), and their descriptors."""
        found = []
        for face_id in face_ids:
            row = self.db.execute(
                "SELECT descriptor FROM faces WHERE id = ? AND score >= ?", (face_id, SURE_SCORE)
            ).fetchone()
            if row is not None:
                found.append((face_id, row[0]))
        return [f for f, _ in found], codes.from_blobs([blob for _, blob in found])

    def set_face_persons(self, persons: Iterable[tuple[int, int | None]]) -> None:
        """(face id, person id or None) for each face given."""
        self.db.executemany(
            "UPDATE faces SET person_id = ? WHERE id = ?", ((p, f) for f, p in persons)
        )

    def forget_faces(self) -> None:
        """People turned off: no face data is kept."""
        self.db.execute("DELETE FROM faces")
        self.db.execute("DELETE FROM persons")
        self.db.execute("UPDATE contents SET faces = NULL WHERE faces IS NOT NULL")
        self.delete_meta("face_model")

    def face_kinds(self, ids: Sequence[int] | NDArray[np.int64]) -> dict[int, tuple[int, float]]:
        """Content id -> (sure faces, the biggest one's share of the photo), for contents among
        `ids` with any sure face (faces/kinds.py)."""
        wanted = {int(i) for i in ids}
        rows = self.db.execute(
            """SELECT content_id, COUNT(*), MAX((x1 - x0) * (y1 - y0)) FROM faces
               WHERE score >= ? GROUP BY content_id""",
            (SURE_SCORE,),
        )
        return {int(r[0]): (int(r[1]), float(r[2])) for r in rows if int(r[0]) in wanted}

    # the user's word on faces

    def faces_in(self, content_id: int, person_id: int | None) -> list[int]:
        """The faces of a content in a person (None: in no person)."""
        rows = self.db.execute(
            "SELECT id FROM faces WHERE content_id = ? AND person_id IS ? ORDER BY id",
            (content_id, person_id),
        )
        return [int(r[0]) for r in rows]

    def pin_faces(self, face_ids: Collection[int], person_id: int) -> None:
        """These faces are `person_id`, through every grouping."""
        self.db.executemany(
            "UPDATE faces SET person_id = ?, pinned = ? WHERE id = ?",
            ((person_id, person_id, face) for face in face_ids),
        )
        self.db.executemany(
            "DELETE FROM face_exclusions WHERE face_id = ? AND person_id = ?",
            ((face, person_id) for face in face_ids),
        )

    def exclude_faces(self, face_ids: Collection[int], person_id: int) -> None:
        """These faces are not `person_id`: out of it now, and never in it again."""
        self.db.executemany(
            "INSERT OR IGNORE INTO face_exclusions (face_id, person_id) VALUES (?, ?)",
            ((face, person_id) for face in face_ids),
        )
        self.db.executemany(
            "UPDATE faces SET person_id = NULL, pinned = NULL WHERE id = ? AND person_id = ?",
            ((face, person_id) for face in face_ids),
        )

    def face_pins(self) -> dict[int, int]:
        """Face id -> the person the user said it is."""
        rows = self.db.execute("SELECT id, pinned FROM faces WHERE pinned IS NOT NULL")
        return {int(r[0]): int(r[1]) for r in rows}

    def face_exclusions(self) -> list[tuple[int, int]]:
        """(face id, person it is not)."""
        rows = self.db.execute("SELECT face_id, person_id FROM face_exclusions")
        return [(int(r[0]), int(r[1])) for r in rows]

    def hide_person(self, person_id: int) -> None:
        self.db.execute("UPDATE persons SET hidden = 1 WHERE id = ?", (person_id,))

    # persons

    def persons(self) -> list[PersonRecord]:
        rows = self.db.execute("SELECT id, number, name, hidden FROM persons ORDER BY number")
        return [PersonRecord(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def add_person(self, name: str | None = None) -> PersonRecord:
        """A new person under the next number never used."""
        person, number = self.add_numbered("persons", name)
        return PersonRecord(person, number, name)

    def name_person(self, person_id: int, name: str | None) -> None:
        self.db.execute("UPDATE persons SET name = ? WHERE id = ?", (name, person_id))

    def drop_persons(self, person_ids: Collection[int]) -> None:
        """Persons with no face any more (their number is never used again)."""
        self.db.executemany("DELETE FROM persons WHERE id = ?", ((p,) for p in person_ids))

    def person_counts(
        self, person_ids: Collection[int] | None = None
    ) -> dict[int, tuple[int, int]]:
        """Person id -> (faces, photos) among the live photos, for every person with any
        (only `person_ids`' when given)."""
        query = """SELECT fa.person_id, COUNT(*), COUNT(DISTINCT fa.content_id) FROM faces fa
                   WHERE fa.person_id {} AND EXISTS (SELECT 1 FROM files f
                         WHERE f.content_id = fa.content_id AND f.status = ?)
                   GROUP BY fa.person_id"""
        rows = self.per_group(query, person_ids, Status.OK.value)
        return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}

    def person_rows(self, person_ids: Collection[int] | None = None) -> dict[int, list[_Row]]:
        """The live photos of each person (None: of every person) as (path, distance), the
        biggest face first; a photo with two faces of one person is listed once."""
        query = """SELECT f.path, fa.person_id, MIN(-fa.side) FROM faces fa
                   JOIN files f ON f.content_id = fa.content_id
                   WHERE fa.person_id {} AND +f.status = ?
                   GROUP BY fa.person_id, f.path ORDER BY MIN(-fa.side), f.path"""
        members: dict[int, list[_Row]] = {person: [] for person in person_ids or ()}
        for path, person, _ in self.per_group(query, person_ids, Status.OK.value):
            members.setdefault(person, []).append((os.fsdecode(path), 0.0))
        return members

    def face_counts(self) -> tuple[int, int, int]:
        """(photos looked at, faces, faces in a person)."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(faces), 0) FROM contents WHERE faces IS NOT NULL"
        ).fetchone()
        grouped = self.db.execute(
            "SELECT COUNT(*) FROM faces WHERE person_id IS NOT NULL"
        ).fetchone()
        return int(row[0]), int(row[1]), int(grouped[0])

    def named_faces(self) -> dict[Path, tuple[tuple[int, int], list[tuple[str, Box]]]]:
        """Each live photo with a face of a named person: its upright size, and those faces
        with their persons' names (library/tagging.py writes them into its sidecar). From the
        named persons out (CROSS JOIN fixes the order): a library has far more photos."""
        rows = self.db.execute(
            """SELECT f.path, p.name, fa.x0, fa.y0, fa.x1, fa.y1, c.width, c.height
               FROM persons p CROSS JOIN faces fa ON fa.person_id = p.id
               CROSS JOIN files f ON f.content_id = fa.content_id
               JOIN contents c ON c.id = fa.content_id
               WHERE p.name IS NOT NULL AND +f.status = ? AND c.width > 0 AND c.height > 0""",
            (Status.OK.value,),
        )
        photos: dict[Path, tuple[tuple[int, int], list[tuple[str, Box]]]] = {}
        for path, name, x0, y0, x1, y1, width, height in rows:
            _, faces = photos.setdefault(path_of(path), ((int(width), int(height)), []))
            faces.append((name, Box(x0, y0, x1, y1)))
        return photos
