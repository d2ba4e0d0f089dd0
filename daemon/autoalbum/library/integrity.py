"""Whether a SQLite file is damaged: what SQLite raises for a damaged file (`is_damage`) and
what its `PRAGMA quick_check` finds (`damage`), for the catalog's check on opening (catalog.py)
and its copy's (backup.py).

quick_check reads every page, in the b-trees' order: from a cold page cache, a random read of
the whole file (100,000 photos, 141 MB: 3.5-4 s; 1,000,000, 1.4 GB: 23-31 s, on a disk that
reads it in order in 5 s). So `read_ahead` reads the file in order first, where memory can
hold it: then 0.5-0.6 s and 7.6-8 s; from the page cache 0.2-0.5 s and 3.1-4.3 s, the read
ahead adding 0.5 s at 1,000,000. It checks no index against its table, as integrity_check does
in about twice the time.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

# SQLite's primary result codes (an extended code keeps its primary one in bits 0-7)
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26
CHUNK_BYTES = 8 << 20


def is_damage(error: sqlite3.Error) -> bool:
    """Whether SQLite raised this because the file is damaged or not a database at all (as
    opposed to locked, unreadable or full)."""
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if code is None:  # Python 3.10 gives no code, and raises these two as plain DatabaseError
        return type(error) is sqlite3.DatabaseError
    return int(code) & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)


def damage(db: sqlite3.Connection) -> str | None:
    """The first problem `PRAGMA quick_check` finds, in one line; None when there is none."""
    try:
        found = db.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as error:
        if is_damage(error):
            return str(error)
        raise
    text = " ".join(str(found[0]).split()) if found else "no answer"
    return None if text == "ok" else text.removeprefix("*** in database main *** ")[:200]


def read_ahead(path: Path) -> None:
    """Bring the file into the page cache in order, unless it is over half the memory (the
    pages read first would then be gone before the check reaches them)."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        with path.open("rb", buffering=0) as file:
            if os.fstat(file.fileno()).st_size > memory // 2:
                return
            buffer = bytearray(CHUNK_BYTES)
            while file.readinto(buffer):
                pass
    except (OSError, ValueError):
        return  # only an optimisation: SQLite says what is wrong with the file
