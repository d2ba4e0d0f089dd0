"""A recluster's sub-albums in the catalog: each album's nest (clustering/nesting.py) matched to
the sub-albums it had, as albums are matched to albums (albums/matching.py), so that a
sub-album keeps its number, name and the user's corrections across reclusters; each photo is
filed into its deepest album.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.matching import PreviousAlbum, plan_albums
from autoalbum.albums.names import Votes, narrower
from autoalbum.clustering.nesting import Nest
from autoalbum.library.catalog import Catalog

Positions = NDArray[np.int64]  # rows of the recluster's photos
VotesOf = Callable[[Positions, NDArray[np.int64], int], Sequence[Votes]]


@dataclass
class Filed:
    """Each photo's deepest album and its distance to that album's centre, and the
    sub-albums the recluster kept or made."""

    album_ids: list[int]
    distances: NDArray[np.float32]
    kept: set[int] = field(default_factory=set)


class SubAlbums:
    """Files a recluster's photos into the sub-albums of their albums (see module doc)."""

    def __init__(
        self,
        catalog: Catalog,
        votes: VotesOf,
        users: Collection[int],
        protected: Collection[int],
    ) -> None:
        """`users`: the albums the user made (never matched to a cluster); `protected`: the
        albums corrections name (kept when no cluster continues them)."""
        self.catalog = catalog
        self.votes = votes
        self.protected = protected
        albums = catalog.albums()
        self.names: dict[int, str] = {}
        self.children: dict[int, list[PreviousAlbum]] = {}
        for a in albums:
            if a.parent_id is not None and a.centroid is not None and a.id not in users:
                self.children.setdefault(a.parent_id, []).append(
                    PreviousAlbum(a.id, a.number, a.name, a.user_named, a.centroid)
                )

    def file(
        self,
        labels: NDArray[np.int64],
        album_of_cluster: Mapping[int, int],
        distances: NDArray[np.float32],
        nests: Sequence[Nest | None],
    ) -> Filed:
        """The deepest album of each photo, given its album's cluster (`labels`) and the
        nests of the clusters; sub-albums matched, made or updated in the catalog (inside the
        recluster's transaction)."""
        filed = Filed([album_of_cluster[int(c)] for c in labels], distances.copy())
        self.names = {a.id: a.name for a in self.catalog.albums()}  # the albums as planned
        for cluster, nest in enumerate(nests):
            if nest is not None:
                rows = np.flatnonzero(labels == cluster)
                self._nest(album_of_cluster[cluster], nest, rows, filed)
        return filed

    def _nest(self, parent: int, nest: Nest, rows: Positions, filed: Filed) -> None:
        """File the photos at `rows` (the album `parent`'s) into its sub-albums, recursively."""
        inside = nest.labels >= 0
        votes = self.votes(rows[inside], nest.labels[inside], nest.k)
        sizes = np.bincount(nest.labels[inside], minlength=nest.k).tolist()
        plans = plan_albums(
            self.children.get(parent, []), nest.centroids, votes, sizes=sizes,
            next_number=self.catalog.next_album_number(),
        )  # fmt: skip
        albums = {}
        for plan in plans:  # every sibling numbered before any of their own sub-albums
            centre = nest.centroids[plan.cluster]
            name = plan.name if plan.user_named else narrower(plan.name, self.names[parent])
            if plan.album_id is None:
                album = self.catalog.add_album(plan.number, name, centre, False, parent)
            else:
                album = plan.album_id
                self.catalog.update_album(album, name, centre, plan.user_named)
                self.catalog.set_parent(album, parent)
            self.names[album] = name
            filed.kept.add(album)
            albums[plan.cluster] = album
        for plan in plans:
            album = albums[plan.cluster]
            sub_rows = rows[nest.labels == plan.cluster]
            for row in sub_rows:
                filed.album_ids[int(row)] = album
            filed.distances[sub_rows] = nest.distances[nest.labels == plan.cluster]
            child = nest.children[plan.cluster]
            if child is not None:
                self._nest(album, child, sub_rows, filed)

    def gone(self, kept: Collection[int]) -> list[int]:
        """The sub-albums of before that no nest continues (and no correction names)."""
        return [
            p.id
            for ps in self.children.values()
            for p in ps
            if p.id not in kept and p.id not in self.protected
        ]
