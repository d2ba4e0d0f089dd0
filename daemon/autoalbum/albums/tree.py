"""Write the album tree: one folder per album of relative symlinks, plus the index files
(index.json and each album's members pages; their schema and how to read them consistently
are in sidecar.py).

A whole tree is built in a hidden sibling folder and then swapped in with renames, so a reader
never sees a half-written tree (`write_albums`: the first tree, a recluster that changes more
than a quarter of the links; one that changes fewer updates the tree in place, update.py, at a
fraction of the cost when most photos keep their album). Replacing an
existing tree takes two renames (old tree aside, new tree in): a directory cannot be renamed
onto a non-empty one, so for a moment `out` is missing. Making `out` a symlink to versioned
trees would swap in one atomic step, but leaves a second folder beside `out`, and file
browsers, backup and sync tools treat a symlinked folder differently from a folder; the moment
without `out` is the smaller cost. Arrivals and departures change the tree in place, album by
album (update.py).

autoalbum only replaces a folder carrying its MARKER_NAME file, and of the old tree deletes only
what it made: symlinks (never followed), index.json, the members pages, vectors.npz, the marker
and folders left empty. Anything else keeps the old tree in place, hidden beside `out`, and is
reported.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.filenames import folder_name, link_names, name_key
from autoalbum.albums.sidecar import (
    INDEX_NAME,
    INDEX_SCHEMA_VERSION,
    MARKER_NAME,
    MEMBERS_FOLDER,
    OWN_KEYS,
    Linked,
    Shelf,
    TreeIndex,
    is_members_file,
    raw_index,
    write_index,
    write_members,
)
from autoalbum.durable import NAME_MAX, fsync_folder, replacing
from autoalbum.errors import AutoalbumError

__all__ = ["INDEX_NAME", "INDEX_SCHEMA_VERSION", "MARKER_NAME"]  # sidecar.py's, re-exported

log = logging.getLogger(__name__)

# float16 embeddings of a sort, one row per photo: the albums in index.json's order, each
# album's photos in its members pages' order
VECTORS_NAME = "vectors.npz"
UNSORTED_NUMBER = 0  # the album of photos far from every other album's centre
UNSORTED_FOLDER = "_unsorted"
MARKER_TEXT = (
    "This folder is managed by autoalbum; it is replaced on each run.\n"
    "Do not put your own files here: autoalbum leaves them in a hidden folder beside this one.\n"
)
_OWN_FILES = frozenset({INDEX_NAME, VECTORS_NAME, MARKER_NAME})


class AlbumsError(AutoalbumError):
    """The album folder can't be written or replaced safely."""


Row = tuple[str, float]  # a photo as the tree takes it: its absolute path, its distance


@dataclass(frozen=True)
class Member:
    path: Path
    distance: float


@dataclass(frozen=True)
class Album:
    number: int
    label: str
    members: tuple[Member, ...]
    folder: str | None = None  # a folder name the user chose, used as it is
    parent: int | None = None  # the album whose folder holds this one's (a sub-album)


def link_target(original: Path, folder: Path) -> str:
    """Relative path from the real `folder` to `original`: the system resolves a relative link
    from the folder it really lies in, whatever symlinks led there."""
    real_original = Path(os.path.realpath(original.parent)) / original.name
    try:
        return os.path.relpath(real_original, folder)
    except ValueError:  # another drive on Windows: no relative path exists
        return str(real_original)


