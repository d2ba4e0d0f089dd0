"""Changing an album tree in place: arrivals and departures album by album, renames.

Only the albums named as touched are read and written; every other album's folder and members
file stay as they are (index.json takes their size and generation from before). Links are
relative to the real album folder, so renaming a folder, which stays at the same depth, keeps
every link resolving. Only symlinks a members page lists are ever removed.

After a recluster most photos keep their album (matched albums keep their number), so the
tree is updated in place too, unless more than `max_changed` of its links would be added or
removed: then `write_albums` rebuilds it and swaps it in (tree.py). Nearly all the cost of
either is symlink() calls, whose price this disk varies tenfold with load: a rebuild makes
every link (and deletes the old tree), in place makes only the links that change, but each
into a full folder, after an unlink. Measured on 100,000 links (30 albums, 2 cores): a rebuild
3.3-4.6 s on a quiet disk (18-34 s on a busy one); in place 0.3 s with no photo moved, 2.8 s
with 10% moved, 6.1 s with 25%, 12.2 s with 50%. At a million photos a recluster that moved
none spent 43 s in all, where the rebuild made it 253 s. In place costs each moved photo about
four links of a rebuild, hence RECLUSTER_MAX_CHANGED = 1/4 of the links. Its price is what a
file browser may see meanwhile: the albums change one after another for those seconds, as
with arrivals, where a swap shows the new tree at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from autoalbum.albums.filenames import free_name, name_key
from autoalbum.albums.sidecar import (
    PAGE_PHOTOS,
    IndexChanged,
    Linked,
    Shelf,
    TreeIndex,
    paged,
    prune_pages,
    read_index,
    read_members,
    read_page,
    upgrade,
    write_index,
    write_members,
    write_page,
)
from autoalbum.albums.tree import (
    Album,
    AlbumsError,
    LinkTargets,
    Row,
    depth,
    folder_names,
    own_folder,
)
from autoalbum.durable import fsync_folder

__all__ = ["RECLUSTER_MAX_CHANGED", "Row", "TakenNames", "rename_album", "rows", "update_albums"]

log = logging.getLogger(__name__)

# After a recluster, the share of the tree's links that may change in place; beyond it the
# tree is rebuilt (the module docstring weighs the two).
RECLUSTER_MAX_CHANGED = 0.25


def _link(original: str, folder: str, target: LinkTargets, taken: set[str]) -> str:
    """Link `original` into `folder` under the first free name; returns the entry name."""
    link = target(original)
    name = os.path.basename(original)
    while True:
        entry = free_name(name, taken)
        try:
            os.symlink(link, os.path.join(folder, entry))
            return entry
        except FileExistsError:  # a file the index doesn't list, perhaps the user's: keep it
            continue


class _Undo:
    """What an update in place did to the album folders, taken back should it fail before
    index.json names the new state (a full disk, a read-only remount): the folders are then as
    they were, and the user's links are never read as moved or deleted by them."""

    def __init__(self) -> None:
        self.renamed: list[tuple[Path, Path]] = []  # album folders, (old, new)
        self.folders: list[Path] = []  # album folders made
        self.removed: list[tuple[str, Path]] = []  # links unlinked: (target, link)
        self.made: list[Path] = []  # links made

    def unlink(self, link: Path) -> None:
        target = os.readlink(link)
        link.unlink()
        self.removed.append((target, link))

    def committed(self) -> None:
        """index.json names the new state: nothing is to be taken back."""
        self.renamed, self.folders, self.removed, self.made = [], [], [], []

    def take_back(self) -> None:
        for link in reversed(self.made):
            with contextlib.suppress(OSError):
                link.unlink()
        for target, link in self.removed:
            with contextlib.suppress(OSError):
                os.symlink(target, link)
        for folder in self.folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        for old, new in reversed(self.renamed):
            with contextlib.suppress(OSError):
                os.rename(new, old)


