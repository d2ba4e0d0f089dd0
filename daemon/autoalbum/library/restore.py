"""Putting the catalog's kept copy (backup.py) back in place of a damaged catalog.

The damaged catalog is kept aside under a dated name (its WAL with it), never deleted; the copy
stays where it is, still the latest good one. The library lock is held throughout: no restore
while a daemon runs, and no daemon starts on a half-restored state folder.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from autoalbum.durable import fsync_folder, replacing
from autoalbum.errors import AutoalbumError
from autoalbum.library.backup import KeptCopy, kept_copy
from autoalbum.library.catalog import CATALOG_NAME, Catalog, CatalogDamagedError, Status
from autoalbum.library.integrity import damage
from autoalbum.library.lock import LibraryLock

# The catalog's own files, moved aside together: its WAL first, so that no catalog ever meets
# a WAL that is not its own.
CATALOG_FILES = (f"{CATALOG_NAME}-wal", f"{CATALOG_NAME}-shm", CATALOG_NAME)
MB = 1e6


class RestoreError(AutoalbumError):
    """The kept copy can't be put back."""


@dataclass(frozen=True)
class Restored:
    copy: KeptCopy
    set_aside: Path | None  # where the catalog it replaced went; None when there was none
    photos: int  # indexed photos in the restored catalog
    albums: int


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
        _check_copy(copy)
        healthy = _healthy(state / CATALOG_NAME)
        if healthy and not force:
            raise RestoreError(
                f"the catalog {state / CATALOG_NAME} passes its check: putting back the copy of "
                f"{copy.describe()} would lose the corrections made since and take in again the "
                "photos added since; add --force to put it back anyway"
            )
        aside = _set_aside(state, "replaced" if healthy else "damaged")
        _put_back(copy, state / CATALOG_NAME)
    with Catalog(state / CATALOG_NAME) as catalog:
        photos = catalog.count_files()[Status.OK]
        albums = len(catalog.albums_with_members())
    return Restored(copy, aside, photos, albums)


def _check_copy(copy: KeptCopy) -> None:
    db = sqlite3.connect(f"{copy.path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        problem = damage(db)
    except sqlite3.Error as error:
        problem = str(error)
    finally:
        db.close()
    if problem:
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


def _put_back(copy: KeptCopy, path: Path) -> None:
    """The copy into place whole (a temporary file, fsync, rename), or an error saying why."""
    try:
        with copy.path.open("rb") as source, replacing(path) as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
    except OSError as error:
        free = shutil.disk_usage(path.parent).free
        raise RestoreError(
            f"could not copy {copy.path} to {path} ({error.strerror or error}); it needs "
            f"{copy.size / MB:,.0f} MB and {free / MB:,.0f} MB are free. Free some space and run "
            "autoalbum restore again (the damaged catalog, kept aside, can go once the library "
            "works again)"
        ) from error
    fsync_folder(path.parent)
