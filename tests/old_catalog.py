"""Catalogs as older autoalbums wrote them, made from a current one, for migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from autoalbum.library.codes import from_code
from autoalbum.library.schema import MIGRATIONS

TABLES = ("meta", "files", "runs")  # the same columns at schema 5
ALBUM_COLUMNS = "id, number, name, user_named, centroid, created_at, updated_at"  # schema 5's


def as_schema_5(catalog: Path) -> None:
    """Rewrite a current catalog as schema 5 had it: the same rows, each vector a float16 blob
    in contents.vector (and next_vector), as autoalbum wrote them before codes."""
    old = catalog.with_suffix(".schema5")
    db = sqlite3.connect(old, isolation_level=None)
    db.executescript("".join(MIGRATIONS[v] for v in range(1, 6)) + "PRAGMA user_version=5;")
    db.execute("ATTACH DATABASE ? AS current", (str(catalog),))
    db.execute("BEGIN")
    for table in TABLES:
        db.execute(f"INSERT INTO {table} SELECT * FROM current.{table}")
    db.execute(f"INSERT INTO albums SELECT {ALBUM_COLUMNS} FROM current.albums")
    db.execute("INSERT INTO tagged SELECT path, label FROM current.tagged")
    rows = db.execute(
        """SELECT c.id, c.hash, c.top_class, c.album_id, c.distance, c.quick, v.code, n.code
           FROM current.contents c JOIN current.vectors v ON v.content_id = c.id
           LEFT JOIN current.next_vectors n ON n.content_id = c.id"""
    ).fetchall()
    for *columns, code, next_code in rows:
        db.execute(
            """INSERT INTO contents (id, hash, top_class, album_id, distance, quick, vector,
               next_vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (*columns, _float16(code), None if next_code is None else _float16(next_code)),
        )
    db.execute("COMMIT")
    db.execute("DETACH DATABASE current")
    db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    old.replace(catalog)


def _float16(code: bytes) -> bytes:
    return np.asarray(from_code(code), dtype="<f2").tobytes()
