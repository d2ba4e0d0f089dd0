"""No album of stray near-copies: mirrored, cropped or brightened copies of photos that sit in
another album are filed with them, not split off as an album of their own.

A small set clustered with automatic k can score best with a variant or two split off (the
demo's mirrored motorcycle made an album of one, and one seed in five split the rocket's six
variants 3/3). An album of at most FOLD_MAX_SIZE photos, every one of which is a near-duplicate
of a photo in one other album, is folded into that album, smallest albums first. A small album
with a photo unlike anything else stays. Only small albums are looked at, so the cost is one
pass over the vectors for a few rows, and none when there is no small album.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.kmeans import Clustering, from_labels
from autoalbum.clustering.rows import Rows

log = logging.getLogger(__name__)

# Calibrated on flowers17: resized and re-encoded copies score >= 0.97, 5%-cropped copies
# about 0.95 (5th percentile 0.88), mirrored 0.95; distinct cat/dog photos never exceed 0.81.
# The demo's variants score 0.89-0.99 to their nearest sibling.
NEAR_DUPLICATE_SIMILARITY = 0.90
FOLD_MAX_SIZE = 5  # albums of at most this many photos are looked at


def album_similarity(
    x: Rows, labels: NDArray[np.int64], rows: NDArray[np.int64], k: int
) -> NDArray[np.float32]:
    """(len(rows), k): each of `rows`' highest cosine similarity to another photo of each
    album (-inf for an album with none); one pass over the chunks."""
    probes = x.take(rows)
    best = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for start, chunk in x.chunks():
        similarity = probes @ chunk.T
        own = (rows >= start) & (rows < start + len(chunk))
        similarity[own, rows[own] - start] = -np.inf
        albums = labels[start : start + len(chunk)]
        for album in np.unique(albums):
            column = similarity[:, albums == album].max(axis=1)
            best[:, album] = np.maximum(best[:, album], column)
    return best


def fold_near_copies(x: Rows, clustering: Clustering, fewest: int = 1) -> Clustering:
    """The clustering with each small album of near-copies folded into the album they copy
    (module doc), keeping at least `fewest` albums; as it was if none folds."""
    sizes = np.bincount(clustering.labels, minlength=clustering.k)
    small = np.flatnonzero(sizes <= FOLD_MAX_SIZE)
    if clustering.k <= fewest or not len(small):
        return clustering
    rows = np.flatnonzero(sizes[clustering.labels] <= FOLD_MAX_SIZE).astype(np.int64)
    similarity = album_similarity(x, clustering.labels, rows, clustering.k)
    album_of = clustering.labels[rows].copy()
    left = clustering.k
    for album in small[np.argsort(sizes[small], kind="stable")]:
        members = album_of == album
        closest = similarity[members].min(axis=0)  # to each album, its least-copied member's best
        closest[album] = -np.inf
        target = int(closest.argmax())
        if left <= fewest or closest[target] < NEAR_DUPLICATE_SIMILARITY:
            continue
        album_of[members] = target
        similarity[:, target] = np.maximum(similarity[:, target], similarity[:, album])
        similarity[:, album] = -np.inf
        left -= 1
    if left == clustering.k:
        return clustering
    log.info("folded %d album(s) of near-copies into the albums they copy", clustering.k - left)
    labels = clustering.labels.copy()
    labels[rows] = album_of
    return from_labels(x, labels, clustering.k)