@dataclass
class _Pages:
    """An album's members pages from page `first` on, as read (`before`) and as they will be."""

    first: int
    before: list[list[Linked]]
    after: list[list[Linked]]

    def written(self, shelf: Shelf | None, generation: int) -> tuple[int, ...]:
        """Every page's generation once the pages that changed are written at `generation`."""
        old = shelf.pages if shelf is not None else ()
        return tuple(
            old[page] if page < self.first or (
                page - self.first < len(self.before)
                and self.after[page - self.first] == self.before[page - self.first]
                and page < len(old)
            ) else generation
            for page in range(self.first + len(self.after))
        )  # fmt: skip


class TakenNames:
    """The names in album folders (as name_key compares them), kept between the updates of
    one process, so that an arrival does not list its album's whole folder each time to find
    a free name: a folder's names are trusted while its (inode, mtime) is what it was right
    after autoalbum's last change in it, else listed again. A change the user made in the
    instant between autoalbum's last link and that stat goes unseen until the folder changes
    again; at worst a link then gets a name that differs only in case from the user's file
    (an exact clash is refused by the file system, and the next name taken)."""

    def __init__(self) -> None:
        self._names: dict[str, tuple[tuple[int, int], set[str]]] = {}

    def of(self, folder: Path) -> set[str]:
        """The names in `folder`, to be added to, then given back to `keep`."""
        known = self._names.pop(os.fspath(folder), None)
        if known is not None and known[0] == _stamp(folder):
            return known[1]
        return _listed(folder)

    def know(self, folders: Iterable[Path]) -> int:
        """List these folders now, ahead of the arrivals that would; returns how many were
        not known."""
        listed = 0
        for folder in folders:
            known = self._names.get(os.fspath(folder))
            with contextlib.suppress(OSError):
                if known is None or known[0] != _stamp(folder):
                    self.keep(folder, _listed(folder))
                    listed += 1
        return listed

    def keep(self, folder: Path, names: set[str]) -> None:
        """`names` are those in `folder` now that autoalbum is done changing it."""
        self._names[os.fspath(folder)] = (_stamp(folder), names)

    def forget(self) -> None:
        self._names.clear()


def _listed(folder: Path) -> set[str]:
    """The names in `folder`, as name_key compares them."""
    return {name_key(name) for name in os.listdir(folder)}


def _stamp(folder: Path) -> tuple[int, int]:
    info = os.lstat(folder)
    return info.st_ino, info.st_mtime_ns


