"""The user's corrections, and how placing photos honours them.

A correction is one of records.CorrectionKind: a photo pinned to an album (must-link) or
excluded from one (cannot-link), an album merged into another or retired, an album made from
examples. They live in the catalog (tables/corrections.py), so they outlast the album tree, a
restart and every recluster; later ones override earlier ones about the same photo.

Placing honours them the same way for a recluster and for arrivals (`constrained`): pinned photos
go to their album whatever the clustering says; an album merged away sends its photos to the
album it went into, a retired one to their next-nearest albums; an excluded photo goes to its
nearest album that is allowed; albums made by the user are fixed centres that a photo joins when
it is nearer to one than to its own album. Albums that photos were pinned to learn their centre
from them (`learned_centres`), so that the next arrivals and reclusters follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.embedder import normalise
from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import Catalog
from autoalbum.library.codes import Codes
from autoalbum.library.records import AlbumRecord, CorrectionKind, CorrectionRecord
from autoalbum.printable import printable

log = logging.getLogger(__name__)

Vectors = NDArray[np.float32]


@dataclass
class Rules:
    """The corrections in force, as placing photos needs them."""

    pins: dict[int, int] = field(default_factory=dict)  # content -> album it belongs to
    excluded: dict[int, set[int]] = field(default_factory=dict)  # content -> albums it is not in
    redirect: dict[int, int | None] = field(default_factory=dict)  # merged -> into; retired: None
    user_albums: set[int] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not (self.pins or self.excluded or self.redirect or self.user_albums)

    @property
    def protected(self) -> set[int]:
        """Albums a recluster keeps even when no cluster continues them."""
        into = {a for a in self.redirect.values() if a is not None}
        return set(self.pins.values()) | self.user_albums | set(self.redirect) | into

    def resolve(self, album: int | None) -> int | None:
        """Where photos of `album` go: itself, the album it merged into, or None if retired."""
        seen: set[int] = set()
        while album is not None and album in self.redirect and album not in seen:
            seen.add(album)
            album = self.redirect[album]
        return album

    def live(self, album: int) -> bool:
        return album not in self.redirect


def rules_of(corrections: Iterable[CorrectionRecord]) -> Rules:
    """The rules that active corrections, in the order they were made, add up to."""
    rules = Rules()
    for c in corrections:
        if c.kind is CorrectionKind.PIN and c.content_id is not None:
            rules.pins[c.content_id] = c.album_id
            rules.excluded.get(c.content_id, set()).discard(c.album_id)
        elif c.kind is CorrectionKind.EXCLUDE and c.content_id is not None:
            rules.excluded.setdefault(c.content_id, set()).add(c.album_id)
            if rules.pins.get(c.content_id) == c.album_id:
                del rules.pins[c.content_id]
        elif c.kind is CorrectionKind.MERGE:
            rules.redirect[c.album_id] = c.target_id
        elif c.kind is CorrectionKind.RETIRE:
            rules.redirect[c.album_id] = None
        elif c.kind is CorrectionKind.ALBUM:
            rules.user_albums.add(c.album_id)
    rules.pins = {c: a for c, a in rules.pins.items() if rules.resolve(a) is not None}
    return rules


def load_rules(catalog: Catalog) -> Rules:
    return rules_of(catalog.corrections())


@dataclass(frozen=True)
class Placement:
    album_ids: list[int]
    distances: NDArray[np.float32]
    fixed: NDArray[np.bool_]  # pinned: never sent to _unsorted for being far


def learned_centres(
    ids: NDArray[np.int64],
    take: Callable[[NDArray[np.int64]], Vectors],
    album_ids: Sequence[int | None],
    rules: Rules,
    centres: Mapping[int, Vectors],
) -> dict[int, Vectors]:
    """New centres for the albums photos were pinned to: the mean of their members, pinned ones
    included; an album made by the user, the mean of its pinned examples. (An album merged into
    another keeps its own centre, which stands for that album: clusters like it join it.)
    `take` gives the unit vectors of rows of `ids`: only the members of those albums are read."""
    learned: dict[int, Vectors] = {}
    pinned_to = {rules.resolve(a) for a in rules.pins.values()}
    for album in pinned_to | rules.user_albums:
        if album is None or not rules.live(album):
            continue
        if album in rules.user_albums:
            rows = [i for i, c in enumerate(ids) if rules.resolve(rules.pins.get(int(c))) == album]
        else:
            rows = [i for i, a in enumerate(album_ids) if a == album]
        if rows:
            members = take(np.asarray(rows, dtype=np.int64))
            learned[album] = normalise(members.mean(axis=0, keepdims=True))[0]
        elif album in centres:
            learned[album] = centres[album]
    return learned


def constrained(
    ids: NDArray[np.int64],
    vectors: Vectors,
    initial: Sequence[int | None],
    centres: Mapping[int, Vectors],
    rules: Rules,
) -> Placement:
    """Each photo's album: `initial` (a recluster's cluster album; None: the nearest) as the
    corrections allow. `centres`: the albums' centres; a merged album's stands for the album
    it went into, a retired one's for none. Pinned photos, and those a merge sent to an
    album, are `fixed`: the user put them there, however far from its centre."""
    targets = {a: rules.resolve(a) for a in centres}
    columns = [a for a, target in targets.items() if target is not None]
    if not columns:
        raise AutoalbumError("no album is left to file photos into; undo a retire or a merge")
    matrix = np.stack([centres[a] for a in columns]).astype(np.float32)
    similarity = vectors @ matrix.T if len(ids) else np.zeros((0, len(columns)), np.float32)
    album_of = np.array([targets[a] for a in columns])
    users = np.isin(album_of, list(rules.user_albums))
    chosen: list[int] = []
    fixed = np.zeros(len(ids), dtype=bool)
    for i, content in enumerate(ids):
        pinned = rules.resolve(rules.pins.get(int(content)))
        album = rules.resolve(initial[i])
        fixed[i] = pinned is not None or (album is not None and album != initial[i])
        if pinned is not None:
            album = pinned
        else:
            excluded = rules.excluded.get(int(content), set())
            album = _allowed_choice(similarity[i], album_of, users, album, excluded)
        chosen.append(album)
    distances = np.array(
        [1.0 - _similarity(similarity[i], album_of, a) for i, a in enumerate(chosen)],
        dtype=np.float32,
    )
    return Placement(chosen, distances, fixed)


def _similarity(similarity: Vectors, album_of: NDArray[np.int64], album: int) -> float:
    """A photo's similarity to an album: to the nearest centre that stands for it."""
    mine = similarity[album_of == album]
    return float(mine.max()) if len(mine) else 0.0


