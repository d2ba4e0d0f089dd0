"""Spectral clustering of photo embeddings, sampled so that it scales, and its choice of k.

The pipeline that bench/cluster_methods.py measured best on every labelled set:

1. Features: signed square root of each value (power normalisation), L2, then PCA to
   `PCA_DIMENSIONS` dimensions fitted on a sample of at most `SPECTRAL_SAMPLE` vectors, each
   component divided by its variance^(1/4) (half whitening: full whitening lets hundreds of
   noise directions swamp the few that separate two classes), then L2.
2. A binary k-NN graph (`NEIGHBOURS` nearest by cosine, self included, symmetrised as
   (A + A^T) / 2) over the sample; the normalised Laplacian's k smallest eigenvectors,
   discretised by Damle, Minden and Ying's cluster_qr.
3. `spectral` keeps the most cohesive of `SPECTRAL_RESTARTS` restarts on the sample, then
   refines with spherical k-means over *all* vectors, started from the spectral clusters'
   centres: linear in n, so a million photos cost one k-means.

k: the largest gap between consecutive Laplacian eigenvalues in the allowed range (the number
of nearly disconnected parts of the graph), on each of `VOTE_DRAWS` random `VOTE_FRACTION`
subsets of at most `VOTE_SAMPLE` vectors; the median of those choices. One graph alone is noisy.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from numpy.typing import NDArray

from autoalbum.clustering.choose_k import KChoice, check_k_range
from autoalbum.clustering.kmeans import (
    Clustering,
    Vectors,
    as_rows,
    check_k,
    fit,
    from_labels,
    kmeans,
    own_similarity,
    unit_centres,
)
from autoalbum.clustering.rows import Dense, Rows, signed_roots
from autoalbum.clustering.sampling import sample_rows
from autoalbum.embedding.embedder import normalise

log = logging.getLogger(__name__)

NEIGHBOURS = 10
PCA_DIMENSIONS = 128
WHITEN_POWER = 0.5  # 1 is full whitening, 0 none
SPECTRAL_SAMPLE = 5_000  # most vectors the PCA, the k-NN graph and its eigenvectors see
VOTE_SAMPLE = 4_000  # most vectors each eigengap vote sees
VOTE_DRAWS = 9
VOTE_FRACTION = 0.8
# Below this, PCA statistics and a k-NN graph are too noisy (30 photos in 6 albums came out
# mixed where k-means sorted them perfectly); k-means it is.
SPECTRAL_MIN_IMAGES = 200
# Spectral runs on a sample, so restarts are cheap at any n. They differ by the randomised PCA;
# the most cohesive (mean cosine to its centre in the embedding space) is kept. On flowers17
# that criterion ranked the restarts as NMI did (0.83 and 0.82 most cohesive, 0.79 least).
SPECTRAL_RESTARTS = 5
Matrix = NDArray[np.float32]


def rooted(rows: Matrix) -> Matrix:
    """Power normalisation: signed square root of each value, then L2."""
    return normalise(signed_roots(rows))


@dataclass(frozen=True)
class Whitening:
    """A fitted PCA with half whitening: maps embeddings to clustering features."""

    mean: NDArray[np.float64]
    components: NDArray[np.float64]  # (dims, d)
    scale: NDArray[np.float64]  # each component's variance^(power/2)
    root: bool = True  # power normalisation before the PCA (bench/ compares without)

    def __call__(self, vectors: Matrix | Rows) -> Matrix:
        """Clustering features of `vectors`, a chunk of rows at a time to bound memory."""
        rows = Dense(vectors) if isinstance(vectors, np.ndarray) else vectors
        out = np.empty((len(rows), len(self.components)), dtype=np.float32)
        projection = (self.components / self.scale[:, None]).T.astype(np.float32)
        offset = (self.mean @ projection).astype(np.float32)
        # rooted(x) is normalise(signed_roots(x)), and stored codes hold the roots already.
        for start, chunk in rows.chunks(roots=self.root):
            block = normalise(chunk)
            out[start : start + len(chunk)] = normalise(block @ projection - offset)
        return out


def fit_whitening(
    vectors: Matrix,
    seed: int = 0,
    *,
    dims: int = PCA_DIMENSIONS,
    power: float = WHITEN_POWER,
    root: bool = True,
) -> Whitening:
    """Fit the feature transform on `vectors` (a sample: its cost grows with their number);
    randomised PCA, so each seed gives a slightly different transform. The keywords exist
    for bench/cluster_methods.py's variants; the product uses the defaults."""
    from sklearn.decomposition import PCA

    x = rooted(vectors) if root else normalise(vectors)
    dims = min(dims, len(x) - 1, x.shape[1])
    pca = PCA(n_components=dims, random_state=seed).fit(x)
    scale = np.maximum(pca.explained_variance_, 1e-12) ** (power / 2)
    return Whitening(pca.mean_.astype(np.float64), pca.components_.astype(np.float64), scale, root)


