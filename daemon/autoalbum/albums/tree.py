"""Write the album tree: one folder per album of relative symlinks, plus index.json.

The whole tree is built in a hidden sibling folder and then swapped in with renames, so a reader
never sees a half-written tree. Replacing an existing tree takes two renames (old tree aside,
new tree in): a directory cannot be renamed onto a non-empty one, so for a moment `out` is
missing. Making `out` a symlink to versioned trees would swap in one atomic step, but leaves a
second folder beside `out`, and file browsers, backup and sync tools treat a symlinked folder
differently from a folder; the moment without `out` is the smaller cost.

autoalbum only replaces a folder carrying its MARKER_NAME file, and of the old tree deletes only
what it made: symlinks (never followed), index.json, vectors.npz, the marker and folders left
empty. Anything else keeps the old tree in place, hidden beside `out`, and is reported.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoalbum import __version__
from autoalbum.albums.filenames import folder_name, free_name, link_names, name_key
from autoalbum.durable import fsync_folder, replacing, write_json_atomically
from autoalbum.errors import AutoalbumError

log = logging.getLogger(__name__)

INDEX_SCHEMA_VERSION = 1
MARKER_NAME = ".autoalbum"
INDEX_NAME = "index.json"
VECTORS_NAME = "vectors.npz"  # float16 embeddings, row i for index.json's images[i]
UNSORTED_NUMBER = 0  # the album of photos far from every other album's centre
UNSORTED_FOLDER = "_unsorted"
MARKER_TEXT = (
    "This folder is managed by autoalbum; it is replaced on each run.\n"
    "Do not put your own files here: autoalbum leaves them in a hidden folder beside this one.\n"
)
_OWN_FILES = frozenset({INDEX_NAME, VECTORS_NAME, MARKER_NAME})
_OWN_KEYS = frozenset({"schema_version", "generator", "created", "albums", "images", "failures"})


class AlbumsError(AutoalbumError):
    """The album folder can't be written or replaced safely."""


@dataclass(frozen=True)
class Member:
    path: Path
    distance: float


@dataclass(frozen=True)
class Album:
    number: int
    label: str
    members: tuple[Member, ...]


def _link_target(original: Path, folder: Path) -> str:
    """Relative path from the real `folder` to `original`: the system resolves a relative link
    from the folder it really lies in, whatever symlinks led there."""
    real_original = Path(os.path.realpath(original.parent)) / original.name
    try:
        return os.path.relpath(real_original, folder)
    except ValueError:  # another drive on Windows: no relative path exists
        return str(real_original)


def _write_album(tree: Path, final: Path, folder: str, album: Album) -> Iterator[dict[str, object]]:
    """Create one album folder of symlinks in `tree`; yield its index.json image records.

    `final` is the real path `tree` will be renamed to, which the links are relative to.
    """
    (tree / folder).mkdir()
    for member, entry in zip(
        album.members, link_names([m.path for m in album.members]), strict=True
    ):
        original = Path(os.path.abspath(member.path))
        os.symlink(_link_target(original, final / folder), tree / folder / entry)
        yield {
            "path": str(original),
            "album": folder,
            "link": f"{folder}/{entry}",
            "distance": round(float(member.distance), 6),
        }


def _index(
    albums: Sequence[Album],
    folders: Sequence[str],
    images: list[dict[str, object]],
    failures: Sequence[tuple[Path, str]],
    extra: Mapping[str, object],
) -> dict[str, object]:
    return {
        "schema_version": INDEX_SCHEMA_VERSION,
        "generator": f"autoalbum {__version__}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
        "albums": [
            {"number": a.number, "name": f, "label": a.label, "size": len(a.members)}
            for a, f in zip(albums, folders, strict=True)
        ],
        "images": images,
        "failures": [{"path": str(path), "reason": reason} for path, reason in failures],
    }


