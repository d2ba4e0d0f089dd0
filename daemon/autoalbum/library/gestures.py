"""What the user did in the album folder with a file browser, turned into corrections.

autoalbum knows what it last wrote (index.json); the folder shows what is there now. The
difference is the user's, whatever events came or did not come, so autoalbum's own writes and
swaps are never taken for gestures. `gestures` reads the difference:

| in the album folder                              | means                                    |
|--------------------------------------------------|------------------------------------------|
| a photo's link moved from album A to album B     | pin: the photo belongs to B              |
| a photo's link deleted from A                    | exclude: never in A again                |
| A's folder renamed (`07-espresso` -> `Coffee`)   | rename A                                 |
| a new folder with links (moved, or made to originals) | a user album from those examples    |
| every link of A moved into B                     | merge A into B                           |
| A's folder deleted, or emptied of its links      | retire A                                 |

Symlinks are only read (their target resolved to an original), never walked into; a tree that
is not autoalbum's (no marker) or mid-swap (no folder, no index) shows no gestures.

Photos are by path: str in the gesture watch's reads (`written_links`, `real_paths`,
`found_paths`: no Path made per link, which at a million photos costs seconds; undecodable
bytes are str's surrogate escapes), or Path for callers that have them; `gestures`, `adoption`
and `apply` take either.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from autoalbum.albums import sidecar
from autoalbum.albums.sidecar import Linked, WrittenLink
from autoalbum.albums.tree import (
    MARKER_NAME,
    UNSORTED_FOLDER,
    depth,
    own_folder,
    parent_folder,
)
from autoalbum.library.catalog import Catalog
from autoalbum.library.corrector import Corrector
from autoalbum.library.records import AlbumRecord, Status

log = logging.getLogger(__name__)

P = TypeVar("P", str, Path)  # a photo's path

# What the user did in a tree of links, read and recorded: given the tree and the folders to
# look into (None: all), records the gestures (each in a catalog transaction) and returns how
# many, with the photos of the folders they changed as the user left them (for sidecar.adopt:
# the write after updates those in place), or None when the tree must be rebuilt. The album
# tree's are corrections (album_gestures); the People tree's, faces named (people_gestures.py).
Interpret = Callable[[Path, set[str] | None], tuple[int, Mapping[str, list[Linked]] | None]]


def written_links(
    out: Path, folders: Collection[str] | None = None
) -> dict[str, WrittenLink] | None:
    """Original -> the link autoalbum last wrote for it (albums/sidecar.py), in every album
    folder or only in `folders`; None when the tree is not autoalbum's, is mid-swap, or can't
    be read."""
    if not (out / MARKER_NAME).is_file():
        return None
    try:
        return sidecar.written_paths(out, folders) if sidecar.read_index(out) is not None else None
    except (OSError, ValueError):
        return None


def real_paths(paths: Iterable[str]) -> dict[str, str]:
    """Each path with its folders' symlinks resolved (as a link autoalbum wrote leads to it),
    resolving each folder once: a library's photos share few folders."""
    folders: dict[str, str] = {}
    real = {}
    for path in paths:
        parent, name = os.path.split(path)
        resolved = folders.get(parent)
        if resolved is None:
            resolved = folders[parent] = os.path.realpath(parent)
        real[path] = os.path.join(resolved, name)
    return real


def _real_of(written: Mapping[P, WrittenLink], real: Mapping[P, P] | None) -> Mapping[P, P]:
    """`real`, or `real_paths` of the photos in `written`, as the same kind of path."""
    if real is not None:
        return real
    resolved = real_paths(os.fspath(path) for path in written)
    result: dict[P, P] = {}
    for path in written:
        if isinstance(path, str):
            result[path] = resolved[path]
        else:
            result[path] = Path(resolved[os.fspath(path)])
    return result


def found_links(
    out: Path, known: Collection[Path] = (), folders: Collection[str] | None = None
) -> dict[str, dict[Path, str]]:
    """`found_paths`, by Path."""
    found = found_paths(out, {os.fspath(k) for k in known}, folders)
    return {folder: {Path(t): name for t, name in links.items()} for folder, links in found.items()}