def knn_graph(x: Matrix, neighbours: int = NEIGHBOURS) -> sparse.csr_matrix:
    """Binary cosine k-NN graph of unit rows, self included, symmetrised as (A + A^T) / 2."""
    import faiss

    n = len(x)
    neighbours = min(neighbours, n)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, nearest = index.search(x, neighbours)
    rows = np.repeat(np.arange(n), neighbours)
    edges = sparse.csr_matrix((np.ones(n * neighbours), (rows, nearest.ravel())), shape=(n, n))
    edges.data[:] = 1.0  # a neighbour listed twice (identical photos) is still one edge
    return sparse.csr_matrix(0.5 * (edges + edges.T))


def spectrum(graph: sparse.csr_matrix, m: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The m smallest eigenvalues of the normalised Laplacian and the spectral embedding.

    As scipy's `laplacian`, self-loops don't count. The smallest eigenvalues of
    L = I - D^-1/2 A D^-1/2 are found as the largest of D^-1/2 A D^-1/2 by plain Lanczos:
    shift-invert around 0 needs a sparse LU factorisation whose fill-in made one 5,000-photo
    graph take 49 s instead of 0.4 s.
    """
    from scipy.sparse.linalg import eigsh

    n = graph.shape[0]
    adjacency = sparse.csr_matrix(graph - sparse.diags(graph.diagonal()))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    normalised = sparse.csr_matrix(sparse.diags(scale) @ adjacency @ sparse.diags(scale))
    if m >= n - 1:  # ARPACK needs m < n; a graph this small is cheap to decompose densely
        values, vectors = np.linalg.eigh(normalised.toarray())
        values, vectors = values[::-1][:m], vectors[:, ::-1][:, :m]
    else:
        start = np.random.default_rng(0).uniform(-1, 1, n)
        values, vectors = eigsh(normalised, k=m, which="LA", v0=start)
    laplacian_values = 1.0 - values
    order = np.argsort(laplacian_values)
    return laplacian_values[order], vectors[:, order] * scale[:, None]


def cluster_qr(embedding: NDArray[np.float64]) -> NDArray[np.int64]:
    """Damle, Minden and Ying's discretisation of a spectral embedding (as scikit-learn's)."""
    from scipy.linalg import qr, svd

    k = embedding.shape[1]
    _, _, pivots = qr(embedding.T, pivoting=True)
    left, _, right = svd(embedding[pivots[:k], :].T)
    return np.asarray(np.abs(embedding @ (left @ right)).argmax(axis=1), dtype=np.int64)


def spectral_labels(features: Matrix, k: int, neighbours: int = NEIGHBOURS) -> NDArray[np.int64]:
    """Spectral clusters (0..k-1, some possibly empty) of unit feature rows."""
    return cluster_qr(spectrum(knn_graph(features, neighbours), k)[1])


def eigengap(values: NDArray[np.float64], k_min: int, k_max: int) -> int:
    """The k in [k_min, k_max] after which the sorted eigenvalues jump most."""
    gaps = values[k_min : k_max + 1] - values[k_min - 1 : k_max]
    return k_min + int(np.argmax(gaps))


def eigengap_vote(
    features: Matrix, k_min: int, k_max: int, seed: int = 0
) -> tuple[int, dict[int, float]]:
    """The median eigengap choice over VOTE_DRAWS random subsets, and each k's share of votes."""
    rng = np.random.default_rng(seed)
    picked = features[sample_rows(len(features), VOTE_SAMPLE, rng)]
    size = math.ceil(VOTE_FRACTION * len(picked))
    k_max = min(k_max, size - 2)
    votes = []
    for _ in range(VOTE_DRAWS):
        subset = picked[np.sort(rng.permutation(len(picked))[:size])]
        values, _ = spectrum(knn_graph(subset), k_max + 1)
        votes.append(eigengap(values, k_min, k_max))
    chosen = int(np.median(votes))
    shares = {k: votes.count(k) / len(votes) for k in sorted(set(votes))}
    return chosen, shares


