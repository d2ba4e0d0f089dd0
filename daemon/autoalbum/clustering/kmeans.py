"""Spherical k-means over L2-normalised embeddings (FAISS), and the record every method returns.

Albums are numbered by size, so `Clustering.labels` is renumbered after fitting: label 0 is the
biggest cluster, ties go to the cluster holding the earliest vector. Clusters left empty by the
final assignment (duplicate photos, fewer distinct vectors than k) are dropped, so `k` can come
out smaller than asked for.

Every function here also takes `Rows` (clustering/rows.py): vectors read a sample or a chunk at
a time, such as the library's stored codes, so that memory stays bounded at a million photos.
k-means itself needs one float32 matrix: for more than KMEANS_SAMPLE rows it trains on a sample
of that many and then assigns every row, a chunk at a time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.rows import Dense, Rows
from autoalbum.clustering.sampling import sample_rows
from autoalbum.embedding.embedder import normalise
from autoalbum.errors import AutoalbumError
from autoalbum.faiss_gpu import use_gpu as faiss_use_gpu

log = logging.getLogger(__name__)

KMEANS_SAMPLE = 100_000  # most rows k-means trains on (512 MB of float32 at d=1280)
Vectors = NDArray[np.float32] | Rows


class ClusterError(AutoalbumError, ValueError):
    """A number of albums that the photos can't be split into."""


@dataclass(frozen=True)
class Clustering:
    labels: NDArray[np.int64]
    centroids: NDArray[np.float32]
    distances: NDArray[np.float32]
    k: int
    inertia: float


