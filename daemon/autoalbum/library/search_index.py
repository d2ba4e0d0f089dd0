"""The search index: a FAISS index of the catalog's vectors, a cache that `similar` and
`duplicates` search instead of scanning every code.

The catalog stays the one truth. The index is derived from its codes and can always be built
again from them: it is rebuilt when its file is missing or damaged, made from another model's
vectors, or holds ids the catalog no longer has.

What it is (measured by bench/search.py on 38,530 real Lite0 embeddings of the shared sets,
recall@10 after re-scoring against exact float32 search):

- the vectors projected onto the top PROJECTED directions of their uncentred second moment
  (an orthogonal projection, trained on a sample; uncentred, so that near copies stay near:
  FAISS's PCA centres the vectors, which moved near copies' similarity from 0.9 to 0.6),
  normalised again, then
- an inverted file of `lists(n)` k-means cells, each vector kept as 4-bit scalar codes of its
  projection: 128 bytes and its 8-byte id, 136 bytes a photo (the catalog's own code is ~800).

Against the other candidates: 8-bit codes on 256 or 128 dimensions found the same pairs at 264
or 136 bytes; PQ64 took 40 times as long to train (57 s on 30,000 vectors); HNSW over 8-bit
codes needed 733 bytes a photo. A search takes the RERANK best candidates and re-scores them
exactly from their catalog codes, so the index only has to find the neighbours, not rank them.

Kept current without rewriting it per arrival: the file records the highest content id it
holds (its watermark). A search reads the file memory-mapped (only the cells it probes are
read) and scans the rows newer than the watermark exactly, so a crash or a file that lags costs
a scan of the tail, never a wrong answer. Whoever writes the file (the daemon when idle, a
command that finds the tail too long) reads it whole, adds the rows past the watermark, removes
the contents that have no file left, and replaces it (a new generation, then the small JSON that
names it, both written whole).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoalbum.durable import fsync_folder, replacing, write_json_atomically
from autoalbum.embedding.embedder import normalise
from autoalbum.library.catalog import CATALOG_NAME, Catalog
from autoalbum.library.codes import Codes
from autoalbum.library.tables.contents import REFILLS

log = logging.getLogger(__name__)

Matrix = NDArray[np.float32]
Ids = NDArray[np.int64]
Progress = Callable[[int], Callable[[int], None]]  # total -> advance(n)

FORMAT = 1  # of the index file and its JSON; another is rebuilt
META_NAME = "search-index.json"  # names the current index file and what it holds
FILE_PREFIX = "search-index."  # search-index.<generation>.faiss
INDEX_FROM = 2_000  # photos; a smaller library is searched by scanning its codes
PROJECTED = 256  # dimensions the index keeps of each vector
TRAIN_SAMPLE = 32_768  # vectors the projection and the cells are trained on
POINTS_PER_LIST = 32  # training vectors per cell (FAISS asks 39; fewer is a warning, not harm)
PROBES = 32  # cells a search looks in
RERANK = 400  # candidates re-scored exactly (100: 0.66 of the stand-ins top 10, 400: 0.90)
TAIL_LIMIT = 20_000  # rows past the watermark a search scans; beyond, the file is brought up
REFRESH_ROWS = 1_000  # rows past the watermark that make the daemon bring the file up to date
REFRESH_SECONDS = 600.0  # or this long since the file was written, with any rows past it


class IndexUnusable(Exception):
    """The index file can't serve this catalog (missing, damaged, stale); it is rebuilt."""