def found_paths(
    out: Path, known: Collection[str] = (), folders: Collection[str] | None = None
) -> dict[str, dict[str, str]]:
    """Album folder -> original -> link name, for the links in the album folder now (dangling
    ones too: the original went, not the link), in every album folder or only in `folders`.
    A link's target is read, not followed, when it names one of the `known` (real) originals;
    others are resolved. Hidden entries and symlinked folders are skipped."""
    found: dict[str, dict[str, str]] = {}
    names = [f.name for f in _folders(out)] if folders is None else sorted(folders)
    # Sub-albums' folders lie in their album's: all are read with it when every folder is,
    # else only those that no index lists (made by the user inside an album).
    listed = set() if folders is None else tree_folders(out)
    while names:
        name = names.pop()
        path = os.path.join(out, name)
        if own_folder(name).startswith(".") or not os.path.isdir(path) or os.path.islink(path):
            continue
        real_folder = os.path.realpath(path)
        links: dict[str, str] = {}
        with os.scandir(path) as entries:
            for entry in entries:
                if not entry.is_symlink():
                    inner = f"{name}/{entry.name}"
                    if entry.is_dir(follow_symlinks=False) and inner not in listed:
                        names.append(inner)
                    continue
                link = os.readlink(entry.path)
                target = os.path.normpath(os.path.join(real_folder, link))
                if target not in known:
                    target = _moved(real_folder, link, known) or os.path.realpath(entry.path)
                links[target] = entry.name
        found[name] = links
    return found


# How many levels a folder of links may have been moved up or down (a sub-album dragged out)
LEVELS_MOVED = 3


def _moved(folder: str, link: str, known: Collection[str]) -> str | None:
    """The original a relative link names from the depth its folder was written at, when the
    user moved the folder up or down the tree (its links then miss by as many levels)."""
    if os.path.isabs(link) or not known:
        return None
    for levels in range(1, LEVELS_MOVED + 1):
        deeper = os.path.normpath(os.path.join(folder, *["_"] * levels, link))
        shallower = os.path.normpath(os.path.join(folder, *[".."] * levels, link))
        for target in (deeper, shallower):
            if target in known:
                return target
    return None


def tree_folders(out: Path) -> frozenset[str]:
    """Every album folder the tree's index.json lists, sub-albums' as paths; none if there is
    no index (or it can't be read). One stat: the idle check takes it every time, and the
    file is parsed again only when it was replaced (each write renames a new one in)."""
    try:
        info = os.stat(out / sidecar.INDEX_NAME)
    except OSError:
        return frozenset()
    return _listed(os.fspath(out), info.st_ino, info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=8)
def _listed(out: str, _inode: int, _mtime_ns: int, _size: int) -> frozenset[str]:
    """`tree_folders` of the index.json with this stat."""
    raw = sidecar.raw_index(Path(out))
    albums = raw.get("albums") if raw is not None else None
    if not isinstance(albums, list):
        return frozenset()
    return frozenset(
        a["name"] for a in albums if isinstance(a, dict) and isinstance(a.get("name"), str)
    )


@dataclass
class Gestures(Generic[P]):
    """What the user did, by album folder (as autoalbum wrote it) and original (resolved)."""

    pins: dict[P, str] = field(default_factory=dict)  # original -> folder it belongs to
    excludes: dict[P, str] = field(default_factory=dict)  # original -> folder it is not in
    renames: dict[str, str] = field(default_factory=dict)  # folder -> its new name
    merges: dict[str, str] = field(default_factory=dict)  # folder -> folder it went into
    retired: set[str] = field(default_factory=set)
    new_albums: dict[str, list[P]] = field(default_factory=dict)  # new folder -> examples

    def __len__(self) -> int:
        return (len(self.pins) + len(self.excludes) + len(self.renames) + len(self.merges)
                + len(self.retired) + len(self.new_albums))  # fmt: skip


def gestures(
    written: Mapping[P, WrittenLink],
    found: Mapping[str, Mapping[P, str]],
    real: Mapping[P, P] | None = None,
) -> Gestures[P]:
    """The difference between what autoalbum wrote and what the album folder holds (`real`:
    `real_paths(written)`, when the caller has it)."""
    listed: dict[str, set[P]] = {}
    for original, resolved in _real_of(written, real).items():
        listed.setdefault(written[original].folder, set()).add(resolved)
    where: dict[P, list[str]] = {}
    for folder, links in found.items():
        for original in links:
            where.setdefault(original, []).append(folder)
    new = [f for f in found if f not in listed]
    result: Gestures[P] = Gestures(renames=_renames(listed, found, where, new))
    carried: dict[str, str] = _nested_renames(result, found)
    alias = {renamed: folder for folder, renamed in result.renames.items()}
    alias.update(carried)
    home = {o: [alias.get(f, f) for f in fs] for o, fs in where.items()}
    moved = {*result.renames, *carried.values()}
    for folder, members in listed.items():
        _folder_gestures(result, folder, members, home, present=folder in found or folder in moved)
    for folder in new:
        if folder not in alias and found[folder]:
            result.new_albums[folder] = sorted(found[folder])
    listed_in = {o: f for f, members in listed.items() for o in members}
    for folder, links in found.items():  # links the user made, or copied beside autoalbum's
        owner = alias.get(folder, folder)
        for original in links:
            was = listed_in.get(original)
            copied = was is not None and was != owner and was in home.get(original, [])
            if owner in listed and (was is None or copied) and original not in result.pins:
                result.pins[original] = owner
    for original in [o for o, f in result.pins.items() if f in new and f not in alias]:
        del result.pins[original]  # a new album's examples
    return result