def _sync_album(
    out: Path,
    real_out: Path,
    folder: str,
    current: _Pages,
    wanted: Sequence[Row] | None,
    arrived: Sequence[Row],
    undo: _Undo,
    names: TakenNames,
) -> tuple[int, int]:
    """Bring one album folder from `current.before` to `wanted` (all its photos; None: those
    it has), plus `arrived` (photos not in it yet): unlink leavers, link arrivals under a free
    name, keep the rest where they are, noting in `undo` what it did; `current.after` gets the
    pages. Returns links added and links removed."""
    pages = current.before
    removed = 0
    new = list(arrived)
    if wanted is not None:
        distance = {path: round(float(far), 6) for path, far in wanted}
        for photo in (photo for page in pages for photo in page if photo.path not in distance):
            if (out / folder / photo.link).is_symlink():
                undo.unlink(out / folder / photo.link)
                removed += 1
        pages = [
            [Linked(p.path, p.link, distance[p.path]) for p in page if p.path in distance]
            for page in pages
        ]
        kept = {photo.path for page in pages for photo in page}
        new += [(path, far) for path, far in distance.items() if path not in kept]
        pages = [page for page in pages if page]
    if not (out / folder).is_dir():
        (out / folder).mkdir()
        undo.folders.append(out / folder)
    if new:
        taken = names.of(out / folder)
        target = LinkTargets(os.path.join(real_out, folder))
        linked = []
        for path, far in new:
            link = _link(path, os.path.join(out, folder), target, taken)
            undo.made.append(out / folder / link)
            linked.append(Linked(path, link, round(float(far), 6)))
        names.keep(out / folder, taken)
        pages = _appended(pages, linked)
    if wanted is not None and len(pages) > 2 * -(-sum(map(len, pages)) // PAGE_PHOTOS) + 1:
        pages = paged([photo for page in pages for photo in page])  # departures left them thin
    current.after = pages or [[]]
    return len(new), removed


def _appended(pages: list[list[Linked]], photos: Sequence[Linked]) -> list[list[Linked]]:
    """`photos` added to the last page while it has room, then on new pages."""
    last = pages[-1] if pages else []
    room = max(0, PAGE_PHOTOS - len(last))
    if not pages:
        return paged(photos)
    return [
        *pages[:-1],
        last + list(photos[:room]),
        *(paged(photos[room:]) if photos[room:] else []),
    ]


def _remove_album(out: Path, shelf: Shelf, photos: Sequence[Linked]) -> int:
    """Unlink an album that has no photos left; its folder goes if nothing else is in it."""
    removed = 0
    for photo in photos:
        if (out / shelf.folder / photo.link).is_symlink():
            (out / shelf.folder / photo.link).unlink()
            removed += 1
    try:
        (out / shelf.folder).rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        log.warning("kept the folder %s of a now empty album: it holds files autoalbum did not "
                    "make; move them elsewhere, then delete it", out / shelf.folder)  # fmt: skip
    prune_pages(out, shelf)
    return removed


def rows(album: Album) -> list[Row]:
    """An album's members as `update_albums` takes them: (absolute path, distance)."""
    return [(os.path.abspath(m.path), m.distance) for m in album.members]


def update_albums(
    out: Path,
    albums: Sequence[Album],
    photos: Mapping[int, Sequence[Row]],
    *,
    arrivals: Mapping[int, Sequence[Row]] | None = None,
    failures: Sequence[tuple[Path, str]] = (),
    max_changed: float | None = None,
    names: TakenNames | None = None,
) -> tuple[int, int] | None:
    """Bring an existing tree to `albums` in place: link arrivals, unlink leavers, rewrite the
    members pages that change and index.json. `albums` lists every album the tree shows (their
    members are not looked at);
    `photos` gives, by album number, the photos of the albums to compare: (absolute path,
    distance), nearest first. `arrivals` gives, by album number, photos new to an album the
    tree has, whose other photos stay as they are: only its last page is read. Albums in
    neither are left as they are. An album missing from `albums` goes.

    With `max_changed` (after a recluster: a share of the links the tree will hold), album
    folders whose name changed are renamed in place, and the tree is left to a rebuild when
    more than that share of its links would be added or removed; without it, a folder name
    that changed means a rebuild (arrivals change no label).

    Returns (links added, links removed), or None when `write_albums` must rebuild the tree
    instead: no readable tree, a folder to rename (without `max_changed`) or to rename onto
    another entry, a new album not in `photos`, arrivals for an album the tree lacks, or too
    many links to change. A schema-1 or schema-2 tree is converted first, link names kept.
    `names`: the album folders' names as a caller that updates the tree often keeps them.
    """
    out = Path(os.path.abspath(out))
    arrivals = {n: rows for n, rows in (arrivals or {}).items() if rows and n not in photos}
    upgrade(out)
    index = read_index(out)
    if index is None:
        return None
    folders = folder_names(albums)
    shelves = {shelf.number: shelf for shelf in index.albums}
    if not arrivals.keys() <= shelves.keys():
        return None
    renames: dict[int, tuple[str, str]] = {}  # album number -> its folder, old and new
    listed = {name_key(shelf.folder) for shelf in index.albums}
    for album, folder in zip(albums, folders, strict=True):
        shelf = shelves.get(album.number)
        if shelf is None and (album.number not in photos or name_key(folder) in listed):
            return None  # a new album without its photos, or in an old album's folder
        if shelf is not None and shelf.folder != folder:
            if max_changed is None:
                return None
            renames[album.number] = (shelf.folder, folder)
    if not _can_rename(out, renames.values(), listed):
        return None
    wanted = {a.number for a in albums}
    gone = [shelf for shelf in index.albums if shelf.number not in wanted]
    compared = [n for n in photos if n in shelves and n in wanted]
    try:
        current = {
            shelf.number: _read_pages(
                out, shelf, whole=shelf.number not in arrivals.keys() - renames.keys()
            )
            for shelf in (*gone, *(shelves[n] for n in {*compared, *renames, *arrivals}))
        }
    except (IndexChanged, ValueError) as error:
        log.warning("rebuilding the album tree %s: %s", out, error)
        return None
    if max_changed is not None:
        links = sum(len(photos[n]) if n in photos else shelves[n].size for n in wanted)
        if _changes(photos, current, [*compared, *(shelf.number for shelf in gone)]) > (
            max_changed * links
        ):
            return None
    undo = _Undo()
    try:
        _rename_folders(out, renames.values(), undo)  # before members pages name them
        if renames:
            fsync_folder(out)
            log.info("renamed %d album folders in %s", len(renames), out)
        changes = _Changes(photos, arrivals, current, gone, failures)
        return _apply(out, index, albums, folders, changes, undo, names or TakenNames())
    except BaseException:
        undo.take_back()
        if names is not None:
            names.forget()
        raise


def _read_pages(out: Path, shelf: Shelf, *, whole: bool) -> _Pages:
    """An album's members pages as index.json names them: all of them, or the last only."""
    first = 0 if whole else len(shelf.pages) - 1
    before = [read_page(out, shelf, page) for page in range(first, len(shelf.pages))]
    return _Pages(first, before, before)


def _rename_folders(out: Path, renames: Iterable[tuple[str, str]], undo: _Undo) -> None:
    """Rename album folders (old, new paths), albums before their sub-albums: a sub-album's
    folder has moved with its album's, and is renamed only if its own name changed too."""
    moved: list[tuple[str, str]] = []
    for old, new in sorted(renames, key=lambda rename: depth(rename[0])):
        current = old
        for was, now in moved:
            if current.startswith(was + "/"):
                current = now + current[len(was) :]
        if current != new:
            os.rename(out / current, out / new)
            undo.renamed.append((out / current, out / new))
        moved.append((old, new))


def _can_rename(out: Path, renames: Collection[tuple[str, str]], listed: Collection[str]) -> bool:
    """Whether each album folder can be renamed (old, new): it is there, a folder, and its new
    name is free, neither an album's folder (`listed`, by name_key) nor anything else."""
    for old, new in renames:
        if not (out / old).is_dir() or (out / old).is_symlink():
            return False
        if name_key(new) != name_key(old) and (
            name_key(new) in listed or os.path.lexists(out / new)
        ):
            return False
    return len({name_key(new) for _, new in renames}) == len(renames)


def _changes(
    photos: Mapping[int, Sequence[Row]],
    current: Mapping[int, _Pages],
    numbers: Iterable[int],
) -> int:
    """How many links bringing albums `numbers` from `current` to `photos` (none for an album
    not in it: one that goes) adds and removes, and albums new in `photos` add."""
    changes = 0
    for number in numbers:
        after = {path for path, _ in photos.get(number, ())}
        was = {photo.path for page in current[number].before for photo in page}
        changes += len(after - was) + len(was - after)
    return changes + sum(len(rows) for n, rows in photos.items() if n not in current)


@dataclass(frozen=True)
class _Changes:
    """What an update in place brings the albums to (update_albums' arguments, and the pages
    it read)."""

    photos: Mapping[int, Sequence[Row]]
    arrivals: Mapping[int, Sequence[Row]]
    current: Mapping[int, _Pages]
    gone: Sequence[Shelf]
    failures: Sequence[tuple[Path, str]]


def _apply(
    out: Path,
    index: TreeIndex,
    albums: Sequence[Album],
    folders: Sequence[str],
    changes: _Changes,
    undo: _Undo,
    names: TakenNames,
) -> tuple[int, int]:
    """Members pages of the albums that changed, then index.json, then the pages and albums
    that went: the order the readers of sidecar.py rely on. What is done before index.json
    is noted in `undo`."""
    generation = index.generation + 1
    real_out = Path(os.path.realpath(out))
    shelves = {shelf.number: shelf for shelf in index.albums}
    added = removed = 0
    done: dict[int, Shelf] = {}
    # an album's folder before its sub-albums' (which it holds)
    for album, folder in sorted(zip(albums, folders, strict=True), key=lambda a: depth(a[1])):
        shelf = shelves.get(album.number)
        pages = changes.current.get(album.number, _Pages(0, [], []))
        if album.number in changes.photos or album.number in changes.arrivals:
            wanted = changes.photos.get(album.number)
            arrived = changes.arrivals.get(album.number, ())
            more, fewer = _sync_album(out, real_out, folder, pages, wanted, arrived, undo, names)
            added, removed = added + more, removed + fewer
        if shelf is None or shelf.folder != folder or pages.after != pages.before:
            moved = shelf is not None and shelf.folder != folder
            written = pages.written(None if moved else shelf, generation)
            for page, linked in enumerate(pages.after, start=pages.first):
                if written[page] == generation:
                    write_page(out, album.number, page, folder, generation, linked)
            size = sum(map(len, pages.after)) + (shelf.size - sum(map(len, pages.before))
                                                  if shelf is not None else 0)  # fmt: skip
            shelf = Shelf(album.number, folder, album.label, size, written, album.parent)
        done[album.number] = replace(shelf, label=album.label, parent=album.parent)
    new = [done[album.number] for album in albums]
    if (tuple(new), tuple(changes.failures), changes.gone) != (index.albums, index.failures, []):
        write_index(out, TreeIndex(generation, tuple(new), tuple(changes.failures), index.extra))
    undo.committed()
    for number, shelf in done.items():
        if number in shelves:
            prune_pages(out, shelves[number], len(shelf.pages))
    for shelf in sorted(changes.gone, key=lambda shelf: -depth(shelf.folder)):  # subs first
        pages = changes.current[shelf.number]
        removed += _remove_album(out, shelf, [photo for page in pages.before for photo in page])
    if added or removed:
        log.info("updated %s: %d links added, %d removed", out, added, removed)
    return added, removed


def rename_album(out: Path, number: int, label: str, folder: str) -> bool:
    """Rename album `number`'s folder to `folder` in place, give it `label`, and record both
    in the index files. False if the tree has no such album (rebuild it instead)."""
    out = Path(os.path.abspath(out))
    upgrade(out)
    index = read_index(out)
    if index is None or number not in {shelf.number for shelf in index.albums}:
        return False
    shelf = next(s for s in index.albums if s.number == number)
    others = [
        Album(s.number, s.label, (), own_folder(s.folder), s.parent)
        for s in index.albums
        if s.number != number
    ]
    new_folder = folder_names([*others, Album(number, label, (), folder, shelf.parent)])[-1]
    try:
        photos = read_members(out, shelf)
    except (IndexChanged, ValueError):
        return False
    moved = new_folder != shelf.folder
    if (
        moved
        and os.path.lexists(out / new_folder)
        and name_key(new_folder) != name_key(shelf.folder)
    ):
        raise AlbumsError(f"can't rename {out / shelf.folder}: {out / new_folder} exists")
    # Its sub-albums' folders lie in its folder: they move with it.
    inside = [s for s in index.albums if s.folder.startswith(shelf.folder + "/")]
    try:
        below = {s.number: read_members(out, s) for s in inside}
    except (IndexChanged, ValueError):
        return False
    undo = _Undo()
    try:
        if moved:
            os.rename(out / shelf.folder, out / new_folder)
            undo.renamed.append((out / shelf.folder, out / new_folder))
            fsync_folder((out / new_folder).parent)
        generation = index.generation + 1
        folder_of = {number: new_folder}
        pages = {number: write_members(out, number, new_folder, generation, photos)}
        for s in inside:
            folder_of[s.number] = new_folder + s.folder[len(shelf.folder) :]
            pages[s.number] = write_members(
                out, s.number, folder_of[s.number], generation, below[s.number]
            )
        shelves = tuple(
            replace(s, folder=folder_of[s.number], pages=pages[s.number])
            if s.number in folder_of
            else s
            for s in index.albums
        )
        shelves = tuple(replace(s, label=label) if s.number == number else s for s in shelves)
        write_index(out, TreeIndex(generation, shelves, index.failures, index.extra))
        for s in (shelf, *inside):
            prune_pages(out, s, len(pages[s.number]))
    except BaseException:
        undo.take_back()
        raise
    log.info("renamed %s to %s", out / shelf.folder, out / new_folder)
    return True