def lists(photos: int) -> int:
    """Cells of an index of `photos` photos: 2 sqrt(n), trainable on TRAIN_SAMPLE vectors."""
    return max(1, min(round(2 * math.sqrt(photos)), TRAIN_SAMPLE // POINTS_PER_LIST,
                      photos // POINTS_PER_LIST))  # fmt: skip


@dataclass
class IndexMeta:
    """What the JSON beside the index file records."""

    file: str
    model: str  # the catalog's model digest (or its dimension where it records none)
    watermark: int  # the highest content id in the index
    count: int  # vectors in the index
    removed: list[int] = field(default_factory=list)  # contents taken out: no file left
    anchor: str = ""  # the content hash at the watermark: another catalog (a restored copy)
    # can hold other contents under the same ids
    refills: int = 0  # the catalog's vector refills when it was made: one since, a row it lacks
    format: int = FORMAT

    @classmethod
    def read(cls, path: Path) -> IndexMeta:
        import json

        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            meta = cls(**raw)
        except (OSError, ValueError, TypeError) as error:
            raise IndexUnusable(f"{path.name}: {error}") from error
        if meta.format != FORMAT:
            raise IndexUnusable(f"{path.name}: format {meta.format}, this version reads {FORMAT}")
        return meta


def model_key(catalog: Catalog) -> str:
    """The library's model as the index records it."""
    return catalog.meta("model") or f"dim {catalog.meta('dim') or 0}"


def _projection(sample: Matrix) -> Matrix:
    """The top PROJECTED eigenvectors (rows) of the uncentred second moment of unit rows."""
    moment = (sample.T @ sample).astype(np.float64)
    _, vectors = np.linalg.eigh(moment)
    keep = min(PROJECTED, sample.shape[1])
    return np.ascontiguousarray(vectors[:, ::-1][:, :keep].T, dtype=np.float32)


def new_index(sample: Matrix, photos: int) -> Any:
    """An empty index trained on unit `sample` rows for a library of `photos` photos."""
    import faiss

    projection = _projection(sample)
    dim_out, dim = projection.shape
    transform = faiss.LinearTransform(dim, dim_out, False)
    faiss.copy_array_to_vector(projection.ravel(), transform.A)
    faiss.copy_array_to_vector(np.zeros(dim_out, np.float32), transform.b)
    transform.have_bias = False
    transform.is_trained = True
    cells = lists(photos)
    inner = faiss.index_factory(dim_out, f"L2norm,IVF{cells},SQ4", faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexPreTransform(transform, inner)
    faiss.extract_index_ivf(index).cp.min_points_per_centroid = 1  # warned above, not here
    index.train(sample)
    return index


def parts(index: Any) -> tuple[Matrix, Any]:
    """The index's projection (PROJECTED rows) and the exact index of its cells' centres."""
    import faiss

    transform: Any = faiss.downcast_VectorTransform(index.chain.at(0))  # a LinearTransform
    matrix = faiss.vector_to_array(transform.A).reshape(transform.d_out, transform.d_in)
    return matrix.astype(np.float32), faiss.extract_index_ivf(index).quantizer


def set_probes(index: Any, probes: int = PROBES) -> None:
    import faiss

    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = min(probes, ivf.nlist)


@dataclass
class Opened:
    """An index as read, with its record."""

    index: Any
    meta: IndexMeta


class SearchIndex:
    """The search index of one library's catalog, in its state folder."""

    def __init__(self, catalog: Catalog, state: Path) -> None:
        self.catalog = catalog
        self.state = state

    @property
    def meta_path(self) -> Path:
        return self.state / META_NAME

    def wanted(self) -> bool:
        """Whether the library is big enough for an index (else searches scan the codes); it
        counts the vectors, so it is asked only where there is no usable index file."""
        return self.catalog.vector_count() >= INDEX_FROM

    # reading

    def read(self, *, mapped: bool) -> Opened:
        """The index file named by the JSON, checked against the catalog; memory-mapped and
        read-only if `mapped` (then it must not be changed). Raises IndexUnusable."""
        import faiss

        meta = IndexMeta.read(self.meta_path)
        if not (self.state / meta.file).exists():  # a writer replaced it since: its successor
            meta = IndexMeta.read(self.meta_path)
        if meta.model != model_key(self.catalog):
            raise IndexUnusable(f"made from {meta.model}'s vectors, the library's are another's")
        if meta.watermark > self.catalog.last_vector_id():
            raise IndexUnusable("it holds contents the catalog no longer has")
        if meta.anchor != (self.catalog.hash_of(meta.watermark) or ""):
            raise IndexUnusable("it was made from another catalog (a copy put back?)")
        if meta.refills != self._refills():
            raise IndexUnusable("photos were embedded again since (a copy put back)")
        path = self.state / meta.file
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mapped else 0
        try:
            index = faiss.read_index(os.fspath(path), flags)
        except RuntimeError as error:
            raise IndexUnusable(f"{meta.file}: {str(error).splitlines()[0]}") from error
        if index.ntotal != meta.count or index.d != int(self.catalog.meta("dim") or index.d):
            raise IndexUnusable(
                f"{meta.file} holds {index.ntotal} vectors, its record {meta.count}"
            )
        set_probes(index)
        return Opened(index, meta)

    # writing

    def build(self, progress: Progress | None = None) -> Opened:
        """A new index of every vector in the catalog (trained on a sample), not yet saved."""
        refills = self._refills()  # before the rows are read: a later refill is one it lacks
        ids = self.catalog.vector_ids()
        advance = progress(len(ids)) if progress is not None else None
        rng = np.random.default_rng(0)
        picked = np.sort(rng.choice(ids, min(len(ids), TRAIN_SAMPLE), replace=False))
        sample = normalise(self.catalog.vectors(picked))
        index = new_index(sample, len(ids))
        started = time.perf_counter()
        for chunk in self.catalog.code_chunks(ids):
            index.add_with_ids(normalise(chunk.take(np.arange(len(chunk)))), chunk.ids)
            if advance is not None:
                advance(len(chunk))
        set_probes(index)
        log.info("built the search index of %d photos in %.1f s", len(ids),
                 time.perf_counter() - started)  # fmt: skip
        watermark = int(ids[-1]) if len(ids) else 0
        meta = IndexMeta("", model_key(self.catalog), watermark, len(ids), refills=refills)
        return Opened(index, meta)

    def _refills(self) -> int:
        return int(self.catalog.meta(REFILLS) or 0)

    def brought_up(self, progress: Progress | None = None) -> Opened:
        """The index with every catalog row: read whole and caught up, or built; the contents
        with no file left are taken out. Not saved."""
        try:
            opened = self.read(mapped=False)
        except IndexUnusable as why:
            if self.meta_path.exists():
                log.warning("building the search index again: %s", why)
            return self._without_dead(self.build(progress))
        behind = self.catalog.vector_count_after(opened.meta.watermark)
        advance = progress(behind) if progress is not None and behind else None
        for chunk in self.catalog.codes_after(opened.meta.watermark):
            opened.index.add_with_ids(normalise(chunk.take(np.arange(len(chunk)))), chunk.ids)
            opened.meta.watermark = int(chunk.ids[-1])
            if advance is not None:
                advance(len(chunk))
        return self._without_dead(opened)

    def _without_dead(self, opened: Opened) -> Opened:
        """`opened` with the contents that have no present file taken out, and those that have
        one again put back (`remove_ids` / `add_with_ids`)."""
        vector_ids = self.catalog.vector_ids()
        dead = np.setdiff1d(vector_ids, self.catalog.content_ids(live_only=True))
        before = np.asarray(opened.meta.removed, dtype=np.int64)
        gone = np.setdiff1d(dead, before)
        back = np.setdiff1d(before, dead)
        back = back[np.isin(back, vector_ids) & (back <= opened.meta.watermark)]
        if len(gone):
            opened.index.remove_ids(gone)
        if len(back):
            opened.index.add_with_ids(normalise(self.catalog.vectors(back)), back)
        opened.meta.removed = [int(i) for i in dead]
        opened.meta.count = int(opened.index.ntotal)
        return opened

    def save(self, opened: Opened) -> None:
        """Write the index as a new generation, then the JSON that names it; older generations
        go."""
        import faiss

        generation = time.time_ns()
        name = f"{FILE_PREFIX}{generation}.faiss"
        with replacing(self.state / name) as stream:
            stream.write(faiss.serialize_index(opened.index).tobytes())
        opened.meta.file = name
        opened.meta.count = int(opened.index.ntotal)
        opened.meta.anchor = self.catalog.hash_of(opened.meta.watermark) or ""
        write_json_atomically(self.meta_path, asdict(opened.meta))
        for old in self.state.glob(f"{FILE_PREFIX}*.faiss"):
            if old.name != name and _generation(old) < generation:
                old.unlink(missing_ok=True)
        fsync_folder(self.state)

    def refresh(self, progress: Progress | None = None) -> Opened:
        """Bring the file up to date with the catalog, and save it."""
        opened = self.brought_up(progress)
        self.save(opened)
        return opened

    def due(self, now: float) -> bool:
        """Whether the daemon should bring the file up to date now: a library big enough whose
        file is REFRESH_ROWS behind, or behind at all and REFRESH_SECONDS old."""
        try:
            meta = IndexMeta.read(self.meta_path)
        except IndexUnusable:
            return self.wanted()
        lag = self.catalog.vector_count_after(meta.watermark)
        if lag >= REFRESH_ROWS:
            return True
        try:
            age = now - self.meta_path.stat().st_mtime
        except OSError:
            return True
        return lag > 0 and age >= REFRESH_SECONDS

    def for_search(self, progress: Progress | None = None) -> Searchable | None:
        """What a search looks in: the file, memory-mapped, and the rows past its watermark;
        None for a library too small for an index. A missing, unusable or far-behind file is
        brought up to date first (and saved, where the state folder can be written)."""
        try:
            opened = self.read(mapped=True)
            if self.catalog.vector_count_after(opened.meta.watermark) <= TAIL_LIMIT:
                return Searchable(opened, self.catalog)
        except IndexUnusable as why:
            if not self.wanted():
                return None
            log.info("bringing the search index up to date: %s", why)
        opened = self.brought_up(progress)
        try:
            self.save(opened)
        except OSError as error:
            log.warning("could not save the search index (%s); it is built again next time",
                        error)  # fmt: skip
        return Searchable(opened, self.catalog)


def refresh_search_index(state: Path) -> None:
    """Bring the search index of the catalog in `state` up to date on a connection of its
    own: the daemon runs it in a process of its own (service/search_refresh.py), so that
    arrivals don't wait for it (a build at a million photos takes half a minute)."""
    with Catalog(state / CATALOG_NAME, check=False) as catalog:
        SearchIndex(catalog, state).refresh()


def _generation(path: Path) -> int:
    try:
        return int(path.name[len(FILE_PREFIX) :].split(".")[0])
    except ValueError:
        return 0


class Searchable:
    """An index and the catalog rows past its watermark, searched together."""

    def __init__(self, opened: Opened, catalog: Catalog) -> None:
        self.index = opened.index
        self._catalog = catalog
        self._watermark = opened.meta.watermark

    @cached_property
    def tail(self) -> Codes | None:
        """The codes of the rows past the watermark, read when first asked for (`duplicates`
        uses only the index's parts)."""
        chunks = list(self._catalog.codes_after(self._watermark))
        if not chunks:
            return None
        return Codes(np.concatenate([c.ids for c in chunks]), np.vstack([c.codes for c in chunks]))

    @cached_property
    def _tail_vectors(self) -> Matrix:
        assert self.tail is not None
        return normalise(self.tail.take(np.arange(len(self.tail))))

    def candidates(self, queries: Matrix, count: int) -> Ids:
        """For each unit query, about `count` ids of likely neighbours (-1 pads), not ranked:
        the index's best and the tail's best by exact score."""
        _, found = self.index.search(queries, count)
        if self.tail is None:
            return np.asarray(found, dtype=np.int64)
        scores = queries @ self._tail_vectors.T
        take = min(count, scores.shape[1])
        best = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        return np.hstack([found, self.tail.ids[best]]).astype(np.int64)