def eigengap_choice(x: Matrix, k_min: int, k_max: int, seed: int = 0) -> KChoice:
    """k by the eigengap vote on the features of a sample; `scores` holds each k's vote share."""
    check_k_range(k_min, k_max)
    sample = x[sample_rows(len(x), SPECTRAL_SAMPLE, np.random.default_rng(seed))]
    features = fit_whitening(sample, seed)(sample)
    chosen, shares = eigengap_vote(features, k_min, k_max, seed)
    return KChoice(chosen, shares[chosen], shares, "eigengap vote")


def spectral_ok(n: int, k: int) -> bool:
    """Whether n vectors are enough for spectral clustering into k albums."""
    return k > 1 and n >= max(SPECTRAL_MIN_IMAGES, 3 * k * NEIGHBOURS // 2)


def _cohesion(x: Matrix, labels: NDArray[np.int64], k: int) -> float:
    """Mean cosine similarity of each vector to its cluster's unit mean centre."""
    return float(own_similarity(x, unit_centres(x, labels, k), labels).mean())


def start_centres(features: Matrix, labels: NDArray[np.int64], k: int) -> Matrix:
    """Unit centres of the clusters found; an empty cluster starts from a random vector."""
    centres = unit_centres(features, labels, k)
    empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
    pick = np.random.default_rng(len(labels)).choice(len(features), len(empty), replace=False)
    centres[empty] = features[pick]
    return centres


def _on_sample(sample: Matrix, k: int, seed: int, use_gpu: bool) -> tuple[Whitening, Matrix, float]:
    """The best of SPECTRAL_RESTARTS spectral clusterings of `sample`, each refined by k-means:
    its feature transform, its unit centres in feature space and its cohesion."""
    best: tuple[Whitening, Matrix, float] | None = None
    for restart in range(SPECTRAL_RESTARTS):
        whitening = fit_whitening(sample, seed + restart)
        features = whitening(sample)
        found = spectral_labels(features, k)
        start = start_centres(features, found, k)
        _, refined = fit(features, k, seed, 1, 25, use_gpu, init=start)
        score = _cohesion(sample, refined, k)  # in the embedding space all restarts share
        log.debug("spectral restart %d: cohesion %.4f", restart, score)
        if best is None or score > best[2]:
            best = whitening, unit_centres(features, refined, k), score
    assert best is not None
    return best


def refined_spectral(x: Rows, k: int, seed: int, use_gpu: bool) -> Clustering:
    """Spectral clusters of a sample, the most cohesive of a few restarts, then spherical
    k-means over every vector from their centres; album centres in the embedding space."""
    rows = sample_rows(len(x), SPECTRAL_SAMPLE, np.random.default_rng(seed))
    whitening, centres, _ = _on_sample(x.take(rows), k, seed, use_gpu)
    _, raw = fit(whitening(x), k, seed, 1, 25, use_gpu, init=centres)
    return from_labels(x, raw, k)


def spectral(vectors: Vectors, k: int, *, seed: int = 0, use_gpu: bool = False) -> Clustering:
    """Spectral clustering on a k-NN graph of half-whitened PCA features, refined by k-means.

    Measured by bench/cluster_methods.py against plain spherical k-means on Lite0 features
    (NMI / one-to-one accuracy at the true k, mean of seeds 0-4): flowers17 0.823/0.823
    (k-means 0.746/0.714), catsdogs 0.891/0.985 (0.846/0.977), hymenoptera 0.597/0.920
    (0.606/0.922), mnist 0.700/0.717 (0.463/0.490). Sets under SPECTRAL_MIN_IMAGES (or with
    few images per album) get plain k-means.
    """
    x = as_rows(vectors)
    check_k(k, len(x))
    if not spectral_ok(len(x), k):
        return kmeans(x, k, seed=seed, use_gpu=use_gpu)
    return refined_spectral(x, k, seed, use_gpu)
