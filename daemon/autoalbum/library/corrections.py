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

The verbs that make corrections and apply them at once are in corrector.py.
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
from autoalbum.library.records import CorrectionKind, CorrectionRecord

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


def album_centres(catalog: Catalog) -> dict[int, Vectors]:
    """Each album's centre, by album id; albums without one are left out."""
    return {a.id: a.centroid for a in catalog.albums() if a.centroid is not None}


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
    centres = album_centres(catalog)
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
    centres = album_centres(catalog)
    return constrained(ids, normalise(vectors), [None] * len(ids), centres, load_rules(catalog))
