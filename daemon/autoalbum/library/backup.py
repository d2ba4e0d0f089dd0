"""The catalog's kept copy: one file in the state folder, taken after each successful recluster
with SQLite's backup API and put back by `autoalbum restore` when the catalog is damaged.

The copy is written beside it under a temporary name, converted to a self-contained file (no
WAL), checked (`PRAGMA quick_check`) and fsync'd, and only then renamed over the old copy: the
old copy stays whole until a new one is. A copy that can't be taken (the disk too full, a
failed write, a catalog that fails the check) is logged and the old copy kept; the recluster
it follows stands. The copy is taken in one backup step, a single read transaction: in WAL mode
writers go on meanwhile (copied page by page, each commit by another connection would restart
it, and at a million photos arrivals could keep it from ever finishing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from autoalbum.durable import fsync_folder
from autoalbum.faults import Fault, fault_of
from autoalbum.library.integrity import damage
from autoalbum.printable import moment

log = logging.getLogger(__name__)

BACKUP_NAME = "catalog.backup.sqlite"  # in the state folder, beside the catalog
# Space the copy leaves free for the catalog's own writes; short of it, no copy is taken.
RESERVE_BYTES = 64 * 1024 * 1024
STALE_SECONDS = 600  # a temporary copy this old was left by a process that died taking it
MB = 1e6


@dataclass(frozen=True)
class KeptCopy:
    path: Path
    taken: float  # seconds since the epoch
    size: int  # bytes

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
    """The copy kept in `state`, if there is one."""
    path = state / BACKUP_NAME
    try:
        info = path.stat()
    except OSError:
        return None
    return KeptCopy(path, info.st_mtime, info.st_size)


def take_copy(db: sqlite3.Connection, state: Path, reserve: int = RESERVE_BYTES) -> KeptCopy | None:
    """Replace the copy in `state` with one of the catalog open as `db` (outside a
    transaction), leaving `reserve` bytes free; None, the old copy kept, when it can't be taken
    (the reason is logged)."""
    remove_stale_copies(state)
    started = time.monotonic()
    temp = state / f".{BACKUP_NAME}.{secrets.token_hex(4)}.tmp"
    try:
        if short := _short_of_space(db, state, reserve):
            _kept_old(state, short, full=True)
            return None
        _write(db, temp)
        os.replace(temp, state / BACKUP_NAME)
    except (sqlite3.Error, OSError) as error:
        _kept_old(state, str(error), full=fault_of(error) is Fault.FULL)
        return None
    finally:
        temp.unlink(missing_ok=True)
    fsync_folder(state)
    copy = kept_copy(state)
    log.info("kept a copy of the catalog (%.0f MB) in %.1f s", copy.size / MB if copy else 0,
             time.monotonic() - started)  # fmt: skip
    return copy


def remove_stale_copies(state: Path) -> None:
    """Delete temporary copies left by a process that died while taking one."""
    for temp in state.glob(f".{BACKUP_NAME}.*.tmp*"):
        with contextlib.suppress(OSError):
            if time.time() - temp.stat().st_mtime > STALE_SECONDS:
                temp.unlink()
                log.info("removed %s, a copy of the catalog left unfinished", temp)


def _short_of_space(db: sqlite3.Connection, state: Path, reserve: int) -> str | None:
    """Why a copy would leave less than `reserve` bytes free on the disk of `state`, if so."""
    pages, page_size = (
        db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size")
    )
    size, free = pages * page_size, shutil.disk_usage(state).free
    if free >= size + reserve:
        return None
    return (
        f"it needs {size / MB:,.0f} MB and {reserve / MB:,.0f} MB left free, and the disk has "
        f"{free / MB:,.0f} MB free"
    )


def _write(db: sqlite3.Connection, temp: Path) -> None:
    """The whole catalog into `temp`, on disk, a file on its own that passes quick_check."""
    copy = sqlite3.connect(temp, isolation_level=None)
    try:
        copy.execute("PRAGMA journal_mode=OFF")  # a failed copy is deleted, not rolled back
        db.backup(copy)  # one step: see the module's docstring
        copy.execute("PRAGMA journal_mode=DELETE")  # no WAL: the copy is one file
        if problem := damage(copy):
            raise sqlite3.DatabaseError(f"the copy fails its check ({problem})")
    finally:
        copy.close()
    handle = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _kept_old(state: Path, reason: str, *, full: bool) -> None:
    old = kept_copy(state)
    kept = f"kept the copy of {old.describe()}" if old else "no copy is kept yet"
    advice = f"; free some space on the disk of {state}" if full else ""
    log.warning("could not take a copy of the catalog (%s): %s, which is what autoalbum restore "
                "puts back if the catalog is ever damaged%s", reason, kept, advice)  # fmt: skip
