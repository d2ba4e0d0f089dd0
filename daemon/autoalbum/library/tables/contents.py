"""The `contents` table: one row per distinct file content, with its quick key and the album it
is in; identical files share one. Its vector is a code, packed, in the `vectors` table
(library/codes.py)
and, during a model switch, its next model's in `next_vectors`.

Queries by id go a chunk of ids at a time, so that filing a few photos into a library of a
million reads only their rows."""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.tree import Member
from autoalbum.library.codes import Codes, code_size, to_code, unpack_all
from autoalbum.library.records import Status
from autoalbum.library.tables import Table, digest_of, packed_digest, path_of, stored

ID_CHUNK = 500  # ids per IN (...) query
SCAN_CHUNK = 16_384  # codes per chunk of a scan of the vectors table (21 MB unpacked at d=1280)

CODE_LEVELS = "code_levels"  # meta: the steps of the catalog's codes (unset: 255, the old)
REFILLS = "vector_refills"  # meta: vectors embedded again for contents that had lost theirs
_Row = tuple[str, float]  # a photo's path as a str (PEP 383) and its distance


class Contents(Table):
    def content_by_hash(self, digest: str) -> int | None:
        query = "SELECT id FROM contents WHERE hash = ?"
        row = self.db.execute(query, (packed_digest(digest),)).fetchone()
        return int(row[0]) if row else None

    def add_content(
        self,
        digest: str,
        vector: NDArray[np.float32],
        top_class: int | None,
        quick: str | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO contents (hash, top_class, quick) VALUES (?, ?, ?)",
            (packed_digest(digest), top_class, packed_digest(quick)),
        )
        assert cursor.lastrowid is not None
        self.db.execute(
            "INSERT INTO vectors (content_id, code) VALUES (?, ?)",
            (cursor.lastrowid, to_code(vector)),
        )
        return cursor.lastrowid

    def lacks_vector(self, content_id: int) -> bool:
        """Whether a content has no vector: its catalog was put back from the kept copy, and
        the damaged one no longer gave it (restore.py)."""
        query = "SELECT 1 FROM vectors WHERE content_id = ?"
        return self.db.execute(query, (content_id,)).fetchone() is None

    def refill_vector(self, content_id: int, vector: NDArray[np.float32]) -> None:
        """The vector of a content that lacked one. Counted in meta's `vector_refills`: a
        search index made before holds no row for it (search_index.py)."""
        self.db.execute(
            "INSERT INTO vectors (content_id, code) VALUES (?, ?)", (content_id, to_code(vector))
        )
        self.count_up(REFILLS)

    def known_quick_keys(self, keys: Collection[str]) -> set[str]:
        """Those of `keys` that some content has."""
        found: set[str] = set()
        key_list = list(keys)
        for start in range(0, len(key_list), 500):
            chunk = [packed_digest(key) for key in key_list[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT quick FROM contents WHERE quick IN ({marks})", chunk)
            found.update(str(digest_of(row[0])) for row in rows)
        return found

    def set_quick_key(self, content_id: int, quick: str) -> None:
        """Give a content from before quick keys its key."""
        self.db.execute(
            "UPDATE contents SET quick = ? WHERE id = ? AND quick IS NULL",
            (packed_digest(quick), content_id),
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

    def live_vector_ids(self) -> NDArray[np.int64]:
        """The contents with a present file and a vector, in order: what a recluster or a
        search reads (a catalog put back from its copy lacks the vectors it lost until they
        are embedded again)."""
        rows = self.db.execute(
            """SELECT DISTINCT f.content_id FROM files f
               JOIN vectors v ON v.content_id = f.content_id
               WHERE f.status = ? ORDER BY f.content_id""",
            (Status.OK.value,),
        )
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def _by_id(self, query: str, ids: Sequence[int] | NDArray[np.int64]) -> dict[int, Any]:
        """Column 2 of `query` (which selects id, value WHERE id IN ({marks})) by id, for these
        ids only, a chunk of ids at a time."""
        return dict(self._rows_of(query, ids))

    def _rows_of(
        self, query: str, ids: Collection[int] | NDArray[np.int64], *after: object
    ) -> Iterator[Any]:
        """The rows of `query` (WHERE ... IN ({marks}), then `after`'s parameters) for these
        ids only, a chunk of ids at a time."""
        id_list = [int(i) for i in ids]
        for start in range(0, len(id_list), ID_CHUNK):
            chunk = id_list[start : start + ID_CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self.db.execute(query.format(marks=marks), (*chunk, *after)).fetchall()

    def vectors(self, ids: Sequence[int] | NDArray[np.int64]) -> NDArray[np.float32]:
        """Stored vectors for `ids`, in that order, decoded to float32: for a few ids (a chunk
        of arrivals, a search's query); many are read as `codes`."""
        if not len(ids):
            return np.zeros((0, 0), np.float32)
        codes = self.codes_of(ids)
        return codes.take(np.arange(len(codes)))

    def codes_of(self, ids: Sequence[int] | NDArray[np.int64]) -> Codes:
        """The codes of a few `ids`, in that order, looked up by id (`codes` reads the table
        through). Raises KeyError for an id without a vector."""
        found = self._by_id(
            "SELECT content_id, code FROM vectors WHERE content_id IN ({marks})", ids
        )
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise KeyError(f"no content with id {missing[0]} in the catalog")
        if not len(ids):
            return Codes(np.empty(0, np.int64), np.empty((0, code_size(0)), np.uint8))
        codes = unpack_all(found[int(i)] for i in ids)
        return Codes(np.asarray(ids, dtype=np.int64), codes)

    def code_chunks(self, ids: NDArray[np.int64], size: int = SCAN_CHUNK) -> Iterator[Codes]:
        """The codes of `ids` (sorted, unique) in id order, `size` at a time: one pass over the
        vectors table that skips the others. Raises KeyError for an id without a vector."""
        cursor = self.db.execute("SELECT content_id, code FROM vectors ORDER BY content_id")
        taken = 0
        while taken < len(ids) and (rows := cursor.fetchmany(size)):
            found = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            wanted = ids[taken : taken + np.searchsorted(ids[taken:], found[-1], side="right")]
            keep = np.flatnonzero(np.isin(found, wanted, assume_unique=True))
            if len(keep) != len(wanted):
                missing = np.setdiff1d(wanted, found)
                raise KeyError(f"no vector for content {missing[0]} in the catalog")
            taken += len(wanted)
            if len(keep):
                yield Codes(found[keep], unpack_all(rows[i][1] for i in keep))
        cursor.close()
        if taken < len(ids):
            raise KeyError(f"no vector for content {ids[taken]} in the catalog")

    def codes_after(self, watermark: int, size: int = SCAN_CHUNK) -> Iterator[Codes]:
        """The codes of every content with an id above `watermark`, in id order, `size` at a
        time (the search index's catch-up)."""
        cursor = self.db.execute(
            "SELECT content_id, code FROM vectors WHERE content_id > ? ORDER BY content_id",
            (watermark,),
        )
        while rows := cursor.fetchmany(size):
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            yield Codes(ids, unpack_all(row[1] for row in rows))
        cursor.close()

    def hash_of(self, content_id: int) -> str | None:
        """The content hash of one content id; None if there is no such content."""
        row = self.db.execute("SELECT hash FROM contents WHERE id = ?", (content_id,)).fetchone()
        return None if row is None else digest_of(row[0])

    def vector_ids(self) -> NDArray[np.int64]:
        """The ids of every content with a vector, in order."""
        rows = self.db.execute("SELECT content_id FROM vectors ORDER BY content_id")
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def vector_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def vector_count_after(self, watermark: int) -> int:
        query = "SELECT COUNT(*) FROM vectors WHERE content_id > ?"
        return int(self.db.execute(query, (watermark,)).fetchone()[0])

    def last_vector_id(self) -> int:
        return int(self.db.execute("SELECT MAX(content_id) FROM vectors").fetchone()[0] or 0)

    def codes(self, ids: NDArray[np.int64]) -> Codes:
        """The codes of `ids` (sorted, unique) in one array: 1.29 GB for a million at d=1280,
        where float32 vectors would take 5.1 GB."""
        matrix: NDArray[np.uint8] | None = None
        at = 0
        for chunk in self.code_chunks(ids):
            if matrix is None:
                matrix = np.empty((len(ids), chunk.codes.shape[1]), dtype=np.uint8)
            matrix[at : at + len(chunk)] = chunk.codes
            at += len(chunk)
        if matrix is None:
            matrix = np.empty((0, code_size(int(self.meta("dim") or 0))), dtype=np.uint8)
        return Codes(np.asarray(ids, dtype=np.int64), matrix)

    def top_classes(self, ids: Sequence[int] | NDArray[np.int64]) -> list[int | None]:
        found = self._by_id("SELECT id, top_class FROM contents WHERE id IN ({marks})", ids)
        return [found.get(int(i)) for i in ids]

    def album_ids(self, ids: Sequence[int] | NDArray[np.int64]) -> list[int | None]:
        found = self._by_id("SELECT id, album_id FROM contents WHERE id IN ({marks})", ids)
        return [found.get(int(i)) for i in ids]

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
        """Live contents with a vector not yet in any album: found by the album index (a few
        rows), each checked for a present file (a join let SQLite read every live file by
        status: 0.24 s a call at a million photos, once per arrival) and a vector (one a
        restore lost is filed once it is embedded again)."""
        rows = self.db.execute(
            """SELECT c.id FROM contents c WHERE c.album_id IS NULL AND EXISTS (
                   SELECT 1 FROM files f WHERE f.content_id = c.id AND f.status = ?)
               AND EXISTS (SELECT 1 FROM vectors v WHERE v.content_id = c.id)
               ORDER BY c.id""",
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
               WHERE f.status = ? AND NOT EXISTS
               (SELECT 1 FROM next_vectors n WHERE n.content_id = c.id) ORDER BY c.id LIMIT ?""",
            (Status.OK.value, limit),
        )
        return [row[0] for row in rows]

    def count_next_vectors(self) -> tuple[int, int]:
        """Live contents with a vector from the next model, and live contents in all."""
        row = self.db.execute(
            """SELECT COUNT(n.content_id), COUNT(*) FROM contents c
               LEFT JOIN next_vectors n ON n.content_id = c.id
               WHERE c.id IN (SELECT content_id FROM files WHERE status = ?)""",
            (Status.OK.value,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def set_next_vectors(self, ids: Sequence[int], vectors: NDArray[np.float32]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO next_vectors (content_id, code) VALUES (?, ?)",
            ((int(i), to_code(v)) for i, v in zip(ids, vectors, strict=True)),
        )

    def clear_next_vectors(self) -> None:
        self.db.execute("DELETE FROM next_vectors")

    def take_next_vectors(self) -> int:
        """Make the next model's vectors the vectors. Contents without one have no file left
        (a switch completes only then): their files forget them and they go, so that no
        vector of the old model stays behind. Returns how many went."""
        lacking = "SELECT id FROM contents WHERE id NOT IN (SELECT content_id FROM next_vectors)"
        self.db.execute(f"UPDATE files SET content_id = NULL WHERE content_id IN ({lacking})")
        gone = self.db.execute(f"DELETE FROM contents WHERE id IN ({lacking})").rowcount
        self.db.execute("DELETE FROM vectors")
        self.db.execute("INSERT INTO vectors SELECT content_id, code FROM next_vectors")
        self.db.execute("DELETE FROM next_vectors")
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

    def live_of(self, ids: Sequence[int] | NDArray[np.int64]) -> set[int]:
        """Those of `ids` with at least one present (ok) file."""
        query = (  # +status: by content id (a few rows), never the status index (all of them)
            "SELECT content_id, 1 FROM files WHERE content_id IN ({marks}) "
            f"AND +status = '{Status.OK.value}'"
        )
        return set(self._by_id(query, ids))

    def live_members(self, album_ids: Collection[int]) -> dict[int, int]:
        """The live contents of these albums: content id -> album id, in id order per album;
        only those albums' rows are read."""
        found: dict[int, int] = {}
        for album in album_ids:
            rows = self.db.execute(
                """SELECT DISTINCT c.id FROM contents c JOIN files f ON f.content_id = c.id
                   WHERE c.album_id = ? AND +f.status = ? ORDER BY c.id""",
                (album, Status.OK.value),
            )
            found.update((row[0], album) for row in rows)
        return found

    def albums_with_members(self) -> set[int]:
        """The albums with at least one live photo: those the album tree shows."""
        rows = self.db.execute(
            """SELECT a.id FROM albums a WHERE EXISTS (
                   SELECT 1 FROM contents c JOIN files f ON f.content_id = c.id
                   WHERE c.album_id = a.id AND +f.status = ?)""",
            (Status.OK.value,),
        )
        return {row[0] for row in rows}

    def albums_of(self, paths: Collection[Path], besides: Collection[int] = ()) -> set[int]:
        """The albums that the live photos at `paths`, or below them for a folder, are in;
        those of contents `besides` left out."""
        found: set[int] = set()
        query = """SELECT c.album_id, c.id FROM files f JOIN contents c ON f.content_id = c.id
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
            found.update(album for album, content in rows if content not in besides)
        return found

    def arrival_rows(self, ids: Collection[int]) -> dict[int, list[_Row]]:
        """The live photos of contents `ids` by album, as (path, distance): what arrivals add
        to the album tree, looked up by id."""
        query = """SELECT f.path, c.album_id, c.distance FROM contents c
                   JOIN files f ON f.content_id = c.id
                   WHERE c.id IN ({marks}) AND +f.status = ? AND c.album_id IS NOT NULL"""
        members: dict[int, list[_Row]] = {}
        for path, album, distance in self._rows_of(query, sorted(set(ids)), Status.OK.value):
            members.setdefault(album, []).append((os.fsdecode(path), float(distance or 0.0)))
        return members