def _allowed_choice(
    similarity: Vectors,
    album_of: NDArray[np.int64],
    users: NDArray[np.bool_],
    album: int | None,
    excluded: set[int],
) -> int:
    """The photo's album when not pinned: its own if allowed, else the nearest allowed; a
    user's album nearer than its own takes it."""
    allowed = ~np.isin(album_of, list(excluded))
    if album is None or album in excluded or album not in album_of:
        scores = np.where(allowed, similarity, -np.inf)
        best = int(scores.argmax()) if np.isfinite(scores).any() else int(similarity.argmax())
        return int(album_of[best])
    scores = np.where(allowed & users, similarity, -np.inf)
    if users.any() and scores.max() > _similarity(similarity, album_of, album):
        return int(album_of[int(scores.argmax())])
    return album


def honour(
    catalog: Catalog,
    ids: NDArray[np.int64],
    vectors: Codes,
    initial: Sequence[int],
    distances: NDArray[np.float32],
) -> Placement:
    """A recluster's placement (each photo's cluster album and distance) as the corrections in
    force say, inside the recluster's transaction, after its albums have their new centres.
    Albums photos are pinned to learn their centres from them, and the photos are placed again
    by the learned centres. With no corrections, the placement is the clustering's. (Rounds of
    constrained k-means after that, every centre learned again from its members, lowered NMI on
    flowers17 0.850 -> 0.822 and mnist 0.668 -> 0.646: the spectral clusters are better.)"""
    rules = load_rules(catalog)
    if rules.empty:
        return Placement(list(initial), distances, np.zeros(len(ids), dtype=bool))
    centres = {a.id: a.centroid for a in catalog.albums() if a.centroid is not None}
    placed = _constrained_chunks(ids, vectors, initial, centres, rules)

    def take(rows: NDArray[np.int64]) -> Vectors:
        return normalise(vectors.take(rows))

    centres.update(learned_centres(ids, take, placed.album_ids, rules, centres))
    placed = _constrained_chunks(ids, vectors, initial, centres, rules)
    catalog.set_centroids({a: c for a, c in centres.items() if rules.live(a)})
    return placed


def _constrained_chunks(
    ids: NDArray[np.int64],
    vectors: Codes,
    initial: Sequence[int | None],
    centres: Mapping[int, Vectors],
    rules: Rules,
) -> Placement:
    """`constrained` a chunk of decoded vectors at a time: memory stays bounded at any size."""
    parts = [
        constrained(
            ids[at : at + len(rows)], normalise(rows), initial[at : at + len(rows)], centres, rules
        )
        for at, rows in vectors.chunks()
    ]
    if not parts:
        return Placement([], np.zeros(0, np.float32), np.zeros(0, dtype=bool))
    return Placement(
        [album for part in parts for album in part.album_ids],
        np.concatenate([part.distances for part in parts]),
        np.concatenate([part.fixed for part in parts]),
    )


def place_arrivals(catalog: Catalog, ids: NDArray[np.int64], vectors: Vectors) -> Placement:
    """New photos' albums: the nearest allowed (see `constrained`)."""
    centres = {a.id: a.centroid for a in catalog.albums() if a.centroid is not None}
    return constrained(ids, normalise(vectors), [None] * len(ids), centres, load_rules(catalog))


# the verbs: each records its corrections and applies them at once


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
        centres = self._centres()
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

        learned = learned_centres(ids, take, list(members.values()), rules, self._centres())
        self.catalog.set_centroids(learned)

    def _centres(self) -> dict[int, Vectors]:
        return {a.id: a.centroid for a in self.catalog.albums() if a.centroid is not None}


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
