"""The catalog's kept copy: one file in the state folder, taken after each successful recluster
and put back by `autoalbum restore` (restore.py) when the catalog is damaged.

The copy holds every table but the vectors, compressed, and its indexes as statements: about
135 bytes a photo, an eighth of the catalog. The vectors are what the photos give again: a
restore takes each one the damaged catalog still yields, and the photos whose vector it lost
are embedded again (their albums, names and corrections come from the copy). A whole copy
doubled the state folder (2.9 KB a photo rather than 1.45).

It is written from its own connection to the catalog in one read transaction (in WAL mode
writers go on meanwhile): the tables' rows into a new SQLite file attached to it, the indexes'
statements into a table of its own (a restore makes them again), then checked (`PRAGMA
quick_check`) and gzip'd over the old copy with durable.replacing (a temporary name, fsync,
rename): the old copy stays whole until a new one is.
A copy that can't be taken (the disk too full, a failed write, a copy that fails the check) is
logged and the old copy kept; the recluster it follows stands.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from autoalbum.durable import fsync_folder, replacing
from autoalbum.faults import Fault, fault_of
from autoalbum.library.integrity import damage
from autoalbum.library.schema import PAGE_SIZE
from autoalbum.printable import moment

log = logging.getLogger(__name__)

BACKUP_NAME = "catalog.backup.sqlite.gz"  # in the state folder, beside the catalog
WHOLE_NAME = "catalog.backup.sqlite"  # a whole copy, vectors and all (before schema 12)
LEFT_OUT = ("vectors", "next_vectors")  # tables the copy has empty: the photos give them again
INDEXES = "kept_indexes"  # the copy's table of the catalog's CREATE INDEX statements
GZIP_LEVEL = 1  # 130 bytes a photo, 0.4 s per 100,000 photos; level 6 saves 2% in 3 times that
# The copy's share of the catalog's size, at most: what it needs free while it is written.
SHARE = 0.5
# Space the copy leaves free for the catalog's own writes; short of it, no copy is taken.
RESERVE_BYTES = 64 * 1024 * 1024
STALE_SECONDS = 600  # a temporary copy this old was left by a process that died taking it
MB = 1e6


@dataclass(frozen=True)
class KeptCopy:
    path: Path
    taken: float  # seconds since the epoch
    size: int  # bytes

    @property
    def whole(self) -> bool:
        """An older autoalbum's copy: the whole catalog as it was, vectors and indexes too."""
        return self.path.name == WHOLE_NAME

    def describe(self) -> str:
        """`2025-01-02 14:03 (3 h ago)`."""
        minutes = (time.time() - self.taken) / 60
        if minutes < 120:
            ago = f"{minutes:.0f} min"
        elif minutes < 48 * 60:
            ago = f"{minutes / 60:.0f} h"
        else:
            ago = f"{minutes / (24 * 60):.0f} days"
        return f"{moment(self.taken)} ({ago} ago)"


def kept_copy(state: Path) -> KeptCopy | None:
    """The copy kept in `state`, if there is one (the newer, where an old whole copy is left)."""
    copies = []
    for name in (BACKUP_NAME, WHOLE_NAME):
        with contextlib.suppress(OSError):
            info = (state / name).stat()
            copies.append(KeptCopy(state / name, info.st_mtime, info.st_size))
    return max(copies, key=lambda copy: copy.taken, default=None)


def take_copy(db: sqlite3.Connection, state: Path, reserve: int = RESERVE_BYTES) -> KeptCopy | None:
    """Replace the copy in `state` with one of the catalog open as `db` (outside a
    transaction), leaving `reserve` bytes free; None, the old copy kept, when it can't be taken
    (the reason is logged)."""
    remove_stale_copies(state)
    started = time.monotonic()
    tables = state / f".{BACKUP_NAME}.{secrets.token_hex(4)}.tmp.sqlite"
    try:
        if short := _short_of_space(db, state, reserve):
            _kept_old(state, short, full=True)
            return None
        _write_tables(_catalog_path(db), tables)
        _compress(tables, state / BACKUP_NAME)
        (state / WHOLE_NAME).unlink(missing_ok=True)
    except (sqlite3.Error, OSError) as error:
        _kept_old(state, str(error), full=fault_of(error) is Fault.FULL)
        return None
    finally:
        tables.unlink(missing_ok=True)
    fsync_folder(state)
    copy = kept_copy(state)
    log.info("kept a copy of the catalog (%.0f MB) in %.1f s", copy.size / MB if copy else 0,
             time.monotonic() - started)  # fmt: skip
    return copy


