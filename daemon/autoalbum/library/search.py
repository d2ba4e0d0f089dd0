"""Search the library: the photos most like a given one, and groups of duplicates.

From INDEX_FROM photos on, both ask the search index (search_index.py) for candidates and score
those exactly from their catalog codes; a smaller library is scanned whole, `similar` a chunk
of codes at a time and `duplicates` a block of pairs against a block. Decoded codes are within
about 1e-3 of the float32 similarities (library/codes.py).

Groups of near duplicates are not chained: every two photos of a group are near (at least
`min_similarity`), so A~B and B~C put A and C together only if A~C too. The near pairs form a
graph and each group is a clique of it, taken greedily: the photo with the most near photos
first, then its near photos, most similar first, each that is near every photo taken so far.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.near_copies import NEAR_DUPLICATE_SIMILARITY
from autoalbum.embedding.embedder import Embedder, normalise
from autoalbum.embedding.pipeline import embed_paths
from autoalbum.errors import AutoalbumError
from autoalbum.library.codes import Codes
from autoalbum.library.near_pairs import Rows, cell_pairs
from autoalbum.library.records import Status
from autoalbum.library.search_index import RERANK, Progress, Searchable, SearchIndex, parts
from autoalbum.library.stores import Stores

PAIR_BLOCK = 4_096  # rows per block of the all-pairs comparison (64 MB of similarities)
PAIR_CHUNK = 65_536  # candidate pairs scored exactly at a time


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


def scored(
    first: Rows, second: Rows, codes_of: Callable[[Rows], Codes], min_similarity: float
) -> tuple[Rows, Rows, NDArray[np.float32]]:
    """The candidate row pairs whose exact similarity (from `codes_of` the rows, in their
    order) is at least `min_similarity`, and that similarity. Each row in a pair is decoded
    once (5 KB at d=1280; decoding it per pair took 12 of 15 s on the real embeddings, and
    float16 rows as long to widen again)."""
    rows = np.unique(np.concatenate([first, second]))
    vectors: NDArray[np.float32] | None = None
    for at in range(0, len(rows), PAIR_CHUNK):
        codes = codes_of(rows[at : at + PAIR_CHUNK])
        if vectors is None:
            vectors = np.empty((len(rows), codes.dim), dtype=np.float32)
        vectors[at : at + len(codes)] = normalise(codes.take(np.arange(len(codes))))
    left, right = np.searchsorted(rows, first), np.searchsorted(rows, second)
    similarity = np.empty(len(first), dtype=np.float32)
    for at in range(0, len(first), PAIR_CHUNK):
        assert vectors is not None
        a, b = vectors[left[at : at + PAIR_CHUNK]], vectors[right[at : at + PAIR_CHUNK]]
        similarity[at : at + len(a)] = np.einsum("ij,ij->i", a, b)
    keep = similarity >= np.float32(min_similarity)
    return first[keep], second[keep], similarity[keep]


def cliques(first: Rows, second: Rows, similarity: NDArray[np.float32]) -> list[list[int]]:
    """Groups of rows in which every two are a pair, greedily (module doc); rows in no pair
    are in no group."""
    near: dict[int, dict[int, float]] = defaultdict(dict)
    for a, b, alike in zip(first.tolist(), second.tolist(), similarity.tolist(), strict=True):
        near[a][b] = alike
        near[b][a] = alike
    grouped: set[int] = set()
    groups: list[list[int]] = []
    for seed in sorted(near, key=lambda row: (-len(near[row]), row)):
        if seed in grouped:
            continue
        group = [seed]
        for row in sorted(near[seed], key=lambda other: (-near[seed][other], other)):
            if row not in grouped and all(row in near[member] for member in group[1:]):
                group.append(row)
        grouped.update(group)
        if len(group) > 1:
            groups.append(group)
    return groups


class Search:
    """Finds photos by likeness among the live photos of the stores."""

    def __init__(self, stores: Stores, embedder: Embedder, *, use_gpu: bool = False) -> None:
        self.use_gpu = use_gpu  # for duplicates' matrix products, where FAISS sees a GPU
        self.catalog = stores.catalog
        self.embedder = embedder  # lazy: loads the model only for a photo outside the library
        self.index = SearchIndex(stores.catalog, stores.state)

    def _vector_of(self, image: Path) -> tuple[NDArray[np.float32], int | None]:
        """The photo's vector and content id: its catalog code if it (or the photo a link
        points to) is in the library, else embedded now (as is a photo of the library whose
        vector a restore lost, until the next index embeds it again)."""
        own = None
        for path in (image.absolute(), Path(os.path.realpath(image))):
            record = self.catalog.file(path)
            if record is not None and record.status is Status.OK and record.content_id:
                own = record.content_id
                if not self.catalog.lacks_vector(own):
                    return self.catalog.vectors([own])[0], own
                break
        result = embed_paths([image], self.embedder)
        if result.failures:
            raise AutoalbumError(f"cannot read {image}: {result.failures[0].reason}")
        return result.vectors[0], own

    def similar(
        self, image: Path, n: int = 10, progress: Progress | None = None
    ) -> list[Neighbour]:
        """The `n` photos most like `image` (which need not be in the library); `progress`
        shows a search index being built."""
        vector, own = self._vector_of(image)
        query = normalise(vector[None, :])[0]
        searchable = self.index.for_search(progress)
        if searchable is None:
            chunks = self.catalog.code_chunks(self.catalog.live_vector_ids())
            ids, scores = most_similar(chunks, query, n, skip=own)
        else:
            ids, scores = self._reranked(searchable, query, n, own)
        found: list[Neighbour] = []
        for content, score in zip(ids, scores, strict=True):
            found.extend(Neighbour(p, float(score)) for p in self.catalog.paths_of(int(content)))
        return found[:n]

    def _reranked(
        self, searchable: Searchable, query: NDArray[np.float32], n: int, own: int | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The `n` best live photos among the index's candidates, scored exactly; more are
        asked for while too few of them are live."""
        wanted = max(RERANK, 4 * n)
        while True:
            candidates = np.unique(searchable.candidates(query[None, :], wanted)[0])
            candidates = candidates[(candidates >= 0) & (candidates != (own or -1))]
            live = np.array(sorted(self.catalog.live_of(candidates)), dtype=np.int64)
            enough = len(live) >= n or len(candidates) < wanted
            if enough or wanted >= searchable.index.ntotal:
                return most_similar([self.catalog.codes_of(live)], query, n)
            wanted *= 4

    def duplicates(
        self,
        min_similarity: float = NEAR_DUPLICATE_SIMILARITY,
        progress: Progress | None = None,
    ) -> list[DuplicateGroup]:
        """Groups of identical files, then groups of near-identical photos (module doc);
        `progress` shows a search index being built, then the photos looked at."""
        groups = [
            DuplicateGroup("identical", tuple(paths)) for paths in self.catalog.duplicate_groups()
        ]
        ids = self.catalog.live_vector_ids()
        if len(ids) < 2:
            return groups
        searchable = self.index.for_search(progress)
        if searchable is None:
            codes = self.catalog.codes(ids)
            first, second = similar_pairs(codes, min_similarity)
            pairs = scored(
                first, second, lambda rows: Codes(rows, codes.codes[rows]), min_similarity
            )
        else:
            advance = progress(2 * len(ids)) if progress is not None else _ignore
            chunks = self.catalog.code_chunks(ids)
            index_parts = parts(searchable.index)
            first, second = cell_pairs(
                chunks, len(ids), index_parts, min_similarity, advance, self.use_gpu
            )
            pairs = scored(
                first, second, lambda rows: self.catalog.codes_of(ids[rows]), min_similarity
            )
        for rows in cliques(*pairs):
            paths = [p for row in rows for p in self.catalog.paths_of(int(ids[row]))]
            groups.append(DuplicateGroup("near", tuple(sorted(paths))))
        return groups


def _ignore(_: int) -> None:
    pass
