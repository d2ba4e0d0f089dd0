"""Putting the catalog's kept copy (backup.py) back in place of a damaged catalog.

The copy is unpacked beside the catalog and checked; the damaged catalog is then kept aside
under a dated name (its WAL with it), never written to nor deleted, and every vector it still
gives for a content of the copy (same id, same hash, a code that unpacks whole) is taken into
the unpacked copy, which then becomes the catalog. The files of the contents left without a
vector are marked changed, so the next index or daemon start embeds them again; their albums,
names and corrections are the copy's. The copy stays where it is, still the latest good one.
The library lock is held throughout: no restore while a daemon runs, and no daemon starts on a
half-restored state folder.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import secrets
import shutil
import sqlite3
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from autoalbum.durable import fsync_folder
from autoalbum.errors import AutoalbumError
from autoalbum.library.backup import KeptCopy, kept_copy, put_back_indexes
from autoalbum.library.catalog import CATALOG_NAME, Catalog, CatalogDamagedError, Status
from autoalbum.library.codes import code_size, unpack
from autoalbum.library.integrity import damage
from autoalbum.library.lock import LibraryLock
from autoalbum.library.tables import digest_of

# The catalog's own files, moved aside together: its WAL first, so that no catalog ever meets
# a WAL that is not its own.
CATALOG_FILES = (f"{CATALOG_NAME}-wal", f"{CATALOG_NAME}-shm", CATALOG_NAME)
MB = 1e6
SALVAGE_CHUNK = 2_000  # contents whose vectors are read from the damaged catalog at a time


class RestoreError(AutoalbumError):
    """The kept copy can't be put back."""


@dataclass(frozen=True)
class Restored:
    copy: KeptCopy
    set_aside: Path | None  # where the catalog it replaced went; None when there was none
    photos: int  # indexed photos in the restored catalog
    albums: int
    salvaged: int  # vectors taken from the damaged catalog
    to_embed: int  # contents whose vector it no longer gave: embedded again by the next index


def restore(state: Path, *, force: bool = False) -> Restored:
    """Put the copy kept in `state` back as the catalog. Refused while a daemon holds the
    library, and (unless `force`) when the catalog passes its check."""
    copy = kept_copy(state)
    if copy is None:
        raise RestoreError(
            f"no copy of the catalog is kept in {state} (one is taken after each recluster): "
            "move the state folder aside and run autoalbum index to rebuild the library from the "
            "photos (every photo is embedded again)"
        )
    with LibraryLock(state):
        unpacked = _unpacked(copy)
        try:
            healthy = _healthy(state / CATALOG_NAME)
            if healthy and not force:
                raise RestoreError(
                    f"the catalog {state / CATALOG_NAME} passes its check: putting back the copy "
                    f"of {copy.describe()} would lose the corrections made since and take in "
                    "again the photos added since; add --force to put it back anyway"
                )
            aside = _set_aside(state, "replaced" if healthy else "damaged")
            salvaged = _salvage(aside, unpacked) if aside is not None else 0
            to_embed = _mark_unembedded(unpacked)
            _fsync(unpacked)
            os.replace(unpacked, state / CATALOG_NAME)
            fsync_folder(state)
        finally:
            unpacked.unlink(missing_ok=True)
    with Catalog(state / CATALOG_NAME) as catalog:
        photos = catalog.count_files()[Status.OK]
        albums = len(catalog.albums_with_members())
    return Restored(copy, aside, photos, albums, salvaged, to_embed)


def _unpacked(copy: KeptCopy) -> Path:
    """The copy as a SQLite file beside it, checked; a RestoreError if it can't be."""
    temp = copy.path.parent / f".{CATALOG_NAME}.{secrets.token_hex(4)}.restoring"
    try:
        with _opened(copy) as source, temp.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
    except (OSError, EOFError, zlib.error) as error:
        temp.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, gzip.BadGzipFile):
            free = shutil.disk_usage(copy.path.parent).free
            raise RestoreError(
                f"could not unpack {copy.path} ({error.strerror or error}); it needs about "
                f"{copy.size * 3 / MB:,.0f} MB and {free / MB:,.0f} MB are free. Free some space "
                "and run autoalbum restore again (the damaged catalog, kept aside, can go once "
                "the library works again)"
            ) from error
        _refuse_copy(copy, str(error))
    _check_copy(copy, temp)
    if not copy.whole:
        db = sqlite3.connect(temp, isolation_level=None)
        try:
            with db:
                put_back_indexes(db)
        finally:
            db.close()
    return temp


