"""The line a command ends with when a folder refuses its writes (a full disk, a read-only
remount, permission lost: faults.py): which folder, what stays committed, and what to do."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from autoalbum.faults import Blocked, Folder, refusal, write_folders

log = logging.getLogger(__name__)


def explained(error: BaseException, args: argparse.Namespace) -> Blocked | None:
    """`error` as the Blocked a user reads, when it is a refused write; else None."""
    state, folders = _library(args)
    found = refusal(error, folders)
    if found is None:
        return None
    log.debug("the refused write", exc_info=error)
    return Blocked(found, _committed(state) if state else None)


def _library(args: argparse.Namespace) -> tuple[Path | None, tuple[Folder, ...]]:
    """The state folder and the folders written to, of the library of --config, if any."""
    from autoalbum.config import load_config

    path = getattr(args, "config", None)
    if not isinstance(path, Path) or not path.is_file():
        return None, ()
    try:
        config = load_config(path)
    except Exception:
        return None, ()
    return config.library.state, write_folders(config)


def _committed(state: Path) -> str | None:
    """What the catalog holds, as `768 photos indexed`; None when it can't be read."""
    from autoalbum.library.catalog import CATALOG_NAME, Catalog, Status

    if not (state / CATALOG_NAME).is_file():
        return None
    try:
        with Catalog(state / CATALOG_NAME) as catalog:
            indexed = catalog.count_files()[Status.OK]
    except Exception:
        return None
    return f"{indexed:,} photos indexed"
