"""Carry album identities across reclusters: match new clusters to old albums.

Hungarian matching (scipy's linear_sum_assignment) on the cosine similarity of centres keeps
each album's id, number and name with the cluster that continues it. New clusters get numbers
never used before; a vanished album's number is retired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

UNLABELLED = "album"
# An automatic name stays while its class keeps at least this share of the top class's votes;
# near ties between two classes then never flip the name back and forth between reclusters.
KEEP_NAME_SHARE = 0.5


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


def top_name(votes: Counter[str]) -> str:
    """The most common class; ties go to the alphabetically first, for determinism."""
    if not votes:
        return UNLABELLED
    best = max(votes.values())
    return min(name for name, count in votes.items() if count == best)


def keeps_name(name: str, votes: Counter[str]) -> bool:
    """Is the old name still worthy of the cluster's content?"""
    if not votes:
        return True
    return votes.get(name, 0) >= KEEP_NAME_SHARE * max(votes.values())


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


def _continued(cluster: int, album: PreviousAlbum, votes: Counter[str]) -> AlbumPlan:
    if album.user_named or keeps_name(album.name, votes):
        return AlbumPlan(cluster, album.id, album.number, album.name, album.user_named)
    return AlbumPlan(cluster, album.id, album.number, top_name(votes), False, album.name)


def plan_albums(
    previous: Sequence[PreviousAlbum],
    centroids: NDArray[np.float32],
    votes: Sequence[Counter[str]],
    *,
    sizes: Sequence[int],
    next_number: int,
    min_similarity: float = 0.5,
) -> list[AlbumPlan]:
    """One plan per new cluster: which album it continues (if any), its number and its name."""
    matched = _match(previous, centroids, min_similarity)
    plans = [_continued(c, album, votes[c]) for c, album in sorted(matched.items())]
    fresh = sorted((c for c in range(len(centroids)) if c not in matched), key=lambda c: -sizes[c])
    for offset, cluster in enumerate(fresh):
        plans.append(
            AlbumPlan(cluster, None, next_number + offset, top_name(votes[cluster]), False)
        )
    return sorted(plans, key=lambda plan: plan.cluster)
