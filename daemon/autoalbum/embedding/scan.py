"""Find candidate photos under source folders, skipping autoalbum's own output.

Symlinks are skipped unless `follow_symlinks`, as the watcher skips them: a photo the one
reports and the other does not would be marked missing on every catch-up scan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from autoalbum.embedding.images import is_candidate
from autoalbum.errors import AutoalbumError

log = logging.getLogger(__name__)


class SourceError(AutoalbumError):
    """A source folder that can't be scanned."""


def _is_within(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def _leads_back(folder: Path) -> bool:
    """True when `folder` is a symlink to a folder on its own path: walking it would loop."""
    if not folder.is_symlink():
        return False
    target = os.path.realpath(folder)
    return any(os.path.realpath(above) == target for above in folder.parents)


def _walk(
    root: Path,
    excluded: Sequence[Path],
    follow_symlinks: bool,
    tick: Callable[[], None],
    unreadable: Callable[[Path], None],
) -> Iterator[Path]:
    def report(error: OSError) -> None:
        log.warning("cannot read folder %s: %s", error.filename, error.strerror)
        unreadable(Path(error.filename))

    walk = os.walk(root, onerror=report, followlinks=follow_symlinks)
    for folder, dirs, files in walk:
        tick()
        here = Path(folder)
        # Prune in place so os.walk never descends into hidden, excluded or looping folders.
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and not _is_within(here / d, excluded)
            and not (follow_symlinks and _leads_back(here / d))
        )
        links = set() if follow_symlinks else _symlinks(folder)
        for name in sorted(files):
            path = here / name
            if is_candidate(path) and (
                path.is_file() if follow_symlinks else not _is_link(name, path, links)
            ):
                yield path


def _symlinks(folder: str) -> set[str] | None:
    """The names of the symlinks in `folder`, from the directory's own entry types (no stat a
    file: 100,000 lstat calls were a quarter of a library's catch-up scan); None where it can't
    be listed."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_symlink()}
    except OSError:
        return None


def _is_link(name: str, path: Path, links: set[str] | None) -> bool:
    return path.is_symlink() if links is None else name in links


def find_images(
    sources: Sequence[Path],
    exclude: Sequence[Path] = (),
    *,
    follow_symlinks: bool = False,
    tick: Callable[[], None] = lambda: None,
    unreadable: Callable[[Path], None] = lambda folder: None,
) -> list[Path]:
    """Absolute paths of all image files under `sources`, sorted, without duplicates; with
    `follow_symlinks`, also those reached through symlinks, named by the path through the link.
    `tick` is called once per folder: a long scan can tell a watchdog it is alive;
    `unreadable` with each folder that could not be read (its photos are not listed)."""
    excluded = [Path(os.path.abspath(p)) for p in exclude]
    found: dict[Path, None] = {}
    for source in sources:
        root = Path(os.path.abspath(source))
        if not root.is_dir():
            raise SourceError(f"source folder {source} does not exist or is not a folder")
        if _is_within(root, excluded):
            log.warning("skipping %s: it is inside the album folder", root)
            continue
        found.update(dict.fromkeys(_walk(root, excluded, follow_symlinks, tick, unreadable)))
    return sorted(found)
