"""The `files` table: every file seen under the photo folders, its size, mtime, hash and state."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from autoalbum.library.records import FileRecord, Status
from autoalbum.library.tables import Table, digest_of, packed_digest, path_of, stored

PATH_CHUNK = 500  # paths per IN (...) query


def _file(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        path_of(row["path"]),
        row["size"],
        row["mtime_ns"],
        digest_of(row["hash"]),
        Status(row["status"]),
        row["reason"],
        row["content_id"],
    )


class Files(Table):
    def file(self, path: Path) -> FileRecord | None:
        row = self.db.execute("SELECT * FROM files WHERE path = ?", (stored(path),)).fetchone()
        return _file(row) if row else None

    def sizes_and_times(self, paths: Sequence[Path]) -> dict[bytes, tuple[int, int, str]]:
        """(size, mtime_ns, status) by stored path of those of `paths` the catalog knows,
        PATH_CHUNK paths a query: a folder scan's one look per file (was a query each)."""
        found: dict[bytes, tuple[int, int, str]] = {}
        raw = [stored(path) for path in paths]
        for start in range(0, len(raw), PATH_CHUNK):
            chunk = raw[start : start + PATH_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT path, size, mtime_ns, status FROM files WHERE path IN ({marks})", chunk
            )
            found.update((row[0], (row[1], row[2], row[3])) for row in rows)
        return found

    def files(self, status: Status | None = None) -> list[FileRecord]:
        if status is None:
            rows = self.db.execute("SELECT * FROM files ORDER BY path")
        else:
            rows = self.db.execute(
                "SELECT * FROM files WHERE status = ? ORDER BY path", (status.value,)
            )
        return [_file(row) for row in rows]

    def known_paths(self) -> Iterator[bytes]:
        """The stored path of every file not known to be missing, one at a time: a library's
        million rows are never held as records at once."""
        rows = self.db.execute("SELECT path FROM files WHERE status != ?", (Status.MISSING.value,))
        for (path,) in rows:
            yield path

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
                stored(record.path),
                record.size,
                record.mtime_ns,
                packed_digest(record.hash),
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
            ((missing, time.time(), stored(p), missing) for p in paths),
        )
        return cursor.rowcount

    def mark_missing_under(self, folder: Path) -> int:
        """Mark every present file below `folder` missing (the folder was deleted)."""
        prefix = stored(folder).rstrip(b"/") + b"/"
        missing = Status.MISSING.value
        cursor = self.db.execute(
            "UPDATE files SET status = ?, updated_at = ? "
            "WHERE substr(path, 1, ?) = ? AND status != ?",
            (missing, time.time(), len(prefix), prefix, missing),
        )
        return cursor.rowcount

    def live_under(self, folder: Path) -> int:
        """How many files below `folder` are not known to be missing (an index range)."""
        low, high = _below(folder)
        row = self.db.execute(
            "SELECT COUNT(*) FROM files WHERE path >= ? AND path < ? AND status != ?",
            (low, high, Status.MISSING.value),
        ).fetchone()
        return int(row[0])

    def some_live_under(self, folder: Path, limit: int) -> list[Path]:
        """Up to `limit` files below `folder` not known to be missing, chosen at random."""
        low, high = _below(folder)
        rows = self.db.execute(
            "SELECT path FROM files WHERE path >= ? AND path < ? AND status != ? "
            "ORDER BY random() LIMIT ?",
            (low, high, Status.MISSING.value, limit),
        )
        return [path_of(raw) for (raw,) in rows]

    def count_files(self) -> dict[Status, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM files GROUP BY status")
        counts = dict.fromkeys(Status, 0)
        counts.update({Status(status): n for status, n in rows})
        return counts


def _below(folder: Path) -> tuple[bytes, bytes]:
    """Bounds of the stored paths below `folder`: from its bytes and "/" up to "0", the next
    byte."""
    prefix = stored(folder).rstrip(b"/")
    return prefix + b"/", prefix + b"0"