def folder_names(albums: Sequence[Album]) -> list[str]:
    """The folder of each album in a tree of these albums; numbers padded to the widest."""
    width = max(2, len(str(max((a.number for a in albums), default=0))))
    folders = [
        UNSORTED_FOLDER
        if a.number == UNSORTED_NUMBER
        else folder_name(a.number, a.label, width=width)
        for a in albums
    ]
    if len({name_key(f) for f in folders}) < len(folders):
        raise ValueError(f"album numbers must be unique, got {[a.number for a in albums]}")
    return folders


def _build(
    tree: Path,
    final: Path,
    albums: Sequence[Album],
    failures: Sequence[tuple[Path, str]],
    extra: Mapping[str, object],
    vectors: NDArray[np.float32] | None,
) -> None:
    """Fill `tree`, which will be renamed to `final`: marker, album folders, index.json and
    the optional vectors.npz."""
    (tree / MARKER_NAME).write_text(MARKER_TEXT, encoding="utf-8")
    final = Path(os.path.realpath(final.parent)) / final.name
    folders = folder_names(albums)
    images = [
        record
        for album, folder in zip(albums, folders, strict=True)
        for record in _write_album(tree, final, folder, album)
    ]
    index = _index(albums, folders, images, failures, extra)
    if vectors is not None:
        with replacing(tree / VECTORS_NAME) as stream:
            np.savez(stream, vectors=np.asarray(vectors, dtype=np.float16))
    write_json_atomically(tree / INDEX_NAME, index, indent=2)


def _check_out(out: Path) -> None:
    """Pass if `out` is missing or empty (free to take) or carries the marker (ours to replace)."""
    if not os.path.lexists(out):
        return
    if out.is_symlink() or not out.is_dir():
        raise AlbumsError(
            f"refusing to write albums to {out}: it is a file or a symbolic link; "
            "choose a new --out folder"
        )
    marker = out / MARKER_NAME
    if any(out.iterdir()) and not (marker.is_file() and not marker.is_symlink()):
        raise AlbumsError(
            f"refusing to write albums into {out}: it exists and was not created by autoalbum "
            f"(no {MARKER_NAME} marker); choose an empty or new --out folder"
        )


def _remove_ours(folder: Path, top: bool = True) -> list[Path]:
    """Delete what autoalbum made under `folder`, never following links; return what's left."""
    kept: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink() or (top and entry.name in _OWN_FILES):
                path.unlink()
            elif entry.is_dir(follow_symlinks=False):
                kept += _remove_ours(path, top=False)
            else:
                kept.append(path)
    if not kept:
        folder.rmdir()
    return kept


def _sibling(out: Path, tag: str) -> Path:
    """A fresh hidden name beside `out`, such as `.albums.new-3f2a9c1d`."""
    return out.parent / f".{out.name}.{tag}-{secrets.token_hex(4)}"


def _discard(tree: Path) -> None:
    try:
        _remove_ours(tree)
    except OSError as error:
        log.warning("could not remove the unfinished album tree %s: %s", tree, error)


def _swap_in(tree: Path, out: Path) -> None:
    """Rename `tree` to `out`; an existing `out` is moved aside first, then cleared."""
    if not out.exists() or not any(out.iterdir()):
        os.rename(tree, out)  # replaces an empty folder on POSIX
        return
    old = _sibling(out, "old")
    os.rename(out, old)
    try:
        os.rename(tree, out)
    except OSError:
        os.rename(old, out)
        raise
    fsync_folder(out.parent)
    try:
        kept = _remove_ours(old)
    except OSError as error:
        log.warning("could not delete the previous album tree %s: %s", old, error)
        return
    if kept:
        log.warning(
            "kept the previous album tree in %s: it holds %d files autoalbum did not make "
            "(such as %s); move them somewhere else, then delete that folder",
            old,
            len(kept),
            kept[0],
        )


