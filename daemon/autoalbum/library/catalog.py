"""The library's catalog in SQLite: files, their contents (one vector each), albums and runs.

The catalog is the source of truth. Identical files share one `contents` row, so a duplicate is
embedded once; a file's album is its content's album. Vectors are stored as float16 blobs, which
halves the disk and lets the FAISS index be rebuilt from here after a crash. Paths are stored as
the bytes the kernel gave (BLOBs), so any file name fits, compares and sorts byte by byte.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.tree import Member
from autoalbum.errors import AutoalbumError
from autoalbum.library.records import AlbumRecord, FileRecord, RunRecord, Status
from autoalbum.library.schema import MIGRATIONS, SCHEMA_VERSION

# The records are the catalog's vocabulary: callers may take them from here or from records.
__all__ = [
    "CATALOG_NAME",
    "AlbumRecord",
    "Catalog",
    "CatalogError",
    "FileRecord",
    "RunRecord",
    "Status",
]

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.sqlite"  # in the library's state folder


class CatalogError(AutoalbumError):
    """The catalog file can't be opened or is from a newer autoalbum."""


def to_blob(vector: NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype="<f2").tobytes()


def from_blob(blob: bytes) -> NDArray[np.float32]:
    return np.frombuffer(blob, dtype="<f2").astype(np.float32)


def _stored(path: Path) -> bytes:
    """A path as the catalog stores it: its bytes, undecodable ones included (PEP 383)."""
    return os.fsencode(path)


def _path(stored: bytes) -> Path:
    return Path(os.fsdecode(stored))


def _file(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        _path(row["path"]),
        row["size"],
        row["mtime_ns"],
        row["hash"],
        Status(row["status"]),
        row["reason"],
        row["content_id"],
    )


