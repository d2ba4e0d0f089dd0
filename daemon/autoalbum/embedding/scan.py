"""Find candidate photos under source folders, skipping autoalbum's own output."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from autoalbum.embedding.images import is_candidate
from autoalbum.errors import AutoalbumError

log = logging.getLogger(__name__)


class SourceError(AutoalbumError):
    """A source folder that can't be scanned."""


def _is_within(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _walk(root: Path, excluded: Sequence[Path]) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root, onerror=_report_walk_error):
        here = Path(folder)
        # Prune in place so os.walk never descends into hidden or excluded folders.
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not _is_within(here / d, excluded)
        )
        for name in sorted(files):
            path = here / name
            if is_candidate(path) and not path.is_symlink():
                yield path


def _report_walk_error(error: OSError) -> None:
    log.warning("cannot read folder %s: %s", error.filename, error.strerror)


def find_images(sources: Sequence[Path], exclude: Sequence[Path] = ()) -> list[Path]:
    """Absolute paths of all image files under `sources`, sorted, without duplicates."""
    excluded = [Path(os.path.abspath(p)) for p in exclude]
    found: dict[Path, None] = {}
    for source in sources:
        root = Path(os.path.abspath(source))
        if not root.is_dir():
            raise SourceError(f"source folder {source} does not exist or is not a folder")
        if _is_within(root, excluded):
            log.warning("skipping %s: it is inside the album folder", root)
            continue
        found.update(dict.fromkeys(_walk(root, excluded)))
    return sorted(found)
