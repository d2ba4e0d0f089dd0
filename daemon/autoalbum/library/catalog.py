"""The library's catalog in SQLite: files, their contents (one vector each), albums, runs and
the user's corrections; the queries of each table are in library/tables/.

The catalog is the library's one store, vectors included. Identical files share one `contents`
row, so a duplicate is embedded once; a file's album is its content's album. Each vector is a
byte per dimension (library/codes.py), deflated, in the narrow `vectors` table: 1,288 bytes at
d=1280 stored in about 800 (four or five to a 4 KB page), the whole catalog about 1.4 KB a
photo. Nothing reads all of them but a recluster, a search and `duplicates`, each when it runs.
Paths are stored as the bytes the kernel gave (BLOBs), so any file name fits, compares and sorts
byte by byte. Opening checks the file (`PRAGMA quick_check`, which reads every page but decodes
nothing) and refuses a damaged one, saying how to restore its kept copy (backup.py) or rebuild.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from autoalbum.errors import AutoalbumError
from autoalbum.library.backup import kept_copy
from autoalbum.library.codes import LEVELS, decode, encode, pack, unpack_all
from autoalbum.library.integrity import damage, is_damage, read_ahead
from autoalbum.library.records import AlbumRecord, FileRecord, RunRecord, Status
from autoalbum.library.schema import (
    COMPACT_AFTER,
    CONVERSIONS,
    MIGRATIONS,
    PAGE_SIZE,
    RECODE_CHUNK,
    SCHEMA_VERSION,
)
from autoalbum.library.tables.albums import Albums
from autoalbum.library.tables.contents import CODE_LEVELS, Contents
from autoalbum.library.tables.corrections import Corrections
from autoalbum.library.tables.events import Events
from autoalbum.library.tables.faces import Faces
from autoalbum.library.tables.files import Files
from autoalbum.notify import Notifier

# The records are the catalog's vocabulary: callers may take them from here or from records.
__all__ = [
    "CATALOG_NAME",
    "AlbumRecord",
    "Catalog",
    "CatalogDamagedError",
    "CatalogError",
    "FileRecord",
    "RunRecord",
    "Status",
]

log = logging.getLogger(__name__)

REWRITE_ROOM = 64 * 1024 * 1024  # free space a one-time rewrite leaves beyond what it needs
CATALOG_NAME = "catalog.sqlite"  # in the library's state folder


class CatalogError(AutoalbumError):
    """The catalog file can't be opened or is from a newer autoalbum."""


