"""The `contents` table: one row per distinct file content, with its vector, its quick key and
the album it is in; identical files share one."""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.tree import Member
from autoalbum.library.records import Status
from autoalbum.library.tables import Table, from_blob, path_of, stored, to_blob

_Row = tuple[str, float]  # a photo's path as a str (PEP 383) and its distance


class Contents(Table):
    def content_by_hash(self, digest: str) -> int | None:
        row = self.db.execute("SELECT id FROM contents WHERE hash = ?", (digest,)).fetchone()
        return int(row[0]) if row else None

    def add_content(
        self,
        digest: str,
        vector: NDArray[np.float32],
        top_class: int | None,
        quick: str | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO contents (hash, vector, top_class, quick) VALUES (?, ?, ?, ?)",
            (digest, to_blob(vector), top_class, quick),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def known_quick_keys(self, keys: Collection[str]) -> set[str]:
        """Those of `keys` that some content has."""
        found: set[str] = set()
        key_list = list(keys)
        for start in range(0, len(key_list), 500):
            chunk = key_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT quick FROM contents WHERE quick IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def set_quick_key(self, content_id: int, quick: str) -> None:
        """Give a content from before quick keys its key."""
        self.db.execute(
            "UPDATE contents SET quick = ? WHERE id = ? AND quick IS NULL", (quick, content_id)
        )

    def sizes_without_quick_key(self) -> set[int]:
        """Sizes of the files, present or not, of contents that have no quick key yet."""
        rows = self.db.execute(
            """SELECT DISTINCT f.size FROM contents c JOIN files f ON f.content_id = c.id
               WHERE c.quick IS NULL"""
        )
        return {row[0] for row in rows}

    def content_ids(self, live_only: bool = False) -> NDArray[np.int64]:
        """All content ids, or those with at least one present (ok) file."""
        if live_only:
            rows = self.db.execute(
                "SELECT DISTINCT content_id FROM files WHERE status = ? "
                "AND content_id IS NOT NULL ORDER BY content_id",
                (Status.OK.value,),
            )
        else:
            rows = self.db.execute("SELECT id FROM contents ORDER BY id")
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def vectors(self, ids: Sequence[int] | NDArray[np.int64]) -> NDArray[np.float32]:
        """Stored vectors for `ids`, in that order."""
        found: dict[int, NDArray[np.float32]] = {}
        id_list = [int(i) for i in ids]
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT id, vector FROM contents WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = from_blob(row[1])
        missing = [i for i in id_list if i not in found]
        if missing:
            raise KeyError(f"no content with id {missing[0]} in the catalog")
        return np.stack([found[i] for i in id_list]) if id_list else np.zeros((0, 0), np.float32)

    def top_classes(self, ids: Sequence[int] | NDArray[np.int64]) -> list[int | None]:
        rows = dict(self.db.execute("SELECT id, top_class FROM contents"))
        return [rows.get(int(i)) for i in ids]

    def album_ids(self, ids: Sequence[int] | NDArray[np.int64]) -> list[int | None]:
        rows = dict(self.db.execute("SELECT id, album_id FROM contents"))
        return [rows.get(int(i)) for i in ids]

    def duplicate_groups(self) -> list[list[Path]]:
        """Present files that share identical content, two or more per group."""
        groups: dict[int, list[Path]] = {}
        for content_id, path in self.db.execute(
            """SELECT content_id, path FROM files WHERE status = ? AND content_id IN
               (SELECT content_id FROM files WHERE status = ? GROUP BY content_id
                HAVING COUNT(*) > 1) ORDER BY content_id, path""",
            (Status.OK.value, Status.OK.value),
        ):
            groups.setdefault(content_id, []).append(path_of(path))
        return list(groups.values())

    def paths_of(self, content_id: int) -> list[Path]:
        rows = self.db.execute(
            "SELECT path FROM files WHERE content_id = ? AND status = ? ORDER BY path",
            (content_id, Status.OK.value),
        )
        return [path_of(row[0]) for row in rows]

    def assign(
        self, ids: Sequence[int], album_ids: Sequence[int], distances: Sequence[float]
    ) -> None:
        self.db.executemany(
            "UPDATE contents SET album_id = ?, distance = ? WHERE id = ?",
            zip(album_ids, distances, ids, strict=True),
        )

    def unassigned_ids(self) -> NDArray[np.int64]:
        """Live contents not yet in any album."""
        rows = self.db.execute(
            """SELECT DISTINCT c.id FROM contents c JOIN files f ON f.content_id = c.id
               WHERE f.status = ? AND c.album_id IS NULL ORDER BY c.id""",
            (Status.OK.value,),
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def members(self) -> dict[int, list[Member]]:
        """Each album's live photos, by album id, nearest to its centre first."""
        rows = self.db.execute(
            """SELECT f.path, c.album_id, c.distance FROM files f
               JOIN contents c ON f.content_id = c.id
               WHERE f.status = ? AND c.album_id IS NOT NULL ORDER BY c.distance, f.path""",
            (Status.OK.value,),
        )
        members: dict[int, list[Member]] = defaultdict(list)
        for path, album, distance in rows:
            members[album].append(Member(path_of(path), float(distance or 0.0)))
        return dict(members)

    # a model switch: each live content's vector from the next model (service/switch.py)

    def lacking_next_vector(self, limit: int) -> list[int]:
        """Up to `limit` live contents with no vector from the next model yet."""
        rows = self.db.execute(
            """SELECT DISTINCT c.id FROM contents c JOIN files f ON f.content_id = c.id
               WHERE f.status = ? AND c.next_vector IS NULL ORDER BY c.id LIMIT ?""",
            (Status.OK.value, limit),
        )
        return [row[0] for row in rows]

    def count_next_vectors(self) -> tuple[int, int]:
        """Live contents with a vector from the next model, and live contents in all."""
        row = self.db.execute(
            """SELECT COUNT(next_vector), COUNT(*) FROM contents WHERE id IN
               (SELECT content_id FROM files WHERE status = ?)""",
            (Status.OK.value,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def set_next_vectors(self, ids: Sequence[int], vectors: NDArray[np.float32]) -> None:
        self.db.executemany(
            "UPDATE contents SET next_vector = ? WHERE id = ?",
            ((to_blob(v), int(i)) for i, v in zip(ids, vectors, strict=True)),
        )

    def clear_next_vectors(self) -> None:
        self.db.execute("UPDATE contents SET next_vector = NULL WHERE next_vector IS NOT NULL")

    def take_next_vectors(self) -> int:
        """Make the next model's vectors the vectors. Contents without one have no file left
        (a switch completes only then): their files forget them and they go, so that no
        vector of the old model stays behind. Returns how many went."""
        self.db.execute(
            """UPDATE files SET content_id = NULL WHERE content_id IN
               (SELECT id FROM contents WHERE next_vector IS NULL)"""
        )
        gone = self.db.execute("DELETE FROM contents WHERE next_vector IS NULL").rowcount
        self.db.execute("UPDATE contents SET vector = next_vector, next_vector = NULL")
        return gone

    # the album tree (albums/update.py): only the albums an arrival touched are read

    def member_rows(self, album_ids: Collection[int] | None = None) -> dict[int, list[_Row]]:
        """The live photos of each of `album_ids` (None: of every album) as (path, distance),
        nearest to its centre first: strings, not Paths, for the thousands of an album.
        (`+f.status` keeps SQLite from reading every live file by status instead of the
        album's own rows.)"""
        query = """SELECT f.path, c.album_id, c.distance FROM contents c
                   JOIN files f ON f.content_id = c.id WHERE +f.status = ? AND """
        rows: Iterable[tuple[bytes, int, float | None]]
        if album_ids is None:
            rows = self.db.execute(
                query + "c.album_id IS NOT NULL ORDER BY c.distance, f.path", (Status.OK.value,)
            )
        else:
            rows = itertools.chain.from_iterable(
                self.db.execute(
                    query + "c.album_id = ? ORDER BY c.distance, f.path", (Status.OK.value, album)
                )
                for album in album_ids
            )
        members: dict[int, list[_Row]] = {album: [] for album in album_ids or ()}
        for path, album, distance in rows:
            members.setdefault(album, []).append((os.fsdecode(path), float(distance or 0.0)))
        return members

    def albums_with_members(self) -> set[int]:
        """The albums with at least one live photo: those the album tree shows."""
        rows = self.db.execute(
            """SELECT a.id FROM albums a WHERE EXISTS (
                   SELECT 1 FROM contents c JOIN files f ON f.content_id = c.id
                   WHERE c.album_id = a.id AND +f.status = ?)""",
            (Status.OK.value,),
        )
        return {row[0] for row in rows}

    def albums_of(self, paths: Collection[Path]) -> set[int]:
        """The albums that the live photos at `paths`, or below them for a folder, are in."""
        found: set[int] = set()
        query = """SELECT c.album_id FROM files f JOIN contents c ON f.content_id = c.id
                   WHERE +f.status = ? AND c.album_id IS NOT NULL AND """
        for path in paths:
            exact = self.db.execute(query + "f.path = ?", (Status.OK.value, stored(path)))
            rows = exact.fetchall()
            if not rows:  # perhaps a folder: its files sort between "folder/" and "folder0"
                low = stored(path).rstrip(b"/") + b"/"
                rows = self.db.execute(
                    query + "f.path >= ? AND f.path < ?",
                    (Status.OK.value, low, low[:-1] + b"0"),
                ).fetchall()
            found.update(row[0] for row in rows)
        return found