def _renames(
    listed: Mapping[str, set[P]],
    found: Mapping[str, Mapping[P, str]],
    where: Mapping[P, list[str]],
    new: list[str],
) -> dict[str, str]:
    """Folder -> new folder holding most of its links, for folders gone or left without them."""
    renames: dict[str, str] = {}
    for folder, members in listed.items():
        if folder == UNSORTED_FOLDER or (folder in found and set(found[folder]) & members):
            continue
        homes = Counter(f for o in members for f in where.get(o, []) if f in new)
        for candidate, count in homes.most_common(1):
            seen = sum(1 for o in members if o in where)
            if candidate not in renames.values() and 2 * count >= seen:
                renames[folder] = candidate
    return renames


def _folder_gestures(
    result: Gestures[P], folder: str, members: set[P], home: Mapping[P, list[str]], *,
    present: bool,
) -> None:  # fmt: skip
    """What happened to one album folder's links."""
    still = {o for o in members if folder in home.get(o, [])}
    moved = {o: [f for f in home.get(o, []) if f != folder] for o in members - still}
    moved_to = {o: f[0] for o, f in moved.items() if len(f) == 1}
    deleted = [o for o, f in moved.items() if not f]
    if folder == UNSORTED_FOLDER:  # out of _unsorted: into the album it was moved to
        result.pins.update(moved_to)
        return
    targets = set(moved_to.values())
    if not still and len(targets) == 1 and not deleted and folder not in result.renames:
        result.merges[folder] = targets.pop()
        return
    if not present or (not still and not moved_to and folder not in result.renames):
        result.retired.add(folder)
        result.pins.update(moved_to)
        return
    result.pins.update(moved_to)
    result.excludes.update((o, folder) for o in deleted)


def adoption(
    written: Mapping[P, WrittenLink],
    links: Mapping[str, Mapping[P, str]],
    found: Gestures[P],
    real: Mapping[P, P] | None = None,
) -> dict[str, list[Linked]] | None:
    """The photos of each album folder the user changed, as it holds them now (the user's link
    names), for autoalbum to record as its own (sidecar.adopt) and update in place instead of
    rebuilding the tree. `written` and `links` are what `gestures` compared. Only when every
    change is a link moved from one album folder to another, or deleted (pins and excludes);
    None for anything else (a folder made, renamed or deleted, a link copied, or made to a
    photo autoalbum did not link there): the tree is rebuilt then. Folders whose photos are as
    written are left out."""
    if found.renames or found.merges or found.retired or found.new_albums:
        return None
    real = _real_of(written, real)
    path_of = {r: p for p, r in real.items()}
    homes: dict[P, list[str]] = {}
    for folder, held in links.items():
        for original in held:
            homes.setdefault(original, []).append(folder)
    listed: dict[str, list[P]] = {}
    for path, link in written.items():
        listed.setdefault(link.folder, []).append(path)
    adopted: dict[str, list[Linked]] = {}
    for folder, held in links.items():
        if folder not in listed:
            if held:
                return None
            continue
        photos, kept = [], set()
        for path in listed[folder]:
            original = real[path]
            if original in held:
                photos.append(Linked(str(path), held[original], written[path].distance))
                kept.add(original)
            elif original in homes and homes[original] != [found.pins.get(original)]:
                return None  # gone from here, neither deleted nor moved to one album folder
        for original, name in held.items():
            source = path_of.get(original)
            if original in kept:
                continue
            if source is None or found.pins.get(original) != folder or homes[original] != [folder]:
                return None  # a link the user made or copied: not one autoalbum wrote elsewhere
            photos.append(Linked(str(source), name, written[source].distance))
        before = [Linked(str(p), written[p].link, written[p].distance) for p in listed[folder]]
        if photos != before:
            adopted[folder] = photos
    return adopted


# applying them


def _nested_renames(result: Gestures[P], found: Mapping[str, Mapping[P, str]]) -> dict[str, str]:
    """Renames of sub-album folders, read as the user meant them: one that moved with its
    renamed album is no rename of its own (the album's rename is, when the album had no
    photos of its own to show it); one dragged into another album, or out to the top, is an
    album made from its photos, and the sub-album it was is retired. Returns the folders
    carried with their album: new path -> the path written."""
    renames = dict(result.renames)
    carried: dict[str, str] = {}
    for folder, renamed in sorted(renames.items(), key=lambda pair: depth(pair[0])):
        old_parent, new_parent = parent_folder(folder), parent_folder(renamed)
        if old_parent == new_parent:
            continue
        with_album = (
            old_parent
            and new_parent
            and own_folder(folder) == own_folder(renamed)
            and old_parent not in found
            and result.renames.get(old_parent, new_parent) == new_parent
        )
        if with_album:
            result.renames.setdefault(old_parent, new_parent)  # its album was renamed
            del result.renames[folder]
            carried[renamed] = folder
            continue
        del result.renames[folder]
        result.retired.add(folder)
        result.new_albums[renamed] = sorted(found[renamed])
    return carried


