"""Search the library: the photos most like a given one, and groups of duplicates.

Both read the catalog's codes when they run (nothing is kept in memory between searches):
`similar` scores every live photo exactly, a chunk of codes decoded at a time, so its memory is
one chunk's (84 MB) at any size; `duplicates` compares every pair, a block against a block.
Decoded codes are within about 1e-3 of the float32 similarities (library/codes.py): recall@10
0.99 against exact float32 search on real embeddings (bench/vectors.py quality).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from autoalbum.clustering.near_copies import NEAR_DUPLICATE_SIMILARITY
from autoalbum.embedding.embedder import Embedder, normalise
from autoalbum.embedding.pipeline import embed_paths
from autoalbum.errors import AutoalbumError
from autoalbum.library.codes import Codes
from autoalbum.library.records import Status
from autoalbum.library.stores import Stores

PAIR_BLOCK = 4_096  # rows per block of the all-pairs comparison (64 MB of similarities)


@dataclass(frozen=True)
class DuplicateGroup:
    kind: str  # "identical" (same bytes) or "near" (resized, re-encoded, slightly cropped)
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Neighbour:
    path: Path
    similarity: float


def most_similar(
    chunks: Iterable[Codes], query: NDArray[np.float32], n: int, skip: int | None = None
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ids of the `n` codes most similar to unit `query` by cosine, most similar first
    (ties by id), and their similarities; `skip` leaves out one id (the query's own)."""
    best_ids = np.empty(0, dtype=np.int64)
    best = np.empty(0, dtype=np.float32)
    for chunk in chunks:
        scores = normalise(chunk.take(np.arange(len(chunk)))) @ query
        ids = chunk.ids
        if skip is not None:
            keep = ids != skip
            ids, scores = ids[keep], scores[keep]
        if len(scores) > n:
            top = np.argpartition(-scores, n - 1)[:n]
            ids, scores = ids[top], scores[top]
        best_ids, best = np.concatenate([best_ids, ids]), np.concatenate([best, scores])
        order = np.lexsort((best_ids, -best))[:n]
        best_ids, best = best_ids[order], best[order]
    return best_ids, best


def similar_pairs(codes: Codes, min_similarity: float) -> tuple[NDArray[np.int64], ...]:
    """Row pairs (i < j) of codes whose cosine similarity is at least `min_similarity`,
    compared a block against a block so that memory stays at two blocks."""
    firsts, seconds = [], []
    rows = np.arange(len(codes), dtype=np.int64)
    for i in range(0, len(codes), PAIR_BLOCK):
        left = normalise(codes.take(rows[i : i + PAIR_BLOCK]))
        for j in range(i, len(codes), PAIR_BLOCK):
            right = left if j == i else normalise(codes.take(rows[j : j + PAIR_BLOCK]))
            a, b = np.nonzero(left @ right.T >= np.float32(min_similarity))
            a, b = a + i, b + j
            firsts.append(a[a < b])
            seconds.append(b[a < b])
    empty = np.empty(0, dtype=np.int64)
    return np.concatenate([empty, *firsts]), np.concatenate([empty, *seconds])


class Search:
    """Finds photos by likeness among the live photos of the stores."""

    def __init__(self, stores: Stores, embedder: Embedder) -> None:
        self.catalog = stores.catalog
        self.embedder = embedder  # lazy: loads the model only for a photo outside the library

    def _vector_of(self, image: Path) -> tuple[NDArray[np.float32], int | None]:
        record = self.catalog.file(image.absolute())
        if record is not None and record.status is Status.OK and record.content_id is not None:
            return self.catalog.vectors([record.content_id])[0], record.content_id
        result = embed_paths([image], self.embedder)
        if result.failures:
            raise AutoalbumError(f"cannot read {image}: {result.failures[0].reason}")
        return result.vectors[0], None

    def similar(self, image: Path, n: int = 10) -> list[Neighbour]:
        """The `n` photos most like `image` (which need not be in the library)."""
        vector, own = self._vector_of(image)
        query = normalise(vector[None, :])[0]
        chunks = self.catalog.code_chunks(self.catalog.content_ids(live_only=True))
        ids, scores = most_similar(chunks, query, n, skip=own)
        found: list[Neighbour] = []
        for content, score in zip(ids, scores, strict=True):
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
        rows, cols = similar_pairs(self.catalog.codes(ids), min_similarity)
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), len(ids)))
        count, component = connected_components(graph, directed=False)
        members: dict[int, list[Path]] = defaultdict(list)
        sizes = np.bincount(component, minlength=count)
        for row, label in enumerate(component):
            if sizes[label] > 1:
                members[int(label)].extend(self.catalog.paths_of(int(ids[row])))
        groups.extend(DuplicateGroup("near", tuple(sorted(p))) for p in members.values())
        return groups