def write_albums(
    out: Path,
    albums: Sequence[Album],
    *,
    failures: Sequence[tuple[Path, str]] = (),
    extra: Mapping[str, object] | None = None,
    vectors: NDArray[np.float32] | None = None,
) -> Path:
    """(Re)create the album tree at `out` in one swap; originals are only ever linked to.

    `vectors`, one row per member of `albums` in order, are saved as vectors.npz (for reports).
    """
    out = Path(os.path.abspath(out))
    clash = _OWN_KEYS.intersection(extra or {})
    if clash:
        raise ValueError(f"extra index keys {sorted(clash)} would replace autoalbum's own")
    members = sum(len(a.members) for a in albums)
    if vectors is not None and len(vectors) != members:
        raise ValueError(f"got {len(vectors)} vectors for {members} album members")
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tree = _sibling(out, "new")
    tree.mkdir()  # unlike tempfile.mkdtemp, honours the umask: others may read the albums
    try:
        _build(tree, out, albums, failures, extra or {}, vectors)
        _check_out(out)
        _swap_in(tree, out)
    except BaseException:
        if tree.exists():
            _discard(tree)
        raise
    fsync_folder(out.parent)
    links = sum(len(a.members) for a in albums)
    log.info("wrote %d albums with %d links to %s", len(albums), links, out)
    return out


def _read_index(out: Path) -> dict[str, Any] | None:
    """The tree's index.json if autoalbum wrote it in this schema, else None."""
    try:
        if not (out / MARKER_NAME).is_file():
            return None
        index = json.loads((out / INDEX_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict) or index.get("schema_version") != INDEX_SCHEMA_VERSION:
        return None
    return index


def _link(original: Path, folder: Path, real_folder: Path, taken: set[str]) -> str:
    """Link `original` into `folder` under the first free name; returns the entry name."""
    while True:
        entry = free_name(original.name, taken)
        try:
            os.symlink(_link_target(original, real_folder), folder / entry)
            return entry
        except FileExistsError:  # a file the index doesn't list, perhaps the user's: keep it
            continue


def update_albums(
    out: Path,
    albums: Sequence[Album],
    *,
    failures: Sequence[tuple[Path, str]] = (),
) -> tuple[int, int] | None:
    """Bring an existing tree to `albums` in place: link arrivals, unlink leavers, rewrite
    index.json. Returns (links added, links removed), or None when the album folders differ
    (or there is no readable tree) and `write_albums` must rebuild it instead.

    A batch of arrivals thus costs a few symlinks, not a rebuild of every album. Existing
    links keep their names; an arrival whose name is taken gets the next free "name (n).ext".
    Only symlinks this tree lists are ever removed.
    """
    out = Path(os.path.abspath(out))
    index = _read_index(out)
    folders = folder_names(albums)
    if index is None or [a.get("name") for a in index["albums"]] != folders:
        return None
    final = Path(os.path.realpath(out))
    current = {str(record["path"]): record for record in index["images"]}
    wanted = {
        os.path.abspath(m.path): (folder, m)
        for album, folder in zip(albums, folders, strict=True)
        for m in album.members
    }
    removed = 0
    for path, record in current.items():
        if wanted.get(path, ("",))[0] != record["album"]:
            link = out / str(record["link"])
            if link.is_symlink():
                link.unlink()
                removed += 1
    taken: dict[str, set[str]] = {}  # per folder that gets arrivals: every name in it
    images, added = [], 0
    for path, (folder, member) in wanted.items():
        record = current.get(path)
        if record is None or record["album"] != folder:
            if folder not in taken:
                taken[folder] = {name_key(name) for name in os.listdir(out / folder)}
            entry = _link(Path(path), out / folder, final / folder, taken[folder])
            record = {"path": path, "album": folder, "link": f"{folder}/{entry}"}
            added += 1
        images.append({**record, "distance": round(float(member.distance), 6)})
    extra = {k: v for k, v in index.items() if k not in _OWN_KEYS}
    write_json_atomically(out / INDEX_NAME, _index(albums, folders, images, failures, extra))
    log.info("updated %s: %d links added, %d removed", out, added, removed)
    return added, removed
