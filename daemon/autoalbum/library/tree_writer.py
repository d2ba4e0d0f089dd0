"""Writes the album tree from the catalog: in place, only the albums that changed (`stale`),
or rebuilt whole; what the user did in it is taken as corrections first (gesture_watch.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from autoalbum.albums.sidecar import read_index
from autoalbum.albums.tree import (
    INDEX_NAME,
    Album,
    Member,
    folder_names,
    own_folder,
    write_albums,
)
from autoalbum.albums.update import (
    RECLUSTER_MAX_CHANGED,
    TakenNames,
    rename_album,
    update_albums,
)
from autoalbum.library.corrections import Rules, load_rules
from autoalbum.library.corrector import Corrector
from autoalbum.library.gesture_watch import GestureWatch, Look
from autoalbum.library.gestures import album_gestures
from autoalbum.library.records import AlbumRecord, Status
from autoalbum.library.stores import Stores
from autoalbum.library.tagging import Tagger


class TreeWriter:
    """Keeps the album tree in `albums` up to date with the catalog, and with a `tagger` the
    photos' sidecar keywords too. `corrector` makes the Corrector for the user's gestures."""

    def __init__(
        self,
        albums: Path,
        stores: Stores,
        corrector: Callable[[], Corrector],
        tagger: Tagger | None = None,
    ) -> None:
        self.albums = albums
        self.catalog = stores.catalog
        self.tagger = tagger
        # What the user does in the album folder, taken as corrections before each tree write.
        interpret = album_gestures(self.catalog, corrector)
        self.gestures = GestureWatch(albums, stores.state, interpret)
        # Albums whose folders may differ from the catalog; None: any (compare them all).
        self.stale: set[int] | None = None
        # Album id -> contents new to it since the last tree update (note_arrivals).
        self.arrived: dict[int, list[int]] = {}
        self.names = TakenNames()  # the album folders' names, for arrivals' free names
        self.prepared = False  # whether `prepare` listed them

    def note_changes(self, album_ids: Collection[int]) -> None:
        """These albums gained or lost photos: the next tree update rewrites them."""
        if self.stale is not None:
            self.stale.update(album_ids)

    def note_arrivals(self, content_ids: Sequence[int], album_ids: Sequence[int]) -> None:
        """These photos, in no album before, joined these albums: the next tree update links
        them there, without comparing those albums whole."""
        if self.stale is not None:
            for content, album in zip(content_ids, album_ids, strict=True):
                self.arrived.setdefault(album, []).append(content)

    def albums_of(self, paths: Collection[Path], besides: Collection[int] = ()) -> set[int]:
        """The albums the photos at `paths` (or below them) are in now, but for those of
        contents `besides`; nothing to find when the next tree update compares every album
        anyway."""
        if self.stale is None or not paths:
            return set()
        return self.catalog.albums_of(paths, besides)

    def prepare(self) -> bool:
        """Ahead of the arrivals that would, once in this process: the tree compared whole
        with the catalog, as it must be once after opening (else the first arrival's batch
        reads every album's pages), and the album folders' names listed (TakenNames);
        whether it did either."""
        if self.prepared:
            return False
        self.prepared = True
        compared = self.stale is None and self.tree_exists()
        if compared:
            self.write_tree()
        index = read_index(self.albums)
        shelves = () if index is None else index.albums
        return self.names.know(self.albums / shelf.folder for shelf in shelves) > 0 or compared

    def tree_exists(self) -> bool:
        return (self.albums / INDEX_NAME).is_file()

    def rename(self, record: AlbumRecord, name: str, folder: str | None) -> None:
        """The album was renamed in the catalog: its folder (`folder` under the new name, as
        `folders` spelled it) is renamed in place, the links in it staying valid; or, when
        the tree has no such album, the tree is written."""
        if folder is None or not rename_album(self.albums, record.number, name, own_folder(folder)):
            self.write_tree()
        elif self.tagger is not None:
            self.tagger.follow(lambda: None)

    def shown(self) -> list[AlbumRecord]:
        """The albums the tree shows, by number: those with photos, and the albums their
        folders lie in (an album whose photos all went to its sub-albums). The sub-albums of an
        album retired lie in its parent's folder instead, of one merged, in the folder of the
        album it went into (its parent_id as shown)."""
        records = self.catalog.albums()
        parents = {a.id: a.parent_id for a in records}
        rules = load_rules(self.catalog) if any(parents.values()) else None
        albums = [replace(a, parent_id=shown_parent(a.parent_id, parents, rules)) for a in records]
        parent = {a.id: a.parent_id for a in albums}
        shown = self.catalog.albums_with_members()
        for album in list(shown):
            above = parent.get(album)
            while above is not None and above in parent and above not in shown:
                shown.add(above)
                above = parent[above]
        return [a for a in albums if a.id in shown]

    def folders(self, shown: Sequence[AlbumRecord]) -> dict[int, str]:
        """Album id -> its folder, spelled as the album tree spells it."""
        return dict(zip((a.id for a in shown), folder_names(self._headers(shown)), strict=True))

    @staticmethod
    def _headers(
        records: Sequence[AlbumRecord], members: Mapping[int, Sequence[Member]] | None = None
    ) -> list[Album]:
        """The albums as the tree shows them, with `members` where given."""
        members = members or {}
        number = {a.id: a.number for a in records}
        return [
            Album(
                a.number, a.name, tuple(members.get(a.id, ())), a.folder,
                number.get(a.parent_id) if a.parent_id is not None else None,
            )
            for a in records
        ]  # fmt: skip

    def write_tree(self, *, rebuild: bool = False, tick: Callable[[], None] = lambda: None) -> None:
        """What the user did in the album folder becomes corrections first (gesture_watch.py);
        then the tree is written, all under the tree lock: in place after links moved or
        deleted (kept where the user put them), rebuilt after any other gesture. `rebuild`:
        the albums may have changed wholesale (a recluster): every album is compared, and the
        tree rebuilt when too many links would change in place (update.RECLUSTER_MAX_CHANGED)."""
        self.gestures.write(lambda look: self._write_looked(look, rebuild=rebuild, tick=tick))

    def take_gestures(self) -> int:
        """Turn what the user did in the album folder into corrections, and write the tree if
        they did anything; returns how many gestures."""
        return self.gestures.take(lambda look: self._write_looked(look))

    def _write_looked(
        self, look: Look, *, rebuild: bool = False, tick: Callable[[], None] = lambda: None
    ) -> None:
        """Write the tree after a look for gestures: the albums it adopted are compared with
        the catalog too."""
        if look.adopted:
            self.note_changes([a.id for a in self.catalog.albums() if a.number in look.adopted])
        self._write_tree(rebuild=rebuild, force=look.rebuild, tick=tick)

    def _write_tree(
        self, *, rebuild: bool = False, force: bool = False, tick: Callable[[], None] = lambda: None
    ) -> None:
        """Bring the album folder up to date with the catalog: in place, reading and writing
        only the albums in `stale` (all of them when it is None, as after opening the
        library); after a recluster (`rebuild`) in place only while few links change, else
        rebuilt and swapped in whole, so that a file browser never sees a half-reclustered
        tree; with `force` rebuilt. Then the tags of photos whose album changed; `tick` now
        and then while they take long, for a watchdog."""
        stale, self.stale = self.stale, None  # should this fail, the next one compares all
        arrived, self.arrived = self.arrived, {}
        if rebuild:
            stale = None
        failures = [(f.path, f.reason or "") for f in self.catalog.files(Status.FAILED)]
        shown = self.shown()
        tree = self._headers(shown)
        photos = None
        if not force and self.tree_exists():
            arrivals = {}
            if stale is not None:
                stale |= self._unlisted(shown, arrived.keys() - stale)
                arrivals = self._arrivals(
                    shown, {a: c for a, c in arrived.items() if a not in stale}
                )
            photos = self._photos(shown, stale)
            limit = RECLUSTER_MAX_CHANGED if rebuild else None
            done = update_albums(
                self.albums, tree, photos, arrivals=arrivals, failures=failures,
                max_changed=limit, names=self.names,
            )  # fmt: skip
            if done is not None:
                self._written(tick)
                return
        if photos is None or stale is not None:  # every album's photos, read once
            photos = self._photos(shown, None)
        write_albums(self.albums, tree, failures=failures, photos=photos)
        self._written(tick)

    def _written(self, tick: Callable[[], None]) -> None:
        """The tree is as the catalog says: no album is stale, and the tags follow."""
        self.stale = set()
        if self.tagger is not None:
            self.tagger.follow(tick)

    def _unlisted(self, shown: Sequence[AlbumRecord], album_ids: Collection[int]) -> set[int]:
        """Of these albums, those the tree's index.json does not list yet (new albums): they
        are compared whole, not only given their arrivals."""
        if not album_ids:
            return set()
        index = read_index(self.albums)
        listed = set() if index is None else {shelf.number for shelf in index.albums}
        return {a.id for a in shown if a.id in album_ids and a.number not in listed}

    def _arrivals(
        self, shown: Sequence[AlbumRecord], arrived: Mapping[int, Sequence[int]]
    ) -> dict[int, list[tuple[str, float]]]:
        """The photos new to each album (by id) in `arrived`, by album number, as the tree
        takes them: (absolute path, distance), nearest first; looked up by content id."""
        number = {a.id: a.number for a in shown}
        contents = [c for album, ids in arrived.items() if album in number for c in ids]
        abspath = os.path.abspath
        return {
            number[album]: sorted(((abspath(path), far) for path, far in rows), key=_nearest)
            for album, rows in self.catalog.arrival_rows(contents).items()
            if album in number and album in arrived
        }

    def _photos(
        self, shown: Sequence[AlbumRecord], stale: set[int] | None
    ) -> dict[int, list[tuple[str, float]]]:
        """The photos of the shown albums in `stale` (None: of all), by album number, as the
        tree takes them: (absolute path, distance), nearest first."""
        ids = None if stale is None else [a.id for a in shown if a.id in stale]
        number = {a.id: a.number for a in shown}
        abspath = os.path.abspath
        return {
            number[album]: [(abspath(path), far) for path, far in members]
            for album, members in self.catalog.member_rows(ids).items()
            if album in number
        }


def _nearest(row: tuple[str, float]) -> tuple[float, str]:
    return row[1], row[0]


def shown_parent(
    album: int | None, parents: Mapping[int, int | None], rules: Rules | None
) -> int | None:
    """The album whose folder holds a sub-album of `album`: itself, or for one retired its
    own parent's (followed up), for one merged the album it went into."""
    seen: set[int] = set()
    while album is not None and album in parents and album not in seen:
        seen.add(album)
        into = album if rules is None else rules.resolve(album)
        if into == album:
            return album
        album = parents[album] if into is None else into
    return None
