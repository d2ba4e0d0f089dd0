"""The album keeper: files photos into albums, reclusters, renames, writes the album tree and
records each run.

A new photo joins its nearest album; a recluster starts afresh but keeps each matched album's
number and name. The catalog holds the albums; the tree on disk is written from it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.matching import AlbumPlan, PreviousAlbum, plan_albums
from autoalbum.albums.tree import (
    INDEX_NAME,
    UNSORTED_FOLDER,
    UNSORTED_NUMBER,
    Album,
    folder_names,
    update_albums,
    write_albums,
)
from autoalbum.clustering.choose_k import KChoice
from autoalbum.clustering.cluster import Method, cluster
from autoalbum.config import ClusterConfig, granularity_steps
from autoalbum.embedding.embedder import normalise
from autoalbum.errors import AutoalbumError
from autoalbum.library.records import AlbumRecord, RunRecord, Status
from autoalbum.library.stores import Stores
from autoalbum.library.tagging import Tagger


class Cancelled(Exception):
    """A recluster was called off before it changed the catalog."""


@dataclass(frozen=True)
class ReclusterReport:
    images: int
    albums: int
    unsorted: int
    choice: KChoice | None
    seconds: float


class Keeper:
    """Keeps the albums in the catalog and the album tree in `albums` up to date, and with a
    `tagger` the photos' sidecar keywords too."""

    def __init__(
        self, settings: ClusterConfig, albums: Path, stores: Stores, tagger: Tagger | None = None
    ) -> None:
        self.settings = settings
        self.albums = albums
        self.stores = stores
        self.catalog = stores.catalog
        self.tagger = tagger

    def tree_exists(self) -> bool:
        return (self.albums / INDEX_NAME).is_file()

    def _unsorted_album(self) -> int:
        for album in self.catalog.albums():
            if album.number == UNSORTED_NUMBER:
                return album.id
        return self.catalog.add_album(UNSORTED_NUMBER, UNSORTED_FOLDER, None, False)

    def _nearest_albums(
        self, vectors: NDArray[np.float32]
    ) -> tuple[list[int], NDArray[np.float32]]:
        albums = [a for a in self.catalog.albums() if a.centroid is not None]
        centroids = np.stack([a.centroid for a in albums if a.centroid is not None])
        similarity = vectors @ centroids.T
        nearest = similarity.argmax(axis=1)
        distances = (1.0 - similarity[np.arange(len(vectors)), nearest]).astype(np.float32)
        return [albums[i].id for i in nearest], distances

    def _place(
        self, ids: NDArray[np.int64], album_ids: list[int], distances: NDArray[np.float32]
    ) -> int:
        """Store assignments; photos too far from their album go to _unsorted."""
        limit = self.settings.unsorted_distance
        far = distances > limit
        if far.any():
            unsorted = self._unsorted_album()
            album_ids = [unsorted if f else a for a, f in zip(album_ids, far, strict=True)]
        self.catalog.assign([int(i) for i in ids], album_ids, [float(d) for d in distances])
        return int(far.sum())

    def assign_new(self, *, cluster_first: bool = True) -> int:
        """Put every live, unassigned photo into its nearest album. With no albums yet, cluster
        (or, without `cluster_first`, leave the photos for a recluster to come)."""
        ids = self.catalog.unassigned_ids()
        if not len(ids):
            return 0
        if not self.catalog.has_centres():
            return self.recluster(write=False).images if cluster_first else 0
        album_ids, distances = self._nearest_albums(self.catalog.vectors(ids))
        with self.catalog.transaction():
            self._place(ids, album_ids, distances)
        return len(ids)

    def recluster(
        self, write: bool = True, cancelled: Callable[[], bool] = lambda: False
    ) -> ReclusterReport:
        """Cluster all photos afresh; old albums keep their number and name where matched.
        Raises `Cancelled`, having changed nothing, if `cancelled()` before it commits."""
        started = time.monotonic()
        ids = self.catalog.content_ids(live_only=True)
        if len(ids) == 0:
            raise AutoalbumError("the library has no indexed photos yet; run autoalbum index")
        vectors = self.catalog.codes(ids)  # decoded a chunk at a time: memory stays bounded
        settings = self.settings
        k = None if settings.k == "auto" else min(int(settings.k), len(ids))
        low, high = settings.k_range
        clustering, choice = cluster(
            vectors, k, k_range=(low, high), granularity=granularity_steps(settings.granularity),
            seed=settings.seed, method=Method(settings.method),
        )  # fmt: skip
        votes = self._votes(ids, clustering.labels, clustering.k)
        previous = [
            PreviousAlbum(a.id, a.number, a.name, a.user_named, a.centroid)
            for a in self.catalog.albums()
            if a.centroid is not None
        ]
        sizes = np.bincount(clustering.labels, minlength=clustering.k).tolist()
        if cancelled():
            raise Cancelled("recluster cancelled before it changed anything")
        with self.catalog.transaction():
            plans = plan_albums(
                previous, clustering.centroids, votes, sizes=sizes,
                next_number=self.catalog.next_album_number(),
            )  # fmt: skip
            album_of_cluster = self._apply_plans(plans, clustering.centroids, previous)
            unsorted = self._place(
                ids, [album_of_cluster[c] for c in clustering.labels], clustering.distances
            )
        if write:
            self.write_tree(rebuild=True)
        report = ReclusterReport(
            len(ids), clustering.k, unsorted, choice, time.monotonic() - started
        )
        self.record("recluster", started, len(ids), clustering.k, choice)
        return report

    def recentre(self) -> None:
        """Inside a transaction, after the vectors changed model: each album's centre becomes
        the normalised mean of its members' vectors, so that the next recluster matches its
        clusters to the albums in the new space; an album without members loses its centre."""
        ids = self.catalog.content_ids(live_only=True)
        albums = self.catalog.album_ids(ids)
        vectors = self.catalog.vectors(ids) if len(ids) else np.zeros((0, 0), np.float32)
        for album in self.catalog.albums():
            if album.centroid is None:
                continue
            members = vectors[[i for i, a in enumerate(albums) if a == album.id]]
            centre = normalise(members.mean(axis=0, keepdims=True))[0] if len(members) else None
            self.catalog.update_album(album.id, album.name, centre, album.user_named)

    def _votes(
        self, ids: NDArray[np.int64], labels: NDArray[np.int64], k: int
    ) -> list[Counter[int]]:
        votes: list[Counter[int]] = [Counter() for _ in range(k)]
        for label, top in zip(labels, self.catalog.top_classes(ids), strict=True):
            if top is not None:
                votes[int(label)][int(top)] += 1
        return votes

    def _apply_plans(
        self,
        plans: Sequence[AlbumPlan],
        centroids: NDArray[np.float32],
        previous: Sequence[PreviousAlbum],
    ) -> dict[int, int]:
        """Create, update and retire albums per the plan; returns album id by cluster."""
        album_of_cluster: dict[int, int] = {}
        for plan in plans:
            centroid = centroids[plan.cluster]
            if plan.album_id is None:
                album_id = self.catalog.add_album(plan.number, plan.name, centroid, plan.user_named)
            else:
                album_id = plan.album_id
                self.catalog.update_album(album_id, plan.name, centroid, plan.user_named)
            album_of_cluster[plan.cluster] = album_id
        kept = set(album_of_cluster.values())
        self.catalog.delete_albums(p.id for p in previous if p.id not in kept)
        return album_of_cluster

    def rename(self, album: str, name: str) -> str:
        """Give an album a name that every later recluster keeps; returns the old name."""
        folders = self._folders()
        record = self._album_called(album, folders)
        if record is None:
            known = ", ".join(folders.values())
            raise AutoalbumError(f"no album called {album!r}; albums: {known or 'none yet'}")
        with self.catalog.transaction():
            self.catalog.update_album(record.id, name, record.centroid, True)
        self.write_tree()
        return record.name

    def _album_called(self, album: str, folders: dict[int, str]) -> AlbumRecord | None:
        """The album with this name, number or folder name (by its number part)."""
        for record in self.catalog.albums():
            folder = folders.get(record.id)
            if album in (record.name, str(record.number)) or (
                folder is not None and album.split("-", 1)[0] == folder.split("-", 1)[0]
            ):
                return record
        return None

    def _folders(self) -> dict[int, str]:
        """Album id -> its folder, spelled as the album tree spells it."""
        ids, tree = self._tree()
        return dict(zip(ids, folder_names(tree), strict=True))

    def _tree(self) -> tuple[list[int], list[Album]]:
        """The albums with members, as the album tree shows them, and their ids."""
        members = self.catalog.members()
        albums = [a for a in self.catalog.albums() if a.id in members]
        tree = [Album(a.number, a.name, tuple(members[a.id])) for a in albums]
        return [a.id for a in albums], tree

    def write_tree(self, *, rebuild: bool = False, tick: Callable[[], None] = lambda: None) -> None:
        """Bring the album folder up to date with the catalog: in place, link by link, when
        the albums are the same ones, else (or with `rebuild`) rebuilt and swapped in whole,
        so that a file browser never sees a half-reclustered tree. Then the tags of photos
        whose album changed; `tick` now and then while they take long, for a watchdog."""
        _ids, tree = self._tree()
        failures = [(f.path, f.reason or "") for f in self.catalog.files(Status.FAILED)]
        if rebuild or update_albums(self.albums, tree, failures=failures) is None:
            write_albums(self.albums, tree, failures=failures)
        if self.tagger is not None:
            self.tagger.follow(tick)

    def record(self, kind: str, started: float, images: int, k: int | None = None,
                choice: KChoice | None = None) -> None:  # fmt: skip
        run = RunRecord(
            kind, time.time() - (time.monotonic() - started), time.monotonic() - started,
            images, k, choice.score if choice else None, choice.method if choice else None,
        )  # fmt: skip
        with self.catalog.transaction():
            self.catalog.record_run(run)
