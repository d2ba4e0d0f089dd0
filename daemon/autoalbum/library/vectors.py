"""The FAISS vector index: one float16 embedding per catalog content id, searched by cosine.

The SQLite catalog is the source of truth. It commits first; the index is updated afterwards and
saved now and then, so after a crash it may lack recent ids or hold deleted ones. `repair` makes
it hold exactly the catalog's ids again, and `load` turns an unreadable file into an empty index
for `repair` to refill, so a broken index file never stops the daemon.

Storage: `IndexIDMap2` over a flat `IndexScalarQuantizer(QT_fp16)`, searched exhaustively by
inner product (cosine, as the vectors are unit length). That is 2 bytes per dimension plus an
8-byte id: 2,568 bytes per vector at d=1280 on disk, about 2.6 KB in memory (the id maps add
roughly 50 bytes), so 1,000,000 photos take 2.6 GB. Searches are exact up to float16 rounding
(about 1e-3 in similarity). Removing or replacing ids compacts the whole code array, O(n): batch
them. One lock serialises mutations, searches and saves, since FAISS indexes are not safe to
read while another thread adds.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from autoalbum.durable import fsync_folder, replacing

log = logging.getLogger(__name__)

REPAIR_CHUNK = 10_000  # ids fetched from the catalog at a time while repairing
NORM_TOLERANCE = 1e-2  # float16 catalog blobs decode to norms within ~1e-3 of 1

VECTOR_INDEX_NAME = "vectors.faiss"  # in the library's state folder


@dataclass(frozen=True)
class Repair:
    """What `VectorIndex.repair` changed."""

    added: int
    removed: int


def _new_faiss_index(dim: int) -> Any:
    flat = faiss.IndexScalarQuantizer(
        dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    return faiss.IndexIDMap2(flat)


def _as_ids(ids: NDArray[np.int64]) -> NDArray[np.int64]:
    array = np.asarray(ids)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(
            f"ids must be a 1-D integer array, got {array.dtype} of shape {array.shape}"
        )
    checked = array.astype(np.int64)
    if checked.size and checked.min() < 0:
        raise ValueError(f"ids must be >= 0 (catalog row ids), got {checked.min()}")
    return checked


def _as_unit_rows(rows: NDArray[np.float32], dim: int, what: str) -> NDArray[np.float32]:
    matrix = np.ascontiguousarray(rows, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(
            f"{what} must be a (n, {dim}) array, got shape {matrix.shape}; "
            "for a single vector pass vector[None, :]"
        )
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what} contain NaN or infinite values; re-embed the affected photos")
    norms = np.linalg.norm(matrix, axis=1)
    if matrix.size and np.abs(norms - 1.0).max() > NORM_TOLERANCE:
        raise ValueError(
            f"{what} must be L2-normalised for cosine similarity (found a norm of "
            f"{norms[np.argmax(np.abs(norms - 1.0))]:.4f}); divide each row by its norm first"
        )
    return matrix


def _id_map(index: Any) -> NDArray[np.int64]:
    """Each stored row's id, in storage order."""
    return np.asarray(faiss.vector_to_array(index.id_map), dtype=np.int64)


def _read(path: Path, dim: int) -> Any:
    """The index stored at `path`; raises ValueError when it isn't one this class wrote."""
    index = faiss.read_index(str(path))
    if not isinstance(index, faiss.IndexIDMap2):
        raise ValueError(f"holds a {type(index).__name__}, not an IndexIDMap2")
    flat = faiss.downcast_index(index.index)
    if (
        not isinstance(flat, faiss.IndexScalarQuantizer)
        or flat.sq.qtype != faiss.ScalarQuantizer.QT_fp16
    ):
        raise ValueError(f"holds a {type(flat).__name__}, not a float16 scalar quantizer")
    if index.d != dim or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError(
            f"holds {index.d}-d vectors by metric {index.metric_type}, expected {dim}-d"
        )
    ids = _id_map(index)
    if len(ids) != index.ntotal or len(np.unique(ids)) != len(ids):
        raise ValueError("its id list is inconsistent")
    return index