class Catalog:
    """One SQLite file (WAL mode); use as a context manager, one instance per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot open the catalog {path}: {exc}") from exc

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"the catalog {self.path} has schema {version}, newer than this autoalbum "
                f"understands ({SCHEMA_VERSION}); upgrade autoalbum"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            log.info("migrating catalog %s to schema %d", self.path, target)
            with self.transaction():
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={target}")

    # files

    def file(self, path: Path) -> FileRecord | None:
        row = self.db.execute("SELECT * FROM files WHERE path = ?", (_stored(path),)).fetchone()
        return _file(row) if row else None

    def files(self, status: Status | None = None) -> list[FileRecord]:
        if status is None:
            rows = self.db.execute("SELECT * FROM files ORDER BY path")
        else:
            rows = self.db.execute(
                "SELECT * FROM files WHERE status = ? ORDER BY path", (status.value,)
            )
        return [_file(row) for row in rows]

    def put_file(self, record: FileRecord) -> None:
        self.db.execute(
            """INSERT INTO files (path, size, mtime_ns, hash, status, reason, content_id,
                                  updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(path) DO UPDATE SET size = excluded.size,
                   mtime_ns = excluded.mtime_ns, hash = excluded.hash,
                   status = excluded.status, reason = excluded.reason,
                   content_id = excluded.content_id, updated_at = excluded.updated_at""",
            (
                _stored(record.path),
                record.size,
                record.mtime_ns,
                record.hash,
                record.status.value,
                record.reason,
                record.content_id,
                time.time(),
            ),
        )

    def mark_missing(self, paths: Iterable[Path]) -> int:
        missing = Status.MISSING.value
        cursor = self.db.executemany(
            "UPDATE files SET status = ?, updated_at = ? WHERE path = ? AND status != ?",
            ((missing, time.time(), _stored(p), missing) for p in paths),
        )
        return cursor.rowcount

    def mark_missing_under(self, folder: Path) -> int:
        """Mark every present file below `folder` missing (the folder was deleted)."""
        prefix = _stored(folder).rstrip(b"/") + b"/"
        missing = Status.MISSING.value
        cursor = self.db.execute(
            "UPDATE files SET status = ?, updated_at = ? "
            "WHERE substr(path, 1, ?) = ? AND status != ?",
            (missing, time.time(), len(prefix), prefix, missing),
        )
        return cursor.rowcount

    def count_files(self) -> dict[Status, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM files GROUP BY status")
        counts = dict.fromkeys(Status, 0)
        counts.update({Status(status): n for status, n in rows})
        return counts

    # contents

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

    def duplicate_groups(self) -> list[list[Path]]:
        """Present files that share identical content, two or more per group."""
        groups: dict[int, list[Path]] = {}
        for content_id, path in self.db.execute(
            """SELECT content_id, path FROM files WHERE status = ? AND content_id IN
               (SELECT content_id FROM files WHERE status = ? GROUP BY content_id
                HAVING COUNT(*) > 1) ORDER BY content_id, path""",
            (Status.OK.value, Status.OK.value),
        ):
            groups.setdefault(content_id, []).append(_path(path))
        return list(groups.values())

    def paths_of(self, content_id: int) -> list[Path]:
        rows = self.db.execute(
            "SELECT path FROM files WHERE content_id = ? AND status = ? ORDER BY path",
            (content_id, Status.OK.value),
        )
        return [_path(row[0]) for row in rows]

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
            members[album].append(Member(_path(path), float(distance or 0.0)))
        return dict(members)

    # albums

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
            )
            for row in rows
        ]

    def add_album(
        self, number: int, name: str, centroid: NDArray[np.float32] | None, user_named: bool
    ) -> int:
        now = time.time()
        cursor = self.db.execute(
            """INSERT INTO albums (number, name, user_named, centroid, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (number, name, int(user_named), _maybe_blob(centroid), now, now),
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
            (name, _maybe_blob(centroid), int(user_named), time.time(), album_id),
        )

    def delete_albums(self, album_ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM albums WHERE id = ?", ((i,) for i in album_ids))

    def next_album_number(self) -> int:
        """One past the highest number ever used, so numbers are never reused."""
        return int(self.meta("max_album_number") or 0) + 1

    # tags: what each photo's sidecar was last tagged with

    def tagged(self) -> dict[Path, str]:
        """Photo -> the album label its sidecar's keywords name."""
        return {
            _path(path): label for path, label in self.db.execute("SELECT path, label FROM tagged")
        }

    def set_tagged(self, labels: Mapping[Path, str | None]) -> None:
        """Record each photo's label; None: its sidecar carries none of ours any more."""
        self.db.executemany(
            "INSERT INTO tagged (path, label) VALUES (?, ?) "
            "ON CONFLICT(path) DO UPDATE SET label = excluded.label",
            ((_stored(p), label) for p, label in labels.items() if label is not None),
        )
        self.db.executemany(
            "DELETE FROM tagged WHERE path = ?",
            ((_stored(p),) for p, label in labels.items() if label is None),
        )

    def clear_tagged(self) -> None:
        self.db.execute("DELETE FROM tagged")

    def tag_changes(self, unsorted_number: int) -> dict[Path, str | None]:
        """Photos whose album name differs from the label recorded: each live photo's album
        name (None in the unsorted album), and None for recorded photos that left every album.
        Compared here rather than in Python: in a large library, few rows differ."""
        ok = Status.OK.value
        rows = self.db.execute(
            """SELECT path, now FROM (
                   SELECT f.path, CASE WHEN a.number = ? THEN NULL ELSE a.name END AS now,
                          t.label AS was
                   FROM files f JOIN contents c ON f.content_id = c.id
                   JOIN albums a ON a.id = c.album_id LEFT JOIN tagged t ON t.path = f.path
                   WHERE f.status = ?)
               WHERE now IS NOT was
               UNION ALL
               SELECT t.path, NULL FROM tagged t WHERE NOT EXISTS (
                   SELECT 1 FROM files f JOIN contents c ON f.content_id = c.id
                   WHERE f.path = t.path AND f.status = ? AND c.album_id IS NOT NULL)""",
            (unsorted_number, ok, ok),
        )
        return {_path(path): label for path, label in rows}

    # meta and runs

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def record_run(self, run: RunRecord) -> None:
        self.db.execute(
            """INSERT INTO runs (kind, started_at, seconds, images, k, score, method)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (run.kind, run.started_at, run.seconds, run.images, run.k, run.score, run.method),
        )

    def last_run(self, kind: str) -> RunRecord | None:
        row = self.db.execute(
            "SELECT * FROM runs WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
        ).fetchone()
        if row is None:
            return None
        return RunRecord(
            row["kind"], row["started_at"], row["seconds"], row["images"], row["k"],
            row["score"], row["method"],
        )  # fmt: skip


def _maybe_blob(vector: NDArray[np.float32] | None) -> bytes | None:
    return None if vector is None else to_blob(vector)