class CatalogDamagedError(CatalogError):
    """The catalog is not a database, is cut short, fails its check, or is gone while its copy
    is kept: autoalbum won't work on it, and says how to restore the copy or rebuild."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"cannot open the catalog {path}: {problem}, and autoalbum won't "
                         f"start on a damaged catalog. {way_out(path.parent)}")  # fmt: skip
        self.path = path
        self.problem = problem


def way_out(state: Path) -> str:
    """How to get a library whose catalog is damaged working again."""
    rebuild = (
        f"move the state folder {state} aside and run `autoalbum index` to rebuild the library "
        "from the photos (every photo is embedded again)"
    )
    copy = kept_copy(state)
    if copy is None:
        return f"No copy of it is kept yet (one is taken after each recluster): {rebuild}"
    return (
        f"Put back the copy taken after the last recluster, {copy.describe()}, with `autoalbum "
        "restore` (and the same --config): photos added since are taken in again by the next "
        f"index or run, without embedding again those the copy has; corrections made since are "
        f"lost. Or {rebuild}"
    )


class Catalog(Files, Contents, Albums, Corrections, Faces, Events):
    """One SQLite file (WAL mode); use as a context manager, one instance per thread."""

    def __init__(self, path: Path, *, check: bool = True) -> None:
        """Open (and migrate) the catalog; with `check`, the first connection of a process
        reads the whole file for damage first (integrity.py: 3-4 s at a million photos), which
        a command that only reads, and fails on a damaged page anyway, can skip."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _refuse_lost(path)
        key = Path(os.path.abspath(path))
        first = _held.open(key, lambda: read_ahead(path) if check else None) and check
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except BaseException:
            _held.close(key)
            raise
        self._key: Path | None = key
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file's; see _rewrite_once
            self.db.execute("PRAGMA journal_mode=WAL")
            # SQLite's 1,000 pages of 4 KB before a checkpoint, in bytes: 4 MB of WAL, not 16
            self.db.execute(f"PRAGMA wal_autocheckpoint={4_096_000 // PAGE_SIZE}")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if first and (problem := damage(self.db)):
                raise CatalogDamagedError(path, f"it is damaged ({problem})")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            if is_damage(exc):
                raise CatalogDamagedError(path, f"it is damaged ({exc})") from exc
            raise CatalogError(f"cannot open the catalog {path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._key is not None:
            self.db.close()
            _held.close(self._key)
            self._key = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (a full disk) leaves the transaction open; SQLite may have rolled
            # back already after some errors.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

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
        if not version:  # a new catalog: its codes are the current ones
            self.set_meta(CODE_LEVELS, str(LEVELS))
        compact = bool(version and COMPACT_AFTER & set(range(version + 1, SCHEMA_VERSION + 1)))
        if not self._rewrite_once(compact) and compact:  # not alone with the file: in WAL mode
            log.info("compacting catalog %s (once, after its migration)", self.path)
            self.db.execute("VACUUM")

    def _rewrite_once(self, compact: bool) -> bool:
        """Bring an older catalog's storage up to date, once: its codes recoded in LEVELS
        steps (codes.py) and its pages made PAGE_SIZE (schema.py), then the file compacted
        (as it is anyway with `compact`, after a migration that freed much of it). That takes
        the file out of WAL mode meanwhile, which only a connection alone with it can: with
        another process on it, or short of space, it waits for a later open. At a million
        photos it takes about 1.5 min, telling systemd to wait (EXTEND_TIMEOUT_USEC). Whether
        the file was compacted."""
        recode = self.meta(CODE_LEVELS) != str(LEVELS)
        repage = self.db.execute("PRAGMA page_size").fetchone()[0] != PAGE_SIZE
        if not (recode or repage or compact):
            return False
        # VACUUM writes the whole file again beside it, and its journal as much
        needed = 2 * self.path.stat().st_size + REWRITE_ROOM
        if shutil.disk_usage(self.path.parent).free < needed:
            log.warning("not rewriting catalog %s yet: its disk has less free space than the "
                        "rewrite needs (twice the catalog); it works as it is",
                        self.path)  # fmt: skip
            return False
        try:
            if self.db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] != "delete":
                return False
        except sqlite3.OperationalError:  # locked: another connection has it open
            return False
        log.info("rewriting catalog %s in %d-step codes and %d KB pages (once; about 1.5 min at "
                 "a million photos)", self.path, LEVELS, PAGE_SIZE // 1024)  # fmt: skip
        alive = Notifier()
        self.db.set_progress_handler(alive.extend_start, 1_000_000)
        try:
            if recode:
                self._recode(alive.extend_start)
            self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self.db.execute("VACUUM")
        except sqlite3.OperationalError as error:  # a full disk: what is done stays done
            log.warning("could not finish rewriting catalog %s (%s); it works as it is, and the "
                        "next start goes on", self.path, error)  # fmt: skip
        finally:
            self.db.set_progress_handler(None, 0)
            self.db.execute("PRAGMA journal_mode=WAL")
        return True

    def _recode(self, tick: Callable[[], object]) -> None:
        """Every code of `vectors` and `next_vectors` made again in LEVELS steps, a
        transaction per chunk, `tick` after each; meta's `code_levels` says so at the end.
        Codes recoded already come out the same, so a rewrite cut short goes on later."""
        for table in ("vectors", "next_vectors"):
            last = 0
            query = f"SELECT content_id, code FROM {table} WHERE content_id > ? ORDER BY 1 LIMIT ?"
            while rows := self.db.execute(query, (last, RECODE_CHUNK)).fetchall():
                again = encode(decode(unpack_all(row[1] for row in rows)))
                with self.transaction():
                    self.db.executemany(
                        f"UPDATE {table} SET code = ? WHERE content_id = ?",
                        ((pack(c.tobytes()), row[0]) for c, row in zip(again, rows, strict=True)),
                    )
                last = int(rows[-1][0])
                tick()
        self.set_meta(CODE_LEVELS, str(LEVELS))

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


class _Held:
    """The catalogs this process has open. Closing any descriptor of a file drops every POSIX
    lock the process holds on it, SQLite's included (another process would then delete the
    WAL under the open connection, and commits with it): so the file is read ahead, and
    checked, only by the first connection; a later one (the daemon's recluster thread) finds it
    checked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[Path] = Counter()

    def open(self, path: Path, first: Callable[[], None]) -> bool:
        """Count a connection to `path`; run `first` if it is the only one. Whether it is."""
        with self._lock:
            self._counts[path] += 1
            if self._counts[path] == 1:
                first()
                return True
            return False

    def close(self, path: Path) -> None:
        with self._lock:
            self._counts[path] -= 1
            if self._counts[path] <= 0:
                del self._counts[path]


_held = _Held()


def _refuse_lost(path: Path) -> None:
    """A catalog gone or emptied while its copy is kept is damaged, not a new library: opened,
    it would start afresh, and the next recluster would replace the copy with an empty one."""
    if kept_copy(path.parent) is None:
        return
    if not path.exists():
        raise CatalogDamagedError(path, "it is missing, though its copy is kept")
    if path.stat().st_size == 0:  # a catalog SQLite has ever opened has at least its header
        raise CatalogDamagedError(path, "it is empty")