def as_matrix(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """The vectors as a contiguous float32 (n, d) array; rejects empty or non-finite input."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"expected a non-empty (n, d) array of vectors, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("vectors contain NaN or infinite values; re-embed the affected photos")
    return matrix


def as_rows(vectors: Vectors) -> Rows:
    """Vectors as Rows: a float32 array checked by `as_matrix` and wrapped, Rows as they are."""
    if isinstance(vectors, np.ndarray):
        return Dense(as_matrix(vectors))
    if len(vectors) == 0 or vectors.dim == 0:
        raise ValueError("expected a non-empty set of vectors")
    return vectors


def _rows(x: Vectors) -> Rows:
    """Vectors as Rows, unchecked."""
    return Dense(np.asarray(x, dtype=np.float32)) if isinstance(x, np.ndarray) else x


def dense(x: Rows) -> NDArray[np.float32]:
    """Every row as one float32 matrix (only for rows known to be few, or already dense)."""
    if isinstance(x, Dense):
        return x.matrix
    return x.take(np.arange(len(x), dtype=np.int64))


def check_k(k: int, n: int) -> None:
    """Raise ClusterError unless n vectors can make k albums."""
    if k < 1:
        raise ClusterError(f"cannot make {k} albums; use --k 1 or more")
    if k > n:
        raise ClusterError(f"cannot make {k} albums from {n} images; use --k {n} or fewer")


def fit(
    x: NDArray[np.float32],
    k: int,
    seed: int,
    n_init: int,
    iterations: int,
    use_gpu: bool,
    init: NDArray[np.float32] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Unit centroids (k, d) and each vector's nearest centroid, all computed by FAISS."""
    import faiss

    n, d = x.shape
    kmeans = faiss.Kmeans(
        d,
        k,
        niter=iterations,
        nredo=n_init,
        spherical=True,
        seed=seed,
        verbose=False,
        gpu=faiss_use_gpu(use_gpu),
        # FAISS warns below 39 points per centroid and subsamples above 256; photo sets are
        # small enough to always train on every vector, and few photos per album is normal.
        min_points_per_centroid=1,
        max_points_per_centroid=math.ceil(n / k) + 1,
    )
    kmeans.train(x, init_centroids=init)
    centroids = normalise(np.asarray(kmeans.centroids, dtype=np.float32).reshape(k, d))
    index = faiss.IndexFlatIP(d)
    index.add(centroids)
    _, nearest = index.search(x, 1)
    return centroids, nearest.ravel().astype(np.int64)


def nearest_centres(x: Rows, centroids: NDArray[np.float32]) -> NDArray[np.int64]:
    """Each row's nearest unit centroid by inner product, a chunk of rows at a time."""
    import faiss

    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    nearest = np.empty(len(x), dtype=np.int64)
    for start, chunk in x.chunks():
        _, found = index.search(np.ascontiguousarray(chunk), 1)
        nearest[start : start + len(chunk)] = found.ravel()
    return nearest


def _by_size(raw: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """Non-empty cluster ids, biggest first; ties go to the cluster with the earliest member."""
    sizes = np.bincount(raw, minlength=k)
    first = np.full(k, raw.size, dtype=np.int64)
    np.minimum.at(first, raw, np.arange(raw.size, dtype=np.int64))
    order = np.lexsort((first, -sizes))
    return order[sizes[order] > 0].astype(np.int64)


def own_similarity(
    x: Vectors, centroids: NDArray[np.float32], labels: NDArray[np.int64]
) -> NDArray[np.float32]:
    """Each vector's cosine similarity to its own centroid, a chunk at a time to bound memory."""
    rows = _rows(x)
    similarity = np.empty(len(rows), dtype=np.float32)
    for start, chunk in rows.chunks():
        block = slice(start, start + len(chunk))
        similarity[block] = np.einsum("ij,ij->i", chunk, centroids[labels[block]])
    return similarity


def _similarity_and_norms(
    x: Rows, centroids: NDArray[np.float32], labels: NDArray[np.int64]
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """`own_similarity` and each vector's squared norm, in one pass over the chunks."""
    similarity = np.empty(len(x), dtype=np.float32)
    norms = np.empty(len(x), dtype=np.float64)
    for start, chunk in x.chunks():
        block = slice(start, start + len(chunk))
        similarity[block] = np.einsum("ij,ij->i", chunk, centroids[labels[block]])
        norms[block] = np.einsum("ij,ij->i", chunk, chunk)
    return similarity, norms


def numbered(x: Vectors, centroids: NDArray[np.float32], raw: NDArray[np.int64]) -> Clustering:
    """Renumber clusters by size, dropping empty ones, and measure each vector's distance."""
    order = _by_size(raw, len(centroids))
    if len(order) < len(centroids):
        log.info("dropped %d empty clusters", len(centroids) - len(order))
    renumber = np.empty(len(centroids), dtype=np.int64)
    renumber[order] = np.arange(len(order), dtype=np.int64)
    labels = renumber[raw]
    kept = centroids[order]
    similarity, norms = _similarity_and_norms(_rows(x), kept, labels)
    # Centroids are unit length, so |x - c|^2 = |x|^2 + 1 - 2 x.c, with no (n, d) temporaries.
    squared = norms + 1.0 - 2.0 * similarity
    return Clustering(
        labels=labels,
        centroids=kept,
        distances=(1.0 - similarity).astype(np.float32),
        k=len(order),
        inertia=float(squared.sum()),
    )


def kmeans(
    vectors: Vectors,
    k: int,
    *,
    seed: int = 0,
    n_init: int = 5,
    iterations: int = 25,
    use_gpu: bool = False,
) -> Clustering:
    """Spherical k-means with FAISS; deterministic for a given seed. Over KMEANS_SAMPLE rows
    it trains on a sample of that many, then assigns every row."""
    x = as_rows(vectors)
    check_k(k, len(x))
    if n_init < 1 or iterations < 1:
        raise ValueError(f"n_init and iterations must be >= 1, got {n_init} and {iterations}")
    if len(x) <= KMEANS_SAMPLE:
        return numbered(x, *fit(dense(x), k, seed, n_init, iterations, use_gpu))
    sample = x.take(sample_rows(len(x), KMEANS_SAMPLE, np.random.default_rng(seed)))
    centroids, _ = fit(sample, k, seed, n_init, iterations, use_gpu)
    return numbered(x, centroids, nearest_centres(x, centroids))


def unit_centres(x: Vectors, labels: NDArray[np.int64], k: int) -> NDArray[np.float32]:
    """Each cluster's mean direction; a sparse one-hot product per chunk (np.add.at took 15 s
    at 1M)."""
    import scipy.sparse as sparse

    rows = _rows(x)
    sums = np.zeros((k, rows.dim), dtype=np.float32)
    for start, chunk in rows.chunks():
        members = sparse.csr_matrix(
            (
                np.ones(len(chunk), dtype=np.float32),
                (labels[start : start + len(chunk)], np.arange(len(chunk))),
            ),
            shape=(k, len(chunk)),
        )
        sums += np.asarray(members @ chunk, dtype=np.float32)
    return normalise(sums)


def from_labels(vectors: Vectors, labels: NDArray[np.int64], k: int) -> Clustering:
    """The Clustering of labels found by any method: unit mean centres, numbered by size."""
    x = as_rows(vectors)
    return numbered(x, unit_centres(x, labels, k), labels.astype(np.int64))