class VectorIndex:
    """Cosine-similarity index over L2-normalised vectors stored as float16, keyed by int64 ids."""

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self._index: Any = _new_faiss_index(dim)
        self._sorted = np.empty(0, dtype=np.int64)  # mirrors the stored ids, for fast lookups
        self._lock = threading.Lock()
        self.changed = False  # vectors added or removed since the index was loaded or saved

    @classmethod
    def load(cls, path: Path, dim: int) -> VectorIndex:
        """The index saved at `path`; empty if missing, unreadable or of another shape."""
        loaded = cls(dim)
        if not path.exists():
            log.info("no vector index at %s yet; starting empty", path)
            return loaded
        try:
            loaded._index = _read(path, dim)
        except (RuntimeError, ValueError, MemoryError) as error:
            log.warning(
                "ignoring vector index %s (%s); starting empty, the catalog will refill it",
                path,
                str(error).strip().splitlines()[-1],
            )
            return loaded
        loaded._sorted = np.sort(_id_map(loaded._index))
        log.info("loaded %d vectors from %s", len(loaded._sorted), path)
        return loaded

    def save(self, path: Path) -> None:
        """Write the index atomically (`durable.replacing`)."""
        with self._lock:
            data = faiss.serialize_index(self._index)
            self.changed = False
        with replacing(path) as stream:
            stream.write(data.tobytes())
        fsync_folder(path.parent)

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        """Store each vector under its id, replacing the vector of an id already present."""
        keys = _as_ids(ids)
        rows = _as_unit_rows(vectors, self.dim, "vectors")
        if len(rows) != len(keys):
            raise ValueError(f"got {len(keys)} ids for {len(rows)} vectors; pass one id per vector")
        if len(np.unique(keys)) != len(keys):
            raise ValueError("ids repeat within one add; pass each id once")
        if not len(keys):
            return
        with self._lock:
            present = keys[self._has(keys)]
            if len(present):
                self._remove(present)
            self._index.add_with_ids(rows, keys)
            self.changed = True
            new = np.sort(keys)
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)

    def remove(self, ids: NDArray[np.int64]) -> int:
        """Drop these ids, ignoring unknown ones; returns how many were removed."""
        keys = _as_ids(ids)
        with self._lock:
            present = np.unique(keys[self._has(keys)])
            return self._remove(present) if len(present) else 0

    def _has(self, keys: NDArray[np.int64]) -> NDArray[np.bool_]:
        if not len(self._sorted):
            return np.zeros(len(keys), dtype=bool)
        at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        found: NDArray[np.bool_] = self._sorted[at] == keys
        return found

    def _remove(self, present: NDArray[np.int64]) -> int:
        """Remove ids known to be stored; the caller holds the lock."""
        removed = int(self._index.remove_ids(present))
        self.changed = True
        self._sorted = np.delete(self._sorted, np.searchsorted(self._sorted, present))
        return removed

    def ids(self) -> NDArray[np.int64]:
        """Every stored id, sorted."""
        with self._lock:
            return self._sorted.copy()

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, id: object) -> bool:
        if isinstance(id, bool) or not isinstance(id, int | np.integer):
            return False
        with self._lock:
            return bool(self._has(np.array([id], dtype=np.int64))[0])

    def search(
        self, queries: NDArray[np.float32], n: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The `n` most similar ids per query, most similar first; id -1 and -inf pad."""
        rows = _as_unit_rows(queries, self.dim, "queries")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        with self._lock:
            similarities, found = self._index.search(rows, n)
        similarities = np.where(found < 0, -np.inf, similarities).astype(np.float32)
        return similarities, np.asarray(found, dtype=np.int64)

    def within(
        self, queries: NDArray[np.float32], min_similarity: float
    ) -> list[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        """Per query, every id with similarity >= `min_similarity`, most similar first."""
        rows = _as_unit_rows(queries, self.dim, "queries")
        if not np.isfinite(min_similarity):
            raise ValueError(f"min_similarity must be finite, got {min_similarity}")
        # FAISS keeps similarities strictly above the radius; step down one float to include it.
        radius = float(np.nextafter(np.float32(min_similarity), np.float32(-np.inf)))
        with self._lock:
            limits, similarities, found = self._index.range_search(rows, radius)
        results = []
        for start, stop in itertools.pairwise(limits):
            sims = np.asarray(similarities[start:stop], dtype=np.float32)
            keys = np.asarray(found[start:stop], dtype=np.int64)
            order = np.lexsort((keys, -sims))
            results.append((keys[order], sims[order]))
        return results

    def vectors(self, ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """The stored vectors of these ids, in order, at float16 precision."""
        keys = _as_ids(ids)
        with self._lock:
            missing = keys[~self._has(keys)]
            if len(missing):
                raise KeyError(
                    f"id {missing[0]} is not in the vector index; repair it from the catalog"
                )
            if not len(keys):
                return np.empty((0, self.dim), dtype=np.float32)
            return np.asarray(self._index.reconstruct_batch(keys), dtype=np.float32)

    def all_vectors(self) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Every id and its vector, in storage order (not sorted), decoded in one FAISS call."""
        with self._lock:
            ids = _id_map(self._index)
            if not len(ids):
                return ids, np.empty((0, self.dim), dtype=np.float32)
            flat = faiss.downcast_index(self._index.index)
            return ids, np.asarray(flat.reconstruct_n(0, len(ids)), dtype=np.float32)

    def repair(
        self,
        truth_ids: NDArray[np.int64],
        fetch: Callable[[NDArray[np.int64]], NDArray[np.float32]],
    ) -> Repair:
        """Make the index hold exactly `truth_ids`, fetching missing vectors chunk by chunk."""
        truth = np.unique(_as_ids(truth_ids))
        current = self.ids()
        removed = self.remove(np.setdiff1d(current, truth, assume_unique=True))
        missing = np.setdiff1d(truth, current, assume_unique=True)
        for start in range(0, len(missing), REPAIR_CHUNK):
            chunk = missing[start : start + REPAIR_CHUNK]
            fetched = np.asarray(fetch(chunk))
            if fetched.shape != (len(chunk), self.dim):
                raise ValueError(
                    f"fetch returned shape {fetched.shape} for {len(chunk)} ids; "
                    f"it must return one {self.dim}-d vector per id, in order"
                )
            self.add(chunk, fetched)
        if removed or len(missing):
            log.info("repaired vector index: added %d, removed %d", len(missing), removed)
        return Repair(added=len(missing), removed=removed)
