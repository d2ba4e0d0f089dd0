"""Carry album identities across reclusters: match new clusters to old albums.

Hungarian matching (scipy's linear_sum_assignment) on the cosine similarity of centres keeps
each album's id, number and name with the cluster that continues it. New clusters get numbers
never used before; a vanished album's number is retired. Names come from names.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from autoalbum.albums.names import Votes, album_names, still_fits

# An automatic name stays while what it names covers at least this share of the album's votes.
# Below the share a new name needs (names.NAME_SHARE), so near ties never flip a name back and
# forth between reclusters.
KEEP_NAME_SHARE = Fraction(1, 2)


@dataclass(frozen=True)
class PreviousAlbum:
    id: int
    number: int
    name: str
    user_named: bool
    centroid: NDArray[np.float32]


@dataclass(frozen=True)
class AlbumPlan:
    cluster: int
    album_id: int | None
    number: int
    name: str
    user_named: bool
    renamed_from: str | None = None


def keeps_name(name: str, votes: Votes) -> bool:
    """Is the old name still worthy of the cluster's content?"""
    return still_fits(name, votes, KEEP_NAME_SHARE)


def _match(
    previous: Sequence[PreviousAlbum], centroids: NDArray[np.float32], min_similarity: float
) -> dict[int, PreviousAlbum]:
    """New cluster index -> the old album it continues."""
    if not previous or not len(centroids):
        return {}
    old = np.stack([p.centroid for p in previous]).astype(np.float32)
    similarity = centroids @ old.T
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return {
        int(r): previous[int(c)]
        for r, c in zip(rows, cols, strict=True)
        if similarity[r, c] >= min_similarity
    }


def _kept_names(matched: dict[int, PreviousAlbum], votes: Sequence[Votes]) -> dict[int, str]:
    """Cluster -> the name it keeps: the user's, or an automatic one that still fits."""
    kept = {c: album.name for c, album in matched.items() if album.user_named}
    for cluster, album in sorted(matched.items()):
        # Older libraries could hold two albums of one automatic name; only the first keeps it.
        if album.name not in kept.values() and keeps_name(album.name, votes[cluster]):
            kept[cluster] = album.name
    return kept


def plan_albums(
    previous: Sequence[PreviousAlbum],
    centroids: NDArray[np.float32],
    votes: Sequence[Votes],
    *,
    sizes: Sequence[int],
    next_number: int,
    min_similarity: float = 0.5,
) -> list[AlbumPlan]:
    """One plan per new cluster: which album it continues (if any), its number and its name."""
    matched = _match(previous, centroids, min_similarity)
    names = album_names(votes, fixed=_kept_names(matched, votes))
    plans = [
        AlbumPlan(
            cluster,
            album.id,
            album.number,
            names[cluster],
            album.user_named,
            None if names[cluster] == album.name else album.name,
        )
        for cluster, album in sorted(matched.items())
    ]
    fresh = sorted((c for c in range(len(centroids)) if c not in matched), key=lambda c: -sizes[c])
    for offset, cluster in enumerate(fresh):
        plans.append(AlbumPlan(cluster, None, next_number + offset, names[cluster], False))
    return sorted(plans, key=lambda plan: plan.cluster)