def album_name(folder: str, number: int) -> tuple[str, str | None]:
    """The name a folder the user typed gives its album, and the folder to keep verbatim
    (None when it is autoalbum's own spelling, `07-coffee`)."""
    match = re.fullmatch(r"0*(\d+)-(.+)", folder)
    if match and int(match.group(1)) == number:
        return match.group(2), None
    return folder, folder


def apply(found: Gestures[P], written: Mapping[P, WrittenLink], catalog: Catalog,
          corrector: Corrector, real: Mapping[P, P] | None = None,
          folders: Mapping[str, int] | None = None) -> None:  # fmt: skip
    """Record the gestures as corrections (inside a catalog transaction). `folders`: the
    album number of each folder the tree's index lists, for albums shown without photos of
    their own (only sub-albums)."""
    by_number = {a.number: a for a in catalog.albums()}
    numbers = {**(folders or {}), **{w.folder: w.album for w in written.values()}}
    paths = {r: p for p, r in _real_of(written, real).items()}

    def album(folder: str) -> AlbumRecord | None:
        record = by_number.get(numbers.get(folder, -1))
        if record is None:
            log.warning("album folder %s: its album is gone since; ignoring what was done", folder)
        return record

    def content(original: P) -> int | None:
        record = catalog.file(Path(paths.get(original, original)))
        if record is None or record.status is not Status.OK or record.content_id is None:
            log.warning("ignoring a link to %s: not an indexed photo of this library", original)
            return None
        return record.content_id

    for folder, renamed in found.renames.items():
        if (record := album(folder)) is not None:
            name, verbatim = album_name(own_folder(renamed), record.number)
            catalog.update_album(record.id, name, record.centroid, True)
            catalog.set_user_made(record.id, record.user_made, verbatim)
            log.info("album folder %s renamed to %s: album %d is %r", folder, renamed,
                     record.number, name)  # fmt: skip
    for folder, examples in found.new_albums.items():
        ids = [c for c in map(content, examples) if c is not None]
        if ids:
            made = corrector.make_album(own_folder(folder), ids, own_folder(folder))
            if parent_folder(folder) and (inside := album(parent_folder(folder))) is not None:
                catalog.set_parent(made.id, inside.id)  # a folder made inside an album's
            log.info("new folder %s: album %d made from %d examples", folder, made.number, len(ids))
    for folder, into in found.merges.items():
        source, target = album(folder), album(into)
        if source is not None and target is not None:
            corrector.merge(source, target)
            log.info("all of %s moved into %s: merged", folder, into)
    for folder in found.retired:
        if (record := album(folder)) is not None:
            corrector.retire(record)
            log.info("album folder %s deleted: album %d retired", folder, record.number)
    for kind, table in (("pin", found.pins), ("exclude", found.excludes)):
        by_folder: dict[str, list[int]] = {}
        for original, folder in table.items():
            if (c := content(original)) is not None:
                by_folder.setdefault(folder, []).append(c)
        for folder, ids in by_folder.items():
            if (record := album(folder)) is not None:
                (corrector.pin if kind == "pin" else corrector.exclude)(ids, record)
                log.info("%d photos %s album folder %s", len(ids),
                         "moved into" if kind == "pin" else "deleted from", folder)  # fmt: skip


def _folders(out: Path) -> list[os.DirEntry[str]]:
    """The album folders: not hidden, not symlinks."""
    try:
        with os.scandir(out) as entries:
            return [
                e for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []


def album_gestures(catalog: Catalog, corrector: Callable[[], Corrector]) -> Interpret:
    """The album tree's gestures as corrections, made by a fresh `corrector()` each time."""

    def interpret(
        out: Path, folders: set[str] | None
    ) -> tuple[int, Mapping[str, list[Linked]] | None]:
        written = written_links(out, folders)
        if written is None:
            return 0, {}
        real = real_paths(written)
        links = found_paths(out, set(real.values()), folders)
        found = gestures(written, links, real)
        if not len(found):
            return 0, {}
        index = sidecar.read_index(out)
        numbers = {} if index is None else {s.folder: s.number for s in index.albums}
        with catalog.transaction():
            apply(found, written, catalog, corrector(), real, numbers)
        # Only after the corrections are in: should autoalbum stop in between, the next look
        # takes the same gestures again rather than none.
        return len(found), adoption(written, links, found, real)

    return interpret
