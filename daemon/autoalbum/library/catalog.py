"""The library's catalog in SQLite: files, their contents (one vector each), albums, runs and
the user's corrections; the queries of each table are in library/tables/.

The catalog is the library's one store, vectors included. Identical files share one `contents`
row, so a duplicate is embedded once; a file's album is its content's album. Each vector is a
byte per dimension (library/codes.py), deflated, in the narrow `vectors` table: 1,288 bytes at
d=1280 stored in about 800 (four or five to a 4 KB page), the whole catalog about 1.4 KB a
photo. Nothing reads all of them but a recluster, a search and `duplicates`, each when it runs.
Paths are stored as the bytes the kernel gave (BLOBs), so any file name fits, compares and sorts
byte by byte.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autoalbum.errors import AutoalbumError
from autoalbum.library.records import AlbumRecord, FileRecord, RunRecord, Status
from autoalbum.library.schema import COMPACT_AFTER, CONVERSIONS, MIGRATIONS, SCHEMA_VERSION
from autoalbum.library.tables.albums import Albums
from autoalbum.library.tables.contents import Contents
from autoalbum.library.tables.corrections import Corrections
from autoalbum.library.tables.files import Files

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


class Catalog(Files, Contents, Albums, Corrections):
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
                if target in CONVERSIONS:
                    CONVERSIONS[target](self.db)
                self.db.execute(f"PRAGMA user_version={target}")
        if version and COMPACT_AFTER & set(range(version + 1, SCHEMA_VERSION + 1)):
            log.info("compacting catalog %s (once, after its migration)", self.path)
            self.db.execute("VACUUM")

    # runs

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
