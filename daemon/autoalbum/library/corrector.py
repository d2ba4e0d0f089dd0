"""The correction verbs (pin, exclude, merge, retire, make an album, undo): each records its
corrections in the catalog and places the photos it touches again at once, by the rules of
corrections.py; and `describe`, one line for a correction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.embedder import normalise
from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import Catalog
from autoalbum.library.corrections import (
    Rules,
    Vectors,
    album_centres,
    constrained,
    learned_centres,
    load_rules,
)
from autoalbum.library.records import AlbumRecord, CorrectionKind, CorrectionRecord
from autoalbum.printable import printable

Place = Callable[[NDArray[np.int64], list[int], NDArray[np.float32], NDArray[np.bool_]], int]


class Corrector:
    """Records corrections in the catalog and brings the photos' albums in line at once (the
    caller writes the album tree). Call inside a catalog transaction. `place` stores albums
    (the keeper's: photos too far from every album go to _unsorted)."""

    def __init__(self, catalog: Catalog, place: Place, origin: str = "cli") -> None:
        self.catalog = catalog
        self.place = place
        self.origin = origin

    def pin(
        self, content_ids: Sequence[int], album: AlbumRecord, parent: int | None = None
    ) -> AlbumRecord:
        """These photos belong to `album`."""
        for content in content_ids:
            self.catalog.add_correction(
                CorrectionKind.PIN, album.id, content_id=content, parent=parent, origin=self.origin
            )
        self.apply(content_ids)
        return album

    def exclude(self, content_ids: Sequence[int], album: AlbumRecord) -> AlbumRecord:
        """These photos are never in `album`; they go to their next-nearest albums."""
        for content in content_ids:
            self.catalog.add_correction(
                CorrectionKind.EXCLUDE, album.id, content_id=content, origin=self.origin
            )
        self.apply(content_ids)
        return album

    def merge(self, album: AlbumRecord, into: AlbumRecord) -> tuple[AlbumRecord, AlbumRecord]:
        """`album`'s photos go to `into`, and later clusters like `album` too."""
        if album.id == into.id:
            raise AutoalbumError(f"can't merge album {album.name!r} into itself")
        self.catalog.add_correction(
            CorrectionKind.MERGE, album.id, target_id=into.id, origin=self.origin
        )
        self.apply(self._members(album.id))
        return album, into

    def retire(self, album: AlbumRecord) -> AlbumRecord:
        """`album` is gone for good: its photos go to their next-nearest albums."""
        self.catalog.add_correction(CorrectionKind.RETIRE, album.id, origin=self.origin)
        self.apply(self._members(album.id))
        return album

    def make_album(
        self, name: str, content_ids: Sequence[int], folder: str | None = None
    ) -> AlbumRecord:
        """A new album of these example photos, kept for good; photos like them follow."""
        if not content_ids:
            raise AutoalbumError("an album needs at least one example photo")
        vectors = self.catalog.vectors(list(content_ids))
        centre = normalise(vectors.mean(axis=0, keepdims=True))[0]
        number = self.catalog.next_album_number()
        album_id = self.catalog.add_album(number, name, centre, True)
        self.catalog.set_user_made(album_id, True, folder)
        made = self.catalog.add_correction(CorrectionKind.ALBUM, album_id, origin=self.origin)
        record = AlbumRecord(album_id, number, name, True, centre, True, folder)
        self.pin(content_ids, record, parent=made)
        return record

    def undo(self, correction_id: int) -> CorrectionRecord:
        """Take a correction back (and the pins of an album made from examples); its photos are
        placed again by the corrections that remain."""
        record = self.catalog.correction(correction_id)
        if record is None or record.undone_at is not None:
            known = "; see autoalbum corrections for the ids"
            raise AutoalbumError(f"no correction {correction_id} in force{known}")
        undone = [record.id] + [c.id for c in self.catalog.corrections() if c.parent == record.id]
        self.catalog.undo_corrections(undone)
        if record.kind is CorrectionKind.ALBUM:
            self.catalog.set_user_made(record.album_id, False, None)
        if record.content_id is not None:
            self.apply([record.content_id], replace=True)
        elif record.kind in (CorrectionKind.ALBUM,):
            self.apply(self._members(record.album_id), replace=True)
        return record

    def _members(self, album_id: int) -> list[int]:
        return list(self.catalog.live_members([album_id]))

    def apply(self, content_ids: Sequence[int], *, replace: bool = False) -> None:
        """Place these photos again as the corrections in force say, keeping each where it is
        when allowed (`replace`: their nearest allowed album instead), and let the albums
        photos are pinned to learn their centres."""
        rules = load_rules(self.catalog)
        ids = np.array(sorted(self.catalog.live_of(sorted(set(content_ids)))), dtype=np.int64)
        centres = album_centres(self.catalog)
        if len(ids) and centres:
            vectors = normalise(self.catalog.vectors(ids))
            current = self.catalog.album_ids(ids)
            initial = [None if replace else a for a in current]
            placed = constrained(ids, vectors, initial, centres, rules)
            self.place(ids, placed.album_ids, placed.distances, placed.fixed)
        self.relearn(rules)

    def relearn(self, rules: Rules) -> None:
        """The albums photos are pinned to take their centres from their members."""
        if rules.empty:
            return
        # Only the members of the albums that learn are read: a correction costs what they hold.
        learning = {rules.resolve(a) for a in rules.pins.values()} | rules.user_albums
        members = self.catalog.live_members([a for a in learning if a is not None])
        if not members:
            return
        ids = np.fromiter(members, dtype=np.int64, count=len(members))

        def take(rows: NDArray[np.int64]) -> Vectors:
            return normalise(self.catalog.vectors(ids[rows]))

        learned = learned_centres(
            ids, take, list(members.values()), rules, album_centres(self.catalog)
        )
        self.catalog.set_centroids(learned)


def describe(catalog: Catalog, record: CorrectionRecord) -> str:
    """One line for a correction: its id, what it says, and where it was made."""
    names = {a.id: a.name for a in catalog.albums()}
    album = repr(names.get(record.album_id, f"album #{record.album_id}"))
    photo = ""
    if record.content_id is not None:
        paths = catalog.paths_of(record.content_id)
        photo = str(paths[0]) if paths else f"photo #{record.content_id} (gone)"
    what = {
        CorrectionKind.PIN: f"{photo} belongs to {album}",
        CorrectionKind.EXCLUDE: f"{photo} is never in {album}",
        CorrectionKind.MERGE: f"{album} merged into {names.get(record.target_id or -1, '?')!r}",
        CorrectionKind.RETIRE: f"{album} retired",
        CorrectionKind.ALBUM: f"{album} made from examples",
    }[record.kind]
    return f"{record.id:>5}  {record.kind.value:<7}  {printable(what)}  ({record.origin})"
