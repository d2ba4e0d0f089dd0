"""The album keeper: files photos into albums, reclusters, renames albums and records each run.

A new photo joins its nearest album; a recluster starts afresh but keeps each matched album's
number and name. The catalog holds the albums; the tree on disk is written from it by the
keeper's TreeWriter (tree_writer.py): after arrivals only the albums they touched (its
`stale`), after a recluster every album, in place unless most links change (then rebuilt).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.matching import AlbumPlan, PreviousAlbum, plan_albums
from autoalbum.albums.tree import UNSORTED_FOLDER, UNSORTED_NUMBER, own_folder
from autoalbum.clustering.choose_k import KChoice
from autoalbum.clustering.cluster import Method, cluster
from autoalbum.clustering.nesting import nest, nesting_depth
from autoalbum.config import ClusterConfig, granularity_steps
from autoalbum.embedding.embedder import normalise
from autoalbum.errors import AutoalbumError
from autoalbum.faces.kinds import photo_kind, with_people
from autoalbum.library.corrections import honour, load_rules, place_arrivals
from autoalbum.library.corrector import Corrector
from autoalbum.library.records import AlbumRecord, RunRecord
from autoalbum.library.stores import Stores
from autoalbum.library.sub_albums import SubAlbums
from autoalbum.library.tagging import Tagger
from autoalbum.library.tree_writer import TreeWriter

T = TypeVar("T")


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
    """Keeps the albums in the catalog, and through `tree` the album tree in `albums` (and
    with a `tagger` the photos' sidecar keywords) up to date with them."""

    def __init__(
        self,
        settings: ClusterConfig,
        albums: Path,
        stores: Stores,
        tagger: Tagger | None = None,
        *,
        use_gpu: bool = False,
    ) -> None:
        self.use_gpu = use_gpu  # k-means on a GPU where FAISS sees one (faiss_gpu.py)
        self.settings = settings
        self.stores = stores
        self.catalog = stores.catalog
        self.tree = TreeWriter(
            albums, stores, lambda: Corrector(self.catalog, self._place, "browser"), tagger
        )

    def _unsorted_album(self) -> int:
        for album in self.catalog.albums():
            if album.number == UNSORTED_NUMBER:
                return album.id
        return self.catalog.add_album(UNSORTED_NUMBER, UNSORTED_FOLDER, None, False)

    def _place(
        self,
        ids: NDArray[np.int64],
        album_ids: list[int],
        distances: NDArray[np.float32],
        fixed: NDArray[np.bool_] | None = None,
    ) -> int:
        """Store assignments; photos too far from their album go to _unsorted, unless `fixed`
        (pinned there by the user)."""
        limit = self.settings.unsorted_distance
        far = distances > limit
        if fixed is not None:
            far &= ~fixed
        if far.any():
            unsorted = self._unsorted_album()
            album_ids = [unsorted if f else a for a, f in zip(album_ids, far, strict=True)]
        if self.tree.stale is not None:  # else every album is compared anyway
            before = self.catalog.album_ids(ids)
            # the albums they leave and join change; those of photos new to the albums only
            # gain them
            self.tree.note_changes(
                [a for old, new in zip(before, album_ids, strict=True) if old is not None
                 for a in (old, new)]
            )  # fmt: skip
            new = [i for i, album in enumerate(before) if album is None]
            self.tree.note_arrivals([int(ids[i]) for i in new], [album_ids[i] for i in new])
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
        vectors = self.catalog.vectors(ids)
        with self.catalog.transaction():
            placed = place_arrivals(self.catalog, ids, vectors)
            self._place(ids, placed.album_ids, placed.distances, placed.fixed)
        return len(ids)

    def recluster(
        self, write: bool = True, cancelled: Callable[[], bool] = lambda: False
    ) -> ReclusterReport:
        """Cluster all photos afresh; old albums keep their number and name where matched, and
        the catalog's copy is taken anew. Raises `Cancelled`, having changed nothing, if
        `cancelled()` before it commits."""
        started = time.monotonic()
        ids = self.catalog.live_vector_ids()
        if len(ids) == 0:
            raise AutoalbumError("the library has no indexed photos yet; run autoalbum index")
        vectors = self.catalog.codes(ids)  # decoded a chunk at a time: memory stays bounded
        settings = self.settings
        k = None if settings.k == "auto" else min(int(settings.k), len(ids))
        low, high = settings.k_range
        steps = granularity_steps(settings.granularity)
        clustering, choice = cluster(
            vectors, k, k_range=(low, high), granularity=steps, seed=settings.seed,
            method=Method(settings.method), use_gpu=self.use_gpu,
        )  # fmt: skip
        nests = (
            nest(vectors, clustering, granularity=steps, seed=settings.seed,
                 depth=nesting_depth(steps))
            if settings.nested else ()
        )  # fmt: skip
        votes = self._votes(ids, clustering.labels, clustering.k)
        previous = [
            PreviousAlbum(a.id, a.number, a.name, a.user_named, a.centroid)
            for a in self.catalog.albums()
            if a.centroid is not None and a.parent_id is None
        ]
        sizes = np.bincount(clustering.labels, minlength=clustering.k).tolist()
        if cancelled():
            raise Cancelled("recluster cancelled before it changed anything")
        with self.catalog.transaction():
            rules = load_rules(self.catalog)  # read here: none can come in before the commit
            plans = plan_albums(
                [p for p in previous if p.id not in rules.user_albums], clustering.centroids,
                votes, sizes=sizes, next_number=self.catalog.next_album_number(),
            )  # fmt: skip
            subs = SubAlbums(
                self.catalog, lambda rows, labels, k: self._votes(ids[rows], labels, k),
                rules.user_albums, rules.protected,
            )  # fmt: skip
            album_of_cluster = self._apply_plans(
                plans, clustering.centroids, previous, rules.protected
            )
            filed = subs.file(clustering.labels, album_of_cluster, clustering.distances, nests)
            self.catalog.delete_albums(subs.gone(filed.kept))
            placed = honour(self.catalog, ids, vectors, filed.album_ids, filed.distances)
            # Every album is compared at the next write: no need to look up where each was.
            self.tree.stale = None
            unsorted = self._place(ids, placed.album_ids, placed.distances, placed.fixed)
        if write:
            self.tree.write_tree(rebuild=True)
        report = ReclusterReport(
            len(ids), clustering.k, unsorted, choice, time.monotonic() - started
        )
        self.record("recluster", started, len(ids), clustering.k, choice)
        self.stores.keep_copy()  # what `autoalbum restore` puts back if the catalog is damaged
        return report

    def recentre(self) -> None:
        """Inside a transaction, after the vectors changed model: each album's centre becomes
        the normalised mean of its members' vectors, so that the next recluster matches its
        clusters to the albums in the new space; an album without members loses its centre."""
        self.tree.stale = None
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
    ) -> list[Mapping[int | str, int]]:
        """Each cluster's ImageNet classes, or the kinds of photos of people it holds when
        most of its photos show faces (faces/kinds.py)."""
        votes: list[Counter[int]] = [Counter() for _ in range(k)]
        for label, top in zip(labels, self.catalog.top_classes(ids), strict=True):
            if top is not None:
                votes[int(label)][int(top)] += 1
        faces = self.catalog.face_kinds(ids)
        kinds: list[list[str | None]] = [[] for _ in range(k)]
        for content, label in zip(ids, labels, strict=True):
            count, biggest = faces.get(int(content), (0, 0.0))
            kinds[int(label)].append(photo_kind(count, biggest))
        return with_people(votes, kinds)

    def _apply_plans(
        self,
        plans: Sequence[AlbumPlan],
        centroids: NDArray[np.float32],
        previous: Sequence[PreviousAlbum],
        protected: Collection[int] = (),
    ) -> dict[int, int]:
        """Create, update and retire albums per the plan, keeping the `protected` ones (that
        corrections name); returns album id by cluster."""
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
        self.catalog.delete_albums(
            p.id for p in previous if p.id not in kept and p.id not in protected
        )
        return album_of_cluster

    def rename(self, album: str, name: str) -> str:
        """Give an album a name that every later recluster keeps; returns the old name. Its
        folder is renamed in place: the links in it stay valid."""
        shown = self.tree.shown()
        record = self.album(album)
        renamed = [replace(a, name=name) if a.id == record.id else a for a in shown]
        folder = self.tree.folders(renamed).get(record.id)
        with self.catalog.transaction():
            self.catalog.update_album(record.id, name, record.centroid, True)
        self.tree.rename(record, name, folder)
        return record.name

    def correct(self, action: Callable[[Corrector], T], origin: str = "cli") -> T:
        """Record and apply corrections (library/corrector.py) in one transaction, then
        bring the album tree up to date."""
        with self.catalog.transaction():
            result = action(Corrector(self.catalog, self._place, origin))
        self.tree.write_tree()
        return result

    def album(self, album: str) -> AlbumRecord:
        """The album with this name, number or folder name, or an error that lists them."""
        folders = self.tree.folders(self.tree.shown())
        record = self._album_called(album, folders)
        if record is None:
            known = ", ".join(folders.values())
            raise AutoalbumError(f"no album called {album!r}; albums: {known or 'none yet'}")
        return record

    def _album_called(self, album: str, folders: dict[int, str]) -> AlbumRecord | None:
        """The album with this name, number or folder name (by its number part)."""
        for record in self.catalog.albums():
            folder = folders.get(record.id)
            own = None if folder is None else own_folder(folder)
            if album in (record.name, str(record.number), folder) or (
                own is not None and album.split("-", 1)[0] == own.split("-", 1)[0]
            ):
                return record
        return None

    def record(self, kind: str, started: float, images: int, k: int | None = None,
                choice: KChoice | None = None) -> None:  # fmt: skip
        run = RunRecord(
            kind, time.time() - (time.monotonic() - started), time.monotonic() - started,
            images, k, choice.score if choice else None, choice.method if choice else None,
        )  # fmt: skip
        with self.catalog.transaction():
            self.catalog.record_run(run)
