"""Spectral clustering of photo embeddings, sampled so that it scales, and its choice of k.

The pipeline that bench/cluster_methods.py measured best on every labelled set:

1. Features: signed square root of each value (power normalisation), L2, then PCA to
   `PCA_DIMENSIONS` dimensions fitted on a sample of at most `SPECTRAL_SAMPLE` vectors, each
   component divided by its variance^(1/4) (half whitening: full whitening lets hundreds of
   noise directions swamp the few that separate two classes), then L2.
2. A binary k-NN graph (`NEIGHBOURS` nearest by cosine, self included, symmetrised as
   (A + A^T) / 2) over the sample; the normalised Laplacian's k smallest eigenvectors,
   discretised by Damle, Minden and Ying's cluster_qr.
3. The caller (clusters.spectral) keeps the best of a few restarts on the sample, then refines
   with spherical k-means over *all* vectors, started from the spectral clusters' centres:
   linear in n, so a million photos cost one k-means.

k: the largest gap between consecutive Laplacian eigenvalues in the allowed range (the number
of nearly disconnected parts of the graph), on each of `VOTE_DRAWS` random `VOTE_FRACTION`
subsets of at most `VOTE_SAMPLE` vectors; the median of those choices. One graph alone is noisy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from numpy.typing import NDArray

from autoalbum.embedding.embedder import normalise

NEIGHBOURS = 10
PCA_DIMENSIONS = 128
WHITEN_POWER = 0.5  # 1 is full whitening, 0 none
SPECTRAL_SAMPLE = 5_000  # most vectors the PCA, the k-NN graph and its eigenvectors see
VOTE_SAMPLE = 4_000  # most vectors each eigengap vote sees
VOTE_DRAWS = 9
VOTE_FRACTION = 0.8
_BLOCK = 65_536

Matrix = NDArray[np.float32]


def _rooted(rows: Matrix) -> Matrix:
    return normalise(np.sign(rows) * np.sqrt(np.abs(rows)))


def sample_rows(n: int, size: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Sorted indices of a random sample of at most `size` of n rows."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)


@dataclass(frozen=True)
class Whitening:
    """A fitted PCA with half whitening: maps embeddings to clustering features."""

    mean: NDArray[np.float64]
    components: NDArray[np.float64]  # (dims, d)
    scale: NDArray[np.float64]  # each component's variance^(power/2)

    def __call__(self, vectors: Matrix) -> Matrix:
        """Clustering features of `vectors`, a block of rows at a time to bound memory."""
        out = np.empty((len(vectors), len(self.components)), dtype=np.float32)
        projection = (self.components / self.scale[:, None]).T.astype(np.float32)
        offset = (self.mean @ projection).astype(np.float32)
        for start in range(0, len(vectors), _BLOCK):
            block = _rooted(vectors[start : start + _BLOCK])
            out[start : start + _BLOCK] = normalise(block @ projection - offset)
        return out


def fit_whitening(vectors: Matrix, seed: int = 0) -> Whitening:
    """Fit the feature transform on `vectors` (a sample: its cost grows with their number);
    randomised PCA, so each seed gives a slightly different transform."""
    from sklearn.decomposition import PCA

    x = _rooted(vectors)
    dims = min(PCA_DIMENSIONS, len(x) - 1, x.shape[1])
    pca = PCA(n_components=dims, random_state=seed).fit(x)
    scale = np.maximum(pca.explained_variance_, 1e-12) ** (WHITEN_POWER / 2)
    return Whitening(pca.mean_.astype(np.float64), pca.components_.astype(np.float64), scale)


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


def spectral_labels(features: Matrix, k: int) -> NDArray[np.int64]:
    """Spectral clusters (0..k-1, some possibly empty) of unit feature rows."""
    return cluster_qr(spectrum(knn_graph(features), k)[1])


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
