"""The `albums` and `tagged` tables: albums with their numbers, names and centres, and what
each photo's sidecar was last tagged with."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.names import LABEL_PATH_SEPARATOR
from autoalbum.library.records import AlbumRecord, Status
from autoalbum.library.tables import Table, from_blob, maybe_blob, path_of, stored


class Albums(Table):
    def has_centres(self) -> bool:
        """Whether any album has a centre: photos can be filed, no first clustering needed."""
        row = self.db.execute("SELECT 1 FROM albums WHERE centroid IS NOT NULL LIMIT 1")
        return row.fetchone() is not None

    def albums(self) -> list[AlbumRecord]:
        rows = self.db.execute("SELECT * FROM albums ORDER BY number")
        return [
            AlbumRecord(
                row["id"],
                row["number"],
                row["name"],
                bool(row["user_named"]),
                from_blob(row["centroid"]) if row["centroid"] is not None else None,
                bool(row["user_made"]),
                row["folder"],
                row["parent_id"],
            )
            for row in rows
        ]

    def add_album(
        self,
        number: int,
        name: str,
        centroid: NDArray[np.float32] | None,
        user_named: bool,
        parent_id: int | None = None,
    ) -> int:
        now = time.time()
        cursor = self.db.execute(
            """INSERT INTO albums
               (number, name, user_named, centroid, created_at, updated_at, parent_id)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (number, name, int(user_named), maybe_blob(centroid), now, now, parent_id),
        )
        assert cursor.lastrowid is not None
        if number > int(self.meta("max_album_number") or 0):
            self.set_meta("max_album_number", str(number))
        return cursor.lastrowid

    def update_album(
        self, album_id: int, name: str, centroid: NDArray[np.float32] | None, user_named: bool
    ) -> None:
        self.db.execute(
            "UPDATE albums SET name = ?, centroid = ?, user_named = ?, updated_at = ? WHERE id = ?",
            (name, maybe_blob(centroid), int(user_named), time.time(), album_id),
        )

    def set_parent(self, album_id: int, parent_id: int | None) -> None:
        """Make the album a sub-album of `parent_id`, or (None) an album at the top."""
        self.db.execute("UPDATE albums SET parent_id = ? WHERE id = ?", (parent_id, album_id))

    def delete_albums(self, album_ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM albums WHERE id = ?", ((i,) for i in album_ids))

    def next_album_number(self) -> int:
        """One past the highest number ever used, so numbers are never reused."""
        return int(self.meta("max_album_number") or 0) + 1

    # tags: what each photo's sidecar was last tagged with (library/tagging.py)

    def tagged(self) -> dict[Path, str]:
        """Photo -> the album label its sidecar's keywords name ('' where it carries persons
        only: the column can't be NULL)."""
        return {
            path_of(path): label
            for path, label in self.db.execute("SELECT path, label FROM tagged")
        }

    def set_tagged(
        self, labels: Mapping[Path, str | None], persons: Mapping[Path, str] | None = None
    ) -> None:
        """Record each photo's label (None: its sidecar carries no keyword of ours) and the named
        persons it carries, as `persons` spells them (none for a photo it leaves out). A photo
        with neither carries none of ours any more: its row goes."""
        persons = persons or {}
        rows = [(stored(p), label, persons.get(p)) for p, label in labels.items()]
        self.db.executemany(
            "INSERT INTO tagged (path, label, persons) VALUES (?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET label = excluded.label, persons = excluded.persons",
            ((p, label or "", named) for p, label, named in rows if label or named),
        )
        self.db.executemany(
            "DELETE FROM tagged WHERE path = ?",
            ((p,) for p, label, named in rows if not (label or named)),
        )

    def clear_tagged(self) -> None:
        self.db.execute("DELETE FROM tagged")

    def tag_changes(self, unsorted_number: int) -> dict[Path, str | None]:
        """Photos whose album name differs from the label recorded: each live photo's album
        name (None in the unsorted album), and None for recorded photos that left every album.
        Compared here rather than in Python: in a large library, few rows differ. A row with
        persons only ('') leaves with its persons (`tagged_persons`)."""
        ok = Status.OK.value
        rows = self.db.execute(
            """WITH RECURSIVE labels(id, label) AS (
                   SELECT id, name FROM albums WHERE parent_id IS NULL
                   UNION ALL
                   SELECT a.id, l.label || ? || a.name FROM albums a
                   JOIN labels l ON a.parent_id = l.id)
               SELECT path, now FROM (
                   SELECT f.path, CASE WHEN a.number = ? THEN NULL ELSE l.label END AS now,
                          NULLIF(t.label, '') AS was
                   FROM files f JOIN contents c ON f.content_id = c.id
                   JOIN albums a ON a.id = c.album_id JOIN labels l ON l.id = a.id
                   LEFT JOIN tagged t ON t.path = f.path
                   WHERE f.status = ?)
               WHERE now IS NOT was
               UNION ALL
               SELECT t.path, NULL FROM tagged t WHERE t.label <> '' AND NOT EXISTS (
                   SELECT 1 FROM files f JOIN contents c ON f.content_id = c.id
                   WHERE f.path = t.path AND f.status = ? AND c.album_id IS NOT NULL)""",
            (LABEL_PATH_SEPARATOR, unsorted_number, ok, ok),
        )
        return {path_of(path): label for path, label in rows}

    def tagged_persons(self) -> dict[Path, tuple[str | None, str | None]]:
        """The record of each photo that may carry persons, as (label, persons), None for
        none: the photos tagged with persons, and the tagged live photos with a face of a
        named person. Only those are read: in a large library, few photos have either."""
        rows = self.db.execute(
            """SELECT path, NULLIF(label, ''), persons FROM tagged WHERE persons IS NOT NULL
               UNION
               SELECT t.path, NULLIF(t.label, ''), t.persons FROM persons p
               CROSS JOIN faces fa ON fa.person_id = p.id
               CROSS JOIN files f ON f.content_id = fa.content_id JOIN tagged t ON t.path = f.path
               WHERE p.name IS NOT NULL AND +f.status = ?""",
            (Status.OK.value,),
        )
        return {path_of(path): (label, persons) for path, label, persons in rows}