class LinkTargets:
    """`link_target` for many photos linked into one real album folder: each photo folder is
    resolved, and its path from the album folder found, once (a million photos lie in a few
    thousand folders), and paths stay strings."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._prefix: dict[str, str | None] = {}  # photo folder -> path to it, and a "/"

    def __call__(self, original: str) -> str:
        """The link to `original`, an absolute path, from the album folder."""
        parent, name = os.path.split(original)
        try:
            prefix = self._prefix[parent]
        except KeyError:
            prefix = self._prefix[parent] = self._prefix_of(parent)
        if prefix is None:
            return link_target(Path(original), Path(self.folder))
        return prefix + name

    def _prefix_of(self, parent: str) -> str | None:
        """The relative path to `parent`, ending in a separator ("" for the album folder
        itself); None where a photo's link must be worked out whole: the album folder lies
        below `parent` (relpath would then share the photo's name too), or on another drive."""
        real = os.path.realpath(parent)
        if self.folder == real or self.folder.startswith(real.rstrip(os.sep) + os.sep):
            return None
        try:
            return os.path.relpath(real, self.folder) + os.sep
        except ValueError:
            return None


def _write_album(
    tree: Path, final: Path, folder: str, photos: Sequence[Row], names: Sequence[str]
) -> list[Linked]:
    """Create one album folder of symlinks in `tree`: `photos` (absolute paths) under `names`;
    returns its members pages' photos.

    `final` is the real path `tree` will be renamed to, which the links are relative to.
    """
    (tree / folder).mkdir()
    target = LinkTargets(os.path.join(final, folder))
    into = os.path.join(tree, folder, "")
    symlink = os.symlink
    linked = []
    for (path, distance), entry in zip(photos, names, strict=True):
        symlink(target(path), into + entry)
        linked.append(Linked(path, entry, round(float(distance), 6)))
    return linked


def _check_folder(folder: str) -> None:
    """A user's folder name must be one visible entry of the tree."""
    encoded = os.fsencode(folder)
    if (
        not folder
        or "/" in folder
        or "\0" in folder
        or folder.startswith(".")
        or len(encoded) > NAME_MAX
        or folder in _OWN_FILES
    ):
        raise ValueError(
            f"{folder!r} can't be an album folder: give a name of 1 to {NAME_MAX} bytes "
            "without '/' that does not start with '.'"
        )


def folder_names(albums: Sequence[Album]) -> list[str]:
    """The folder of each album in a tree of these albums, as a path from the tree's top: a
    sub-album's lies in its parent's. Each album's own folder is the user's folder where one
    was chosen, else the number padded to the widest, then the label made file-name safe."""
    width = max(2, len(str(max((a.number for a in albums), default=0))))
    own = []
    for a in albums:
        if a.folder is not None:
            _check_folder(a.folder)
            own.append(a.folder)
        elif a.number == UNSORTED_NUMBER:
            own.append(UNSORTED_FOLDER)
        else:
            own.append(folder_name(a.number, a.label, width=width))
    by_number = {a.number: (a, name) for a, name in zip(albums, own, strict=True)}
    if len(by_number) < len(albums):
        raise ValueError(f"album numbers must be unique, got {[a.number for a in albums]}")
    folders = [_path(a.number, by_number) for a in albums]
    owner: dict[str, int] = {}
    for album, folder in zip(albums, folders, strict=True):
        other = owner.setdefault(name_key(folder), album.number)
        if other != album.number:
            raise ValueError(
                f"albums {other} and {album.number} would share the folder {folder!r}; "
                "give one of them another name"
            )
    return folders


def _path(number: int, albums: Mapping[int, tuple[Album, str]]) -> str:
    """The folder path of album `number`: its parents' own folders, then its own."""
    parts: list[str] = []
    seen: set[int] = set()
    current: int | None = number
    while current is not None:
        if current in seen or current not in albums:
            raise ValueError(f"album {number}'s parents must be albums of the tree, without loops")
        seen.add(current)
        album, own = albums[current]
        parts.append(own)
        current = album.parent
    return "/".join(reversed(parts))


def depth(folder: str) -> int:
    """How deep an album folder lies: 0 for one at the top of the tree."""
    return folder.count("/")


def own_folder(folder: str) -> str:
    """An album folder's own name: the last part of a sub-album's path."""
    return folder.rsplit("/", 1)[-1]


def parent_folder(folder: str) -> str:
    """The path of the album folder a sub-album's lies in; "" for one at the top."""
    return folder.rsplit("/", 1)[0] if "/" in folder else ""


def _build(
    tree: Path,
    final: Path,
    albums: Sequence[Album],
    photos: Mapping[int, Sequence[Row]] | None,
    index: TreeIndex,
    vectors: NDArray[np.float32] | None,
) -> None:
    """Fill `tree`, which will be renamed to `final`: marker, album folders, members pages,
    the optional vectors.npz, and index.json last."""
    (tree / MARKER_NAME).write_text(MARKER_TEXT, encoding="utf-8")
    final = Path(os.path.realpath(final.parent)) / final.name
    placed = sorted(zip(albums, folder_names(albums), strict=True), key=lambda a: depth(a[1]))
    written: dict[int, Shelf] = {}
    for album, folder in placed:  # a parent's folder before its sub-albums'
        if photos is None:
            rows = [(os.path.abspath(m.path), m.distance) for m in album.members]
            names = link_names([m.path for m in album.members])
        else:
            rows = list(photos.get(album.number, ()))
            names = link_names([path for path, _ in rows])
        linked = _write_album(tree, final, folder, rows, names)
        pages = write_members(tree, album.number, folder, index.generation, linked)
        written[album.number] = Shelf(
            album.number, folder, album.label, len(linked), pages, album.parent
        )
    shelves = [written[album.number] for album in albums]
    if vectors is not None:
        with replacing(tree / VECTORS_NAME) as stream:
            np.savez(stream, vectors=np.asarray(vectors, dtype=np.float16))
    write_index(tree, TreeIndex(index.generation, tuple(shelves), index.failures, index.extra))


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


def remove_ours(folder: Path, top: bool = True, members: bool = False) -> list[Path]:
    """Delete what autoalbum made under `folder`, never following links; return what's left."""
    kept: list[Path] = []
    unlink = os.unlink
    with os.scandir(folder) as entries:
        for entry in entries:
            if (
                entry.is_symlink()
                or (top and entry.name in _OWN_FILES)
                or (members and is_members_file(entry.name) and entry.is_file())
            ):
                unlink(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                kept += remove_ours(
                    Path(entry.path), top=False, members=top and entry.name == MEMBERS_FOLDER
                )
            else:
                kept.append(Path(entry.path))
    if not kept:
        folder.rmdir()
    return kept


def _sibling(out: Path, tag: str) -> Path:
    """A fresh hidden name beside `out`, such as `.albums.new-3f2a9c1d`."""
    return out.parent / f".{out.name}.{tag}-{secrets.token_hex(4)}"


def _discard(tree: Path) -> None:
    try:
        remove_ours(tree)
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
        kept = remove_ours(old)
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


def next_generation(out: Path) -> int:
    """One past the generation of the tree at `out` (of any schema), or 1."""
    raw = raw_index(out)
    generation = raw.get("generation") if raw else None
    return generation + 1 if isinstance(generation, int) else 1


def write_albums(
    out: Path,
    albums: Sequence[Album],
    *,
    failures: Sequence[tuple[Path, str]] = (),
    extra: Mapping[str, object] | None = None,
    vectors: NDArray[np.float32] | None = None,
    photos: Mapping[int, Sequence[Row]] | None = None,
) -> Path:
    """(Re)create the album tree at `out` in one swap; originals are only ever linked to.

    `photos`, by album number, gives each album's photos as (absolute path, distance), nearest
    first, in place of the albums' members (a library's million photos need no Path each).
    `vectors`, one row per member of `albums` in order, are saved as vectors.npz (for reports).
    """
    out = Path(os.path.abspath(out))
    clash = OWN_KEYS.intersection(extra or {})
    if clash:
        raise ValueError(f"extra index keys {sorted(clash)} would replace autoalbum's own")
    if photos is None:
        members = sum(len(a.members) for a in albums)
    else:
        members = sum(len(photos.get(a.number, ())) for a in albums)
    if vectors is not None and len(vectors) != members:
        raise ValueError(f"got {len(vectors)} vectors for {members} album members")
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    index = TreeIndex(next_generation(out), (), tuple(failures), dict(extra or {}))
    tree = _sibling(out, "new")
    tree.mkdir()  # unlike tempfile.mkdtemp, honours the umask: others may read the albums
    try:
        _build(tree, out, albums, photos, index, vectors)
        _check_out(out)
        _swap_in(tree, out)
    except BaseException:
        if tree.exists():
            _discard(tree)
        raise
    fsync_folder(out.parent)
    log.info("wrote %d albums with %d links to %s", len(albums), members, out)
    return out