@contextlib.contextmanager
def _opened(copy: KeptCopy) -> Iterator[IO[bytes]]:
    """The copy's bytes as SQLite wrote them: gunzipped, or an old whole copy as it is."""
    with copy.path.open("rb") as stream:
        if copy.whole:
            yield stream
        else:
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]  # a GzipFile reads as an IO[bytes]


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes to `path` (nor recovers its WAL into it)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _check_copy(copy: KeptCopy, unpacked: Path) -> None:
    db = _read_only(unpacked)
    try:
        problem = damage(db)
    except sqlite3.Error as error:
        problem = str(error)
    finally:
        db.close()
    if problem:
        unpacked.unlink(missing_ok=True)
        _refuse_copy(copy, problem)


def _refuse_copy(copy: KeptCopy, problem: str) -> None:
    raise RestoreError(
        f"the copy {copy.path} is damaged too ({problem}): move the state folder "
        f"{copy.path.parent} aside and run autoalbum index to rebuild the library from the "
        "photos (every photo is embedded again)"
    )


def _healthy(path: Path) -> bool:
    """Whether the catalog opens and passes its check (other errors, such as a newer schema,
    are the user's to see)."""
    try:
        Catalog(path).close()
    except CatalogDamagedError:
        return False
    return True


def _set_aside(state: Path, why: str) -> Path | None:
    """Rename the catalog (and its WAL) to catalog.WHY-DATE-TIME.sqlite."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, n = f"catalog.{why}-{stamp}.sqlite", 1
    while any((state / f"{name}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
        n += 1  # a second restore within the second
        name = f"catalog.{why}-{stamp}-{n}.sqlite"
    moved = False
    for file in CATALOG_FILES:
        if (state / file).exists():
            os.replace(state / file, state / file.replace(CATALOG_NAME, name))
            moved = True
    fsync_folder(state)
    return state / name if moved else None


def _salvage(damaged: Path, unpacked: Path) -> int:
    """Copy into `unpacked` each vector `damaged` still gives for a content of the same id
    and hash, of the same model; how many. Read a chunk of contents at a time, halved down
    to one content where SQLite reports damage: what a damaged page holds is lost, no more."""
    try:
        source = _read_only(damaged)
    except sqlite3.Error:
        return 0
    target = sqlite3.connect(unpacked, isolation_level=None)
    try:
        model = "SELECT value FROM meta WHERE key IN ('model', 'dim') ORDER BY key"
        try:
            if source.execute(model).fetchall() != target.execute(model).fetchall():
                return 0  # another model since the copy (or no telling): none of its vectors
        except sqlite3.Error:
            return 0
        dim = int(target.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()[0])
        rows = target.execute("SELECT id, hash FROM contents ORDER BY id")
        wanted = {content: digest_of(digest) for content, digest in rows}
        ids = list(wanted)
        target.execute("BEGIN")
        salvaged = 0
        for start in range(0, len(ids), SALVAGE_CHUNK):
            chunk = ids[start : start + SALVAGE_CHUNK]
            for content, digest, code in _readable(source, chunk[0], chunk[-1]):
                if wanted.get(content) == digest_of(digest) and _whole(code, dim):
                    target.execute(
                        "INSERT OR IGNORE INTO vectors (content_id, code) VALUES (?, ?)",
                        (content, code),
                    )
                    salvaged += 1
        target.execute("COMMIT")
        return salvaged
    finally:
        source.close()
        target.close()


def _readable(
    source: sqlite3.Connection, low: int, high: int
) -> list[tuple[int, bytes | str, bytes]]:
    """(content id, hash, code) of the contents from `low` to `high` that `source` can read."""
    try:
        return source.execute(
            """SELECT v.content_id, c.hash, v.code FROM vectors v
               JOIN contents c ON c.id = v.content_id
               WHERE v.content_id BETWEEN ? AND ?""",
            (low, high),
        ).fetchall()
    except sqlite3.DatabaseError:
        if low >= high:
            return []
        middle = (low + high) // 2
        return _readable(source, low, middle) + _readable(source, middle + 1, high)


def _whole(code: object, dim: int) -> bool:
    """Whether a salvaged code unpacks to a whole code of `dim` values."""
    if not isinstance(code, bytes):
        return False
    try:
        return len(unpack(code)) == code_size(dim)
    except ValueError:
        return False


def _mark_unembedded(unpacked: Path) -> int:
    """Mark changed (size -1) every file of a content without a vector, so that the next scan
    embeds it again; the number of such contents."""
    db = sqlite3.connect(unpacked, isolation_level=None)
    try:
        lacking = "SELECT id FROM contents WHERE id NOT IN (SELECT content_id FROM vectors)"
        with db:
            db.execute(f"UPDATE files SET size = -1 WHERE content_id IN ({lacking})")
        return int(db.execute(f"SELECT COUNT(*) FROM ({lacking})").fetchone()[0])
    finally:
        db.close()


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
