"""Sub-albums: an album big enough is divided by the albums' own split test, run on its photos.

The top level is judged at the scale of the whole library (granularity.py), so the finer kinds
inside an album (a dog album's breeds) don't make albums of their own. Here each album of at
least NEST_MIN_PHOTOS photos gets its own tree: graphs, reference and whitening fitted on its
photos alone, so its inner kinds are judged at the album's scale, by the same threshold. An
album whose photos divide no more clearly than noise keeps no sub-albums. The sub-albums are
divided again the same way, at most MAX_DEPTH levels below the top.

A photo stays in the album itself (fits no sub-album) when the album's own centre is nearer
than every sub-album's centre: it lies between them. A sub-album of fewer than
SUB_MIN_PHOTOS photos is not made; its photos stay in the album.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.granularity import choose_albums
from autoalbum.clustering.kmeans import (
    Clustering,
    Vectors,
    as_rows,
    own_similarity,
    unit_centres,
)
from autoalbum.clustering.rows import Rows, Subset

NEST_MIN_PHOTOS = 60  # an album smaller than this has no sub-albums
SUB_MIN_PHOTOS = 8  # fewer photos than this make no sub-album
MAX_DEPTH = 2  # levels of sub-albums below the top, at the default granularity
SUB_K_MAX = 30  # most sub-albums in one album
# Photos an album's tree sees (the top level's sees 5,000). Measured by bench/vectors.py
# recluster at 100,000 synthetic photos in 16 albums: the recluster took 54.7 s with 5,000 (6.0
# times the 9.1 s without sub-albums: a PCA and k-NN graphs per album, both superlinear in the
# sample), 34.0 s with 2,000 (3.9 times 8.6 s), most of it the albums' PCAs.
NEST_SAMPLE = 2_000
IN_PARENT = -1  # the sub-album label of a photo that stays in the album itself


@dataclass(frozen=True)
class Nest:
    """An album's sub-albums. `labels` gives, for each of the album's photos in the order of
    the level above, its sub-album (numbered by size, largest 0) or IN_PARENT; `distances`
    its cosine distance to that sub-album's centre (IN_PARENT: to the album's); `children`
    holds each sub-album's own Nest, or None."""

    labels: NDArray[np.int64]
    centroids: NDArray[np.float32]
    distances: NDArray[np.float32]
    children: tuple[Nest | None, ...]

    @property
    def k(self) -> int:
        return len(self.centroids)


def nesting_depth(granularity: float) -> int:
    """Levels of sub-albums at a granularity: MAX_DEPTH at 0, one more per step finer, one
    fewer per step coarser (none from two steps coarser)."""
    return max(0, min(MAX_DEPTH + 2, MAX_DEPTH + round(granularity)))


def _divided(x: Rows, granularity: float, seed: int) -> Clustering | None:
    """The album's sub-albums by the split test, or None when it finds one."""
    clustering, _ = choose_albums(
        x, granularity=granularity, k_range=(1, min(SUB_K_MAX, len(x))), seed=seed,
        sample=NEST_SAMPLE,
    )  # fmt: skip
    return clustering if clustering.k > 1 else None


def _fitted(x: Rows, clustering: Clustering, to_album: NDArray[np.float32]) -> NDArray[np.int64]:
    """Sub-album labels, IN_PARENT for photos nearer the album's centre (`to_album`: each
    photo's similarity to it) than to their sub-album's, and for those of sub-albums under
    SUB_MIN_PHOTOS; renumbered by size."""
    own = 1.0 - clustering.distances
    labels = np.where(own >= to_album, clustering.labels, IN_PARENT)
    sizes = np.bincount(labels[labels >= 0], minlength=clustering.k)
    kept = np.flatnonzero(sizes >= SUB_MIN_PHOTOS)
    kept = kept[np.argsort(-sizes[kept], kind="stable")]
    renumber = np.full(clustering.k, IN_PARENT, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    return np.where(labels >= 0, renumber[np.maximum(labels, 0)], IN_PARENT)


def nest_album(
    x: Rows, *, granularity: float = 0.0, seed: int = 0, depth: int = MAX_DEPTH
) -> Nest | None:
    """The sub-albums of one album's photos, or None when it has none."""
    if depth < 1 or len(x) < NEST_MIN_PHOTOS:
        return None
    found = _divided(x, granularity, seed)
    if found is None:
        return None
    everyone = np.zeros(len(x), dtype=np.int64)
    to_album = own_similarity(x, unit_centres(x, everyone, 1), everyone)
    labels = _fitted(x, found, to_album)
    k = int(labels.max()) + 1
    if k < 2:
        return None
    centroids = unit_centres(x, np.where(labels >= 0, labels, k), k + 1)[:k]
    inside = labels >= 0
    similarity = np.where(inside, own_similarity(x, centroids, np.maximum(labels, 0)), to_album)
    children = tuple(
        nest_album(
            Subset(x, np.flatnonzero(labels == sub)),
            granularity=granularity, seed=seed, depth=depth - 1,
        )
        for sub in range(k)
    )  # fmt: skip
    return Nest(labels, centroids, (1.0 - similarity).astype(np.float32), children)


def nest(
    vectors: Vectors,
    clustering: Clustering,
    *,
    granularity: float = 0.0,
    seed: int = 0,
    depth: int = MAX_DEPTH,
) -> tuple[Nest | None, ...]:
    """Each album's sub-albums (None where it has none), in album order."""
    x = as_rows(vectors)
    return tuple(
        nest_album(
            Subset(x, np.flatnonzero(clustering.labels == album)),
            granularity=granularity, seed=seed, depth=depth,
        )
        for album in range(clustering.k)
    )  # fmt: skip


def _sub_paths(nest: Nest | None, count: int) -> list[tuple[int, ...]]:
    """For each of an album's `count` photos, its sub-album path below the album."""
    out: list[tuple[int, ...]] = [()] * count
    if nest is None:
        return out
    for sub in range(nest.k):
        rows = np.flatnonzero(nest.labels == sub)
        below = _sub_paths(nest.children[sub], len(rows))
        for row, path in zip(rows, below, strict=True):
            out[int(row)] = (sub, *path)
    return out


def album_paths(labels: NDArray[np.int64], nests: tuple[Nest | None, ...]) -> list[tuple[int, ...]]:
    """Each photo's deepest album as a path: its album, then its sub-album at each level."""
    out: list[tuple[int, ...]] = [()] * len(labels)
    for album, nest in enumerate(nests):
        rows = np.flatnonzero(labels == album)
        for row, path in zip(rows, _sub_paths(nest, len(rows)), strict=True):
            out[int(row)] = (album, *path)
    return out


def leaf_labels(labels: NDArray[np.int64], nests: tuple[Nest | None, ...]) -> NDArray[np.int64]:
    """One label per photo for its deepest album (photos left in an album itself count as
    that album's own), numbered densely: what scoring the leaves compares."""
    numbers: dict[tuple[int, ...], int] = {}
    return np.array(
        [numbers.setdefault(path, len(numbers)) for path in album_paths(labels, nests)],
        dtype=np.int64,
    )