def remove_stale_copies(state: Path) -> None:
    """Delete temporary copies left by a process that died while taking one."""
    for name in (BACKUP_NAME, WHOLE_NAME):
        for temp in state.glob(f".{name}.*.tmp*"):
            with contextlib.suppress(OSError):
                if time.time() - temp.stat().st_mtime > STALE_SECONDS:
                    temp.unlink()
                    log.info("removed %s, a copy of the catalog left unfinished", temp)


def _short_of_space(db: sqlite3.Connection, state: Path, reserve: int) -> str | None:
    """Why a copy would leave less than `reserve` bytes free on the disk of `state`, if so."""
    pages, page_size = (
        db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size")
    )
    size, free = int(pages * page_size * SHARE), shutil.disk_usage(state).free
    if free >= size + reserve:
        return None
    return (
        f"it needs {size / MB:,.0f} MB and {reserve / MB:,.0f} MB left free, and the disk has "
        f"{free / MB:,.0f} MB free"
    )


def _catalog_path(db: sqlite3.Connection) -> Path:
    """The file of the catalog open as `db`."""
    return Path(next(row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main"))


def _write_tables(catalog: Path, temp: Path) -> None:
    """Every table of `catalog` but those LEFT_OUT (made, empty) into `temp`, then its indexes:
    a file on its own that passes quick_check."""
    db = sqlite3.connect(catalog, timeout=30, isolation_level=None)
    try:
        db.execute("ATTACH DATABASE ? AS kept", (str(temp),))
        db.execute("PRAGMA kept.journal_mode=OFF")  # a failed copy is deleted, not rolled back
        db.execute(f"PRAGMA kept.page_size={PAGE_SIZE}")  # the catalog's, once put back
        db.execute("BEGIN")  # one snapshot of the catalog for every table
        schema = db.execute(
            "SELECT type, name, sql FROM main.sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', rowid"
        ).fetchall()
        db.execute(f"CREATE TABLE kept.{INDEXES} (sql TEXT NOT NULL)")
        for kind, name, sql in schema:
            if kind == "index":  # made again by a restore: 40 bytes a photo less to keep
                db.execute(f"INSERT INTO kept.{INDEXES} (sql) VALUES (?)", (sql,))
                continue
            db.execute(_in_kept(sql))
            if name not in LEFT_OUT:
                db.execute(f'INSERT INTO kept."{name}" SELECT * FROM main."{name}"')
        user_version = db.execute("PRAGMA main.user_version").fetchone()[0]
        db.execute(f"PRAGMA kept.user_version={int(user_version)}")
        db.execute("COMMIT")
        db.execute("DETACH DATABASE kept")
    finally:
        db.close()
    copy = sqlite3.connect(temp, isolation_level=None)
    try:
        copy.execute("PRAGMA journal_mode=DELETE")  # no WAL: the copy is one file
        if problem := damage(copy):
            raise sqlite3.DatabaseError(f"the copy fails its check ({problem})")
    finally:
        copy.close()


def _in_kept(sql: str) -> str:
    """A CREATE TABLE statement of the catalog, made in the attached copy."""
    return re.sub(r"^CREATE TABLE ", "CREATE TABLE kept.", sql, count=1)


def put_back_indexes(db: sqlite3.Connection) -> None:
    """Make the indexes a copy records (it keeps their statements, not their pages)."""
    for (sql,) in db.execute(f"SELECT sql FROM {INDEXES}").fetchall():
        db.execute(sql)
    db.execute(f"DROP TABLE {INDEXES}")


def _compress(tables: Path, path: Path) -> None:
    """`tables` gzip'd into `path`, replacing it whole (durable.replacing)."""
    with tables.open("rb") as source, replacing(path) as target:
        zipped = gzip.GzipFile(fileobj=target, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
        with zipped:
            shutil.copyfileobj(source, zipped, 1024 * 1024)


def _kept_old(state: Path, reason: str, *, full: bool) -> None:
    old = kept_copy(state)
    kept = f"kept the copy of {old.describe()}" if old else "no copy is kept yet"
    advice = f"; free some space on the disk of {state}" if full else ""
    log.warning("could not take a copy of the catalog (%s): %s, which is what autoalbum restore "
                "puts back if the catalog is ever damaged%s", reason, kept, advice)  # fmt: skip
