"""The persistent library: incremental indexing, album assignment, reclustering, search.

The catalog (SQLite) is the truth; the FAISS index is repaired from it at start. Indexing embeds
only new or changed content: unchanged files are recognised by size and mtime, moved and
duplicate files by their content hash.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from autoalbum.albums.matching import AlbumPlan, PreviousAlbum, plan_albums
from autoalbum.albums.tree import (
    UNSORTED_FOLDER,
    UNSORTED_NUMBER,
    Album,
    Member,
    update_albums,
    write_albums,
)
from autoalbum.clustering.choose_k import KChoice
from autoalbum.clustering.cluster import Method, cluster
from autoalbum.config import Config
from autoalbum.embedding.classnames import imagenet_name
from autoalbum.embedding.embedder import Embedder
from autoalbum.embedding.pipeline import Failure, embed_paths
from autoalbum.embedding.scan import find_images
from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import CATALOG_NAME, Catalog, FileRecord, RunRecord, Status
from autoalbum.library.vectors import VECTOR_INDEX_NAME, VectorIndex

log = logging.getLogger(__name__)

# Calibrated on flowers17: resized and re-encoded copies score >= 0.97, 5%-cropped copies
# about 0.95 (5th percentile 0.88), mirrored 0.95; distinct cat/dog photos never exceed 0.81.
NEAR_DUPLICATE_SIMILARITY = 0.90
Progress = Callable[[int], Callable[[int], None]]  # total -> advance(n)


@dataclass(frozen=True)
class IndexReport:
    found: int
    unchanged: int
    embedded: int
    relinked: int  # new paths whose content was already known: moves and duplicates
    missing: int
    failed: tuple[Failure, ...]
    seconds: float


@dataclass(frozen=True)
class ReclusterReport:
    images: int
    albums: int
    unsorted: int
    choice: KChoice | None
    seconds: float


@dataclass(frozen=True)
class DuplicateGroup:
    kind: str  # "identical" (same bytes) or "near" (resized, re-encoded, slightly cropped)
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Neighbour:
    path: Path
    similarity: float


def file_hash(path: Path) -> str:
    """Content hash (BLAKE2b, 128 bits) of a file, read in 1 MiB chunks."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Library:
    """A photo library: its catalog, vector index and album tree, per one config."""

    def __init__(
        self,
        config: Config,
        embedder_factory: Callable[[], Embedder],
        *,
        load_index: bool = True,
    ) -> None:
        self.config = config
        self.state = config.library.state
        self.catalog = Catalog(self.state / CATALOG_NAME)
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        # A background recluster reads vectors from the catalog and needs no index.
        self.index = self._load_index() if load_index else VectorIndex(1)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        """The model, loaded on first use so that a no-change run does no model work."""
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    def _load_index(self) -> VectorIndex:
        dim = int(self.catalog.meta("dim") or 0)
        index = VectorIndex.load(self.state / VECTOR_INDEX_NAME, dim) if dim else VectorIndex(1)
        if dim:
            repair = index.repair(self.catalog.content_ids(), self.catalog.vectors)
            if repair.added or repair.removed:
                log.warning(
                    "repaired the vector index from the catalog: %d added, %d removed",
                    repair.added, repair.removed,
                )  # fmt: skip
                index.save(self.state / VECTOR_INDEX_NAME)
        return index

    # indexing

    def _scan(self) -> list[Path]:
        library = self.config.library
        paths = find_images(library.folders, exclude=[library.albums, self.state])
        ignored = library.ignore
        return [p for p in paths if not any(fnmatch.fnmatch(p.name, pat) for pat in ignored)]

    def index_files(self, progress: Progress | None = None) -> IndexReport:
        """Bring the catalog up to date with the folders; embed only new content."""
        started = time.monotonic()
        paths = self._scan()
        present = set(paths)
        vanished = [
            record.path
            for record in self.catalog.files()
            if record.status is not Status.MISSING and record.path not in present
        ]
        return self.ingest(paths, vanished, progress, started=started)

    def ingest(
        self,
        paths: Sequence[Path],
        vanished: Sequence[Path] = (),
        progress: Progress | None = None,
        *,
        started: float | None = None,
    ) -> IndexReport:
        """Take in files that may be new or changed and files that are gone; update albums."""
        started = time.monotonic() if started is None else started
        stats, unchanged = self._changed(paths)
        relinked, to_embed, failures = self._hash_and_relink(stats)
        embedded = self._embed_new(to_embed, failures, progress)
        with self.catalog.transaction():
            missing = self.catalog.mark_missing(vanished)
            for path in vanished:
                if self.catalog.file(path) is None:  # a deleted folder: all files below it
                    missing += self.catalog.mark_missing_under(path)
        self.assign_new()
        if embedded or relinked or missing or failures or not self._tree_exists():
            self.write_tree()
        report = IndexReport(
            found=len(paths),
            unchanged=unchanged,
            embedded=embedded,
            relinked=relinked,
            missing=missing,
            failed=tuple(failures),
            seconds=time.monotonic() - started,
        )
        self._record("index", started, report.embedded)
        return report

    def _tree_exists(self) -> bool:
        return (self.config.library.albums / "index.json").is_file()

    def _changed(self, paths: Sequence[Path]) -> tuple[list[tuple[Path, int, int]], int]:
        """Files whose size or mtime differ from the catalog's (or that are new)."""
        changed, unchanged = [], 0
        for path in paths:
            try:
                info = path.stat()
            except OSError as error:
                log.warning("skipping %s: %s", path, error.strerror)
                continue
            record = self.catalog.file(path)
            if (
                record is not None
                and record.status is not Status.MISSING
                and (record.size, record.mtime_ns) == (info.st_size, info.st_mtime_ns)
            ):
                unchanged += 1
            else:
                changed.append((path, info.st_size, info.st_mtime_ns))
        return changed, unchanged

    def _hash_and_relink(
        self, stats: Sequence[tuple[Path, int, int]]
    ) -> tuple[int, dict[str, list[tuple[Path, int, int]]], list[Failure]]:
        """Link files with known content at once; group the rest by hash for embedding."""
        relinked = 0
        to_embed: dict[str, list[tuple[Path, int, int]]] = defaultdict(list)
        failures: list[Failure] = []
        with self.catalog.transaction():
            for path, size, mtime_ns in stats:
                try:
                    digest = file_hash(path)
                except OSError as error:
                    reason = (
                        "file vanished"
                        if isinstance(error, FileNotFoundError)
                        else (f"unreadable: {error.strerror}")
                    )
                    failures.append(Failure(path, reason))
                    self.catalog.put_file(
                        FileRecord(path, size, mtime_ns, None, Status.FAILED, reason, None)
                    )
                    continue
                content = self.catalog.content_by_hash(digest)
                if content is None:
                    to_embed[digest].append((path, size, mtime_ns))
                    continue
                relinked += 1
                self.catalog.put_file(
                    FileRecord(path, size, mtime_ns, digest, Status.OK, None, content)
                )
        return relinked, to_embed, failures

    def _embed_new(
        self,
        to_embed: dict[str, list[tuple[Path, int, int]]],
        failures: list[Failure],
        progress: Progress | None,
    ) -> int:
        """Embed one file per new hash; record contents, files and failures."""
        if not to_embed:
            return 0
        representative = {entries[0][0]: digest for digest, entries in to_embed.items()}
        model = self.config.model
        result = embed_paths(
            list(representative),
            self.embedder,
            batch_size=model.batch_size,
            workers=model.workers or None,
            max_pixels=model.max_pixels,
            advance=progress(len(representative)) if progress else lambda n: None,
        )
        self._check_model(result.vectors.shape[1] if len(result.paths) else 0)
        new_ids = []
        with self.catalog.transaction():
            for row, path in enumerate(result.paths):
                digest = representative[path]
                top = int(result.top_classes[row]) if result.top_classes is not None else None
                content = self.catalog.add_content(digest, result.vectors[row], top)
                new_ids.append(content)
                for member, size, mtime_ns in to_embed[digest]:
                    self.catalog.put_file(
                        FileRecord(member, size, mtime_ns, digest, Status.OK, None, content)
                    )
            for failure in result.failures:
                digest = representative[failure.path]
                for member, size, mtime_ns in to_embed[digest]:
                    self.catalog.put_file(
                        FileRecord(
                            member, size, mtime_ns, digest, Status.FAILED, failure.reason, None
                        )
                    )
                    failures.append(Failure(member, failure.reason))
        if new_ids:
            self.index.add(np.asarray(new_ids, dtype=np.int64), result.vectors)
            self.index.save(self.state / VECTOR_INDEX_NAME)
        return len(new_ids)

    def _check_model(self, dim: int) -> None:
        """Vectors of one library must come from one model: refuse a silent mix."""
        if not dim:
            return
        stored = int(self.catalog.meta("dim") or 0)
        if stored and stored != dim:
            raise AutoalbumError(
                f"the library in {self.state} holds {stored}-d vectors but the model gives "
                f"{dim}-d ones; use a new library.state folder for a different model"
            )
        if not stored:
            with self.catalog.transaction():
                self.catalog.set_meta("dim", str(dim))
            self.index = VectorIndex(dim)

    # albums

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
        limit = self.config.cluster.unsorted_distance
        far = distances > limit
        if far.any():
            unsorted = self._unsorted_album()
            album_ids = [unsorted if f else a for a, f in zip(album_ids, far, strict=True)]
        self.catalog.assign([int(i) for i in ids], album_ids, [float(d) for d in distances])
        return int(far.sum())

    def assign_new(self) -> int:
        """Put every live, unassigned photo into its nearest album (or cluster the first time)."""
        ids = self.catalog.unassigned_ids()
        if not len(ids):
            return 0
        if not any(a.centroid is not None for a in self.catalog.albums()):
            return self.recluster(write=False).images
        album_ids, distances = self._nearest_albums(self.index.vectors(ids))
        with self.catalog.transaction():
            self._place(ids, album_ids, distances)
        return len(ids)

    def recluster(self, write: bool = True) -> ReclusterReport:
        """Cluster all photos afresh; old albums keep their number and name where matched."""
        started = time.monotonic()
        ids = self.catalog.content_ids(live_only=True)
        if len(ids) == 0:
            raise AutoalbumError("the library has no indexed photos yet; run autoalbum index")
        vectors = self.catalog.vectors(ids)
        settings = self.config.cluster
        k = None if settings.k == "auto" else min(int(settings.k), len(ids))
        low, high = settings.k_range
        clustering, choice = cluster(
            vectors, k, k_range=(low, high), seed=settings.seed, method=Method(settings.method)
        )
        votes = self._votes(ids, clustering.labels, clustering.k)
        previous = [
            PreviousAlbum(a.id, a.number, a.name, a.user_named, a.centroid)
            for a in self.catalog.albums()
            if a.centroid is not None
        ]
        sizes = np.bincount(clustering.labels, minlength=clustering.k).tolist()
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
        self._record("recluster", started, len(ids), clustering.k, choice)
        return report

    def _votes(
        self, ids: NDArray[np.int64], labels: NDArray[np.int64], k: int
    ) -> list[Counter[str]]:
        votes: list[Counter[str]] = [Counter() for _ in range(k)]
        for label, top in zip(labels, self.catalog.top_classes(ids), strict=True):
            if top is not None:
                votes[int(label)][imagenet_name(top)] += 1
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
        record = self.catalog.album_by_name(album)
        if record is None:
            known = ", ".join(f"{a.number:02d}-{a.name}" for a in self.catalog.albums())
            raise AutoalbumError(f"no album called {album!r}; albums: {known or 'none yet'}")
        with self.catalog.transaction():
            self.catalog.update_album(record.id, name, record.centroid, True)
        self.write_tree()
        return record.name

    def write_tree(self, *, rebuild: bool = False) -> None:
        """Bring the album folder up to date with the catalog: in place, link by link, when
        the albums are the same ones, else (or with `rebuild`) rebuilt and swapped in whole,
        so that a file browser never sees a half-reclustered tree."""
        albums = {a.id: a for a in self.catalog.albums()}
        members: dict[int, list[Member]] = defaultdict(list)
        for membership in self.catalog.memberships():
            members[membership.album_id].append(Member(membership.path, membership.distance))
        tree = [
            Album(album.number, album.name, tuple(members[album.id]))
            for album in albums.values()
            if members[album.id]
        ]
        failures = [(f.path, f.reason or "") for f in self.catalog.files(Status.FAILED)]
        out = self.config.library.albums
        if rebuild or update_albums(out, tree, failures=failures) is None:
            write_albums(out, tree, failures=failures)

    def _record(self, kind: str, started: float, images: int, k: int | None = None,
                choice: KChoice | None = None) -> None:  # fmt: skip
        run = RunRecord(
            kind, time.time() - (time.monotonic() - started), time.monotonic() - started,
            images, k, choice.score if choice else None, choice.method if choice else None,
        )  # fmt: skip
        with self.catalog.transaction():
            self.catalog.record_run(run)

    # search

    def _vector_of(self, image: Path) -> tuple[NDArray[np.float32], int | None]:
        record = self.catalog.file(image.absolute())
        if record is not None and record.status is Status.OK and record.content_id is not None:
            return self.index.vectors(np.asarray([record.content_id]))[0], record.content_id
        result = embed_paths([image], self.embedder)
        if result.failures:
            raise AutoalbumError(f"cannot read {image}: {result.failures[0].reason}")
        return result.vectors[0], None

    def similar(self, image: Path, n: int = 10) -> list[Neighbour]:
        """The `n` photos most like `image` (which need not be in the library)."""
        vector, own = self._vector_of(image)
        scores, ids = self.index.search(vector[None], n + 1)
        found: list[Neighbour] = []
        for score, content in zip(scores[0], ids[0], strict=True):
            if content < 0 or content == own:
                continue
            found.extend(Neighbour(p, float(score)) for p in self.catalog.paths_of(int(content)))
        return found[:n]

    def duplicates(self, min_similarity: float = NEAR_DUPLICATE_SIMILARITY) -> list[DuplicateGroup]:
        """Groups of identical files, then groups of near-identical photos."""
        groups = [
            DuplicateGroup("identical", tuple(paths)) for paths in self.catalog.duplicate_groups()
        ]
        ids = self.catalog.content_ids(live_only=True)
        if len(ids) < 2:
            return groups
        position = {int(content): row for row, content in enumerate(ids)}
        rows, cols = [], []
        for row, (found, _scores) in enumerate(
            self.index.within(self.index.vectors(ids), min_similarity)
        ):
            for other in found:
                if int(other) in position and position[int(other)] != row:
                    rows.append(row)
                    cols.append(position[int(other)])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), len(ids)))
        count, component = connected_components(graph, directed=False)
        members: dict[int, list[Path]] = defaultdict(list)
        sizes = np.bincount(component, minlength=count)
        for row, label in enumerate(component):
            if sizes[label] > 1:
                members[int(label)].extend(self.catalog.paths_of(int(ids[row])))
        groups.extend(DuplicateGroup("near", tuple(sorted(p))) for p in members.values())
        return groups
