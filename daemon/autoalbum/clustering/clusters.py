"""Spherical k-means over L2-normalised embeddings (FAISS), and the choice of k.

Albums are numbered by size, so `Clustering.labels` is renumbered after fitting: label 0 is the
biggest cluster, ties go to the cluster holding the earliest vector. Clusters left empty by the
final assignment (duplicate photos, fewer distinct vectors than k) are dropped, so `k` can come
out smaller than asked for.

Choosing k: plain cosine silhouette on CNN features usually peaks at k=2 (or another small k)
because the features have a few dominant directions, and any blob elongated along them splits
"well" in two. So each k is scored by its silhouette minus the silhouette the same k reaches on
a reference set without clusters, a Gaussian with the sample's own mean and covariance (the
idea of the gap statistic). One unlucky k-means fit makes that curve noisy, so it is averaged
over neighbouring k; the smallest k within GAP_TOLERANCE of the smoothed best is taken, then
moved to whichever of k-1, k, k+1 scores best unsmoothed, since averaging blurs sharp peaks.
Measured with EfficientNet-Lite0 features of the labelled sets (mnist, flowers17, catsdogs,
hymenoptera) and on sklearn's digits, six seeds each, this kept k within [0.5x, 2x] of the true
class count in 28 runs of 30 (ants/bees twice got 5) against 18 for argmax silhouette (2
albums for 10 digits, 4 for 17 flowers); on separated synthetic blobs it found the exact k
in 79% of runs against 85%, the misses mostly where k-means itself merged two blobs. The
price: the scan fits twice as many models. Under REFERENCE_MIN_IMAGES images the same rule
runs on plain silhouette.

Speed: FAISS and numpy each bring their own BLAS thread pool, and numpy's threads spin for a
while after each call; interleaving them on a small machine makes FAISS several times slower.
So every fit (FAISS only, assignment included) runs before any numpy scoring.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.spectral import (
    NEIGHBOURS,
    SPECTRAL_SAMPLE,
    Whitening,
    eigengap_vote,
    fit_whitening,
    sample_rows,
    spectral_labels,
)
from autoalbum.errors import AutoalbumError

log = logging.getLogger(__name__)

GAP_TOLERANCE = 0.15  # fraction of the best excess silhouette that still counts as good
SCAN_N_INIT = 3  # restarts per k while scanning; as good as 5 on real sets, and faster
NULL_RANK = 512  # rows used to estimate the covariance of the reference Gaussian
# Below this many images the reference is too crude (its covariance, from a handful of points,
# holds the clusters themselves), and plain silhouette does as well or better.
REFERENCE_MIN_IMAGES = 30


class ClusterError(AutoalbumError, ValueError):
    """A number of albums that the photos can't be split into."""


@dataclass(frozen=True)
class Clustering:
    labels: NDArray[np.int64]
    centroids: NDArray[np.float32]
    distances: NDArray[np.float32]
    k: int
    inertia: float


@dataclass(frozen=True)
class KChoice:
    """How k was chosen: `scores` maps each k tried to its silhouette minus the reference's."""

    k: int
    score: float
    scores: dict[int, float]
    method: str


def _as_matrix(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"expected a non-empty (n, d) array of vectors, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("vectors contain NaN or infinite values; re-embed the affected photos")
    return matrix


def _check_k(k: int, n: int) -> None:
    if k < 1:
        raise ClusterError(f"cannot make {k} albums; use --k 1 or more")
    if k > n:
        raise ClusterError(f"cannot make {k} albums from {n} images; use --k {n} or fewer")


def _check_k_range(k_min: int, k_max: int) -> None:
    if k_min < 2 or k_min > k_max:
        raise ClusterError(f"k range must satisfy 2 <= MIN <= MAX, got {k_min}:{k_max}")


def _faiss_gpu(use_gpu: bool) -> bool:
    if not use_gpu:
        return False
    import faiss

    if faiss.get_num_gpus() > 0:
        return True
    log.debug("FAISS sees no GPU; clustering on the CPU")
    return False


def _normalise(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    unit: NDArray[np.float32] = (rows / norms).astype(np.float32)
    return unit


def _fit(
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
        gpu=_faiss_gpu(use_gpu),
        # FAISS warns below 39 points per centroid and subsamples above 256; photo sets are
        # small enough to always train on every vector, and few photos per album is normal.
        min_points_per_centroid=1,
        max_points_per_centroid=math.ceil(n / k) + 1,
    )
    kmeans.train(x, init_centroids=init)
    centroids = _normalise(np.asarray(kmeans.centroids, dtype=np.float32).reshape(k, d))
    index = faiss.IndexFlatIP(d)
    index.add(centroids)
    _, nearest = index.search(x, 1)
    return centroids, nearest.ravel().astype(np.int64)


def _by_size(raw: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """Non-empty cluster ids, biggest first; ties go to the cluster with the earliest member."""
    sizes = np.bincount(raw, minlength=k)
    first = np.full(k, raw.size, dtype=np.int64)
    np.minimum.at(first, raw, np.arange(raw.size, dtype=np.int64))
    order = np.lexsort((first, -sizes))
    return order[sizes[order] > 0].astype(np.int64)


def _own_similarity(
    x: NDArray[np.float32], centroids: NDArray[np.float32], labels: NDArray[np.int64]
) -> NDArray[np.float32]:
    """Each vector's cosine similarity to its own centroid, a block at a time to bound memory."""
    similarity = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), 65_536):
        block = slice(start, start + 65_536)
        similarity[block] = np.einsum("ij,ij->i", x[block], centroids[labels[block]])
    return similarity


def _clustering(
    x: NDArray[np.float32], centroids: NDArray[np.float32], raw: NDArray[np.int64]
) -> Clustering:
    """Renumber clusters by size, dropping empty ones, and measure each vector's distance."""
    order = _by_size(raw, len(centroids))
    if len(order) < len(centroids):
        log.info("dropped %d empty clusters", len(centroids) - len(order))
    renumber = np.empty(len(centroids), dtype=np.int64)
    renumber[order] = np.arange(len(order), dtype=np.int64)
    labels = renumber[raw]
    kept = centroids[order]
    similarity = _own_similarity(x, kept, labels)
    # Centroids are unit length, so |x - c|^2 = |x|^2 + 1 - 2 x.c, with no (n, d) temporaries.
    squared = np.einsum("ij,ij->i", x, x).astype(np.float64) + 1.0 - 2.0 * similarity
    return Clustering(
        labels=labels,
        centroids=kept,
        distances=(1.0 - similarity).astype(np.float32),
        k=len(order),
        inertia=float(squared.sum()),
    )


def kmeans(
    vectors: NDArray[np.float32],
    k: int,
    *,
    seed: int = 0,
    n_init: int = 5,
    iterations: int = 25,
    use_gpu: bool = False,
) -> Clustering:
    """Spherical k-means with FAISS; deterministic for a given seed."""
    x = _as_matrix(vectors)
    _check_k(k, len(x))
    if n_init < 1 or iterations < 1:
        raise ValueError(f"n_init and iterations must be >= 1, got {n_init} and {iterations}")
    return _clustering(x, *_fit(x, k, seed, n_init, iterations, use_gpu))


def silhouette(distances: NDArray[np.float32], labels: NDArray[np.int64]) -> float:
    """Mean silhouette from a precomputed distance matrix; as sklearn's, in one matrix product.

    sklearn's `silhouette_score` loops over rows in Python, which dominates the scan at a few
    thousand points; this computes every point's mean distance to every cluster at once.
    """
    found, dense = np.unique(labels, return_inverse=True)
    m = len(labels)
    if not 2 <= len(found) <= m - 1:
        return -1.0
    rows = np.arange(m)
    onehot = np.zeros((m, len(found)), dtype=np.float32)
    onehot[rows, dense] = 1.0
    sums = (distances @ onehot).astype(np.float64)
    counts = onehot.sum(axis=0).astype(np.float64)
    own_count = counts[dense]
    a = sums[rows, dense] / np.maximum(own_count - 1, 1)
    mean_to = sums / counts
    mean_to[rows, dense] = np.inf
    b = mean_to.min(axis=1)
    scores = np.where(own_count > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(scores.mean())


def _distance_matrix(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Pairwise cosine distances, computed once and shared by every k scored."""
    unit = _normalise(x)
    distances: NDArray[np.float32] = np.clip(1.0 - unit @ unit.T, 0.0, 2.0).astype(np.float32)
    np.fill_diagonal(distances, 0.0)
    return distances


def _reference(x: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """Unit vectors drawn from a Gaussian with the mean and covariance of `x`: no clusters."""
    basis = x[sample_rows(len(x), NULL_RANK, rng)]
    mean = x.mean(axis=0)
    spread = (basis - basis.mean(axis=0)) / np.float32(math.sqrt(max(len(basis) - 1, 1)))
    noise = rng.standard_normal((len(x), len(basis))).astype(np.float32)
    return _normalise(mean + noise @ spread)


def _smoothed(scores: dict[int, float]) -> dict[int, float]:
    """Mean over each k and its neighbours, so that one unlucky fit does not decide."""
    ks = sorted(scores)
    padded = [scores[ks[0]], *(scores[k] for k in ks), scores[ks[-1]]]
    return {k: sum(padded[i : i + 3]) / 3 for i, k in enumerate(ks)}


def _pick(scores: dict[int, float]) -> int:
    """Smallest k whose smoothed score is near the best, moved to its best raw neighbour."""
    smooth = _smoothed(scores)
    best = max(smooth.values())
    near = min(k for k, score in smooth.items() if score >= best - GAP_TOLERANCE * abs(best))
    return max((k for k in (near - 1, near, near + 1) if k in scores), key=scores.__getitem__)


def _scan(
    x: NDArray[np.float32], k_min: int, k_max: int, seed: int, sample: int
) -> tuple[KChoice, Clustering | None]:
    """Score every k in range on a sample; return the choice and its fit if the sample is all."""
    _check_k_range(k_min, k_max)
    if sample < 3:
        raise ValueError(f"sample must be at least 3 vectors, got {sample}")
    if len(x) < 3:
        return KChoice(1, 0.0, {}, "too few images"), None
    rng = np.random.default_rng(seed)
    picked = x[sample_rows(len(x), sample, rng)]
    reference = _reference(picked, rng) if len(picked) >= REFERENCE_MIN_IMAGES else None
    high = min(k_max, len(picked) - 1)
    ks = range(min(k_min, high), high + 1)
    fits = {k: _fit(picked, k, seed, SCAN_N_INIT, 25, False) for k in ks}
    # A k that left clusters empty (near-identical photos) is really a smaller k: skip it.
    labels = {k: fit[1] for k, fit in fits.items() if len(np.unique(fit[1])) == k}
    if not labels:
        return KChoice(1, 0.0, {}, "all images alike"), None
    scores = _scores(picked, labels, reference, seed)
    chosen = _pick(scores)
    fit = _clustering(picked, *fits[chosen]) if len(picked) == len(x) else None
    method = "silhouette" if reference is None else "silhouette gap"
    return KChoice(chosen, scores[chosen], scores, method), fit


def _scores(
    x: NDArray[np.float32],
    labels: dict[int, NDArray[np.int64]],
    reference: NDArray[np.float32] | None,
    seed: int,
) -> dict[int, float]:
    """Silhouette of each k, less the silhouette the same k reaches on `reference` if given."""
    if reference is None:
        return _silhouettes(x, labels)
    null_labels = {k: _fit(reference, k, seed, 1, 25, False)[1] for k in labels}
    real, null = _silhouettes(x, labels), _silhouettes(reference, null_labels)
    for k in labels:
        log.debug("k=%d: silhouette %.4f, reference %.4f", k, real[k], null[k])
    return {k: real[k] - null[k] for k in labels}


def _silhouettes(x: NDArray[np.float32], labels: dict[int, NDArray[np.int64]]) -> dict[int, float]:
    distances = _distance_matrix(x)
    return {k: silhouette(distances, assigned) for k, assigned in labels.items()}


def choose_k(
    vectors: NDArray[np.float32],
    k_min: int = 2,
    k_max: int = 20,
    *,
    seed: int = 0,
    sample: int = 4000,
) -> KChoice:
    """Pick k in [k_min, min(k_max, n - 1)] by cosine silhouette over a structureless
    reference, on a sample of at most `sample` vectors; n < 3 gives k = 1."""
    return _scan(_as_matrix(vectors), k_min, k_max, seed, sample)[0]


# Below this, PCA statistics and a k-NN graph are too noisy (30 photos in 6 albums came out
# mixed where k-means sorted them perfectly); k-means it is.
SPECTRAL_MIN_IMAGES = 200
# Spectral runs on a sample, so restarts are cheap at any n. They differ by the randomised PCA;
# the most cohesive (mean cosine to its centre in the embedding space) is kept. On flowers17
# that criterion ranked the restarts as NMI did (0.83 and 0.82 most cohesive, 0.79 least).
SPECTRAL_RESTARTS = 5


class Method(str, enum.Enum):
    SPECTRAL = "spectral"
    KMEANS = "kmeans"


def _spectral_ok(n: int, k: int) -> bool:
    return k > 1 and n >= max(SPECTRAL_MIN_IMAGES, 3 * k * NEIGHBOURS // 2)


def _unit_centres(x: NDArray[np.float32], labels: NDArray[np.int64], k: int) -> NDArray[np.float32]:
    """Each cluster's mean direction; a sparse one-hot product (np.add.at took 15 s at 1M)."""
    import scipy.sparse as sparse

    members = sparse.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))),
        shape=(k, len(labels)),
    )
    return _normalise(np.asarray(members @ x, dtype=np.float32))


def _cohesion(x: NDArray[np.float32], labels: NDArray[np.int64], k: int) -> float:
    """Mean cosine similarity of each vector to its cluster's unit mean centre."""
    return float(_own_similarity(x, _unit_centres(x, labels, k), labels).mean())


def _spectral_on_sample(
    sample: NDArray[np.float32], k: int, seed: int, use_gpu: bool
) -> tuple[Whitening, NDArray[np.float32], float]:
    """The best of SPECTRAL_RESTARTS spectral clusterings of `sample`, each refined by k-means:
    its feature transform, its unit centres in feature space and its cohesion."""
    best: tuple[Whitening, NDArray[np.float32], float] | None = None
    for restart in range(SPECTRAL_RESTARTS):
        whitening = fit_whitening(sample, seed + restart)
        features = whitening(sample)
        found = spectral_labels(features, k)
        _, refined = _fit(features, k, seed, 1, 25, use_gpu, init=_seeds(features, found, k))
        score = _cohesion(sample, refined, k)  # in the embedding space all restarts share
        log.debug("spectral restart %d: cohesion %.4f", restart, score)
        if best is None or score > best[2]:
            best = whitening, _unit_centres(features, refined, k), score
    assert best is not None
    return best


def _seeds(features: NDArray[np.float32], labels: NDArray[np.int64], k: int) -> NDArray[np.float32]:
    """Unit centres of the clusters found; an empty cluster starts from a random vector."""
    centres = _unit_centres(features, labels, k)
    empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
    pick = np.random.default_rng(len(labels)).choice(len(features), len(empty), replace=False)
    centres[empty] = features[pick]
    return centres


def _refined_spectral(x: NDArray[np.float32], k: int, seed: int, use_gpu: bool) -> Clustering:
    """Spectral clusters of a sample, the most cohesive of a few restarts, then spherical
    k-means over every vector from their centres; album centres in the embedding space."""
    rows = sample_rows(len(x), SPECTRAL_SAMPLE, np.random.default_rng(seed))
    whitening, centres, _ = _spectral_on_sample(x[rows], k, seed, use_gpu)
    _, raw = _fit(whitening(x), k, seed, 1, 25, use_gpu, init=centres)
    return from_labels(x, raw, k)


def spectral(
    vectors: NDArray[np.float32], k: int, *, seed: int = 0, use_gpu: bool = False
) -> Clustering:
    """Spectral clustering on a k-NN graph of half-whitened PCA features, refined by k-means.

    Measured by bench/cluster_methods.py against plain spherical k-means on Lite0 features
    (NMI / one-to-one accuracy at the true k, mean of seeds 0-4): flowers17 0.823/0.823
    (k-means 0.746/0.714), catsdogs 0.891/0.985 (0.846/0.977), hymenoptera 0.597/0.920
    (0.606/0.922), mnist 0.700/0.717 (0.463/0.490). Sets under SPECTRAL_MIN_IMAGES (or with
    few images per album) get plain k-means.
    """
    x = _as_matrix(vectors)
    _check_k(k, len(x))
    if not _spectral_ok(len(x), k):
        return kmeans(x, k, seed=seed, use_gpu=use_gpu)
    return _refined_spectral(x, k, seed, use_gpu)


def from_labels(vectors: NDArray[np.float32], labels: NDArray[np.int64], k: int) -> Clustering:
    """The Clustering of labels found by any method: unit mean centres, numbered by size."""
    x = _as_matrix(vectors)
    return _clustering(x, _unit_centres(x, labels, k), labels.astype(np.int64))


def cluster(
    vectors: NDArray[np.float32],
    k: int | None,
    *,
    k_range: tuple[int, int] = (2, 20),
    seed: int = 0,
    method: Method = Method.SPECTRAL,
    use_gpu: bool = False,
) -> tuple[Clustering, KChoice | None]:
    """Cluster into `k` albums, or choose k in `k_range` first when k is None.

    Spectral clustering chooses k by the eigengap vote on its own features; k-means (and
    spectral on small sets) by the silhouette gap.
    """
    x = _as_matrix(vectors)
    if method is Method.SPECTRAL and _spectral_ok(len(x), k or max(2, k_range[0])):
        choice = None
        if k is None:
            _check_k_range(*k_range)
            sample = x[sample_rows(len(x), SPECTRAL_SAMPLE, np.random.default_rng(seed))]
            features = fit_whitening(sample, seed)(sample)
            chosen, shares = eigengap_vote(features, k_range[0], k_range[1], seed)
            choice = KChoice(chosen, shares[chosen], shares, "eigengap vote")
            log.info("chose k=%d (%s, %.0f%% of votes)", chosen, choice.method, 100 * choice.score)
            k = chosen
        _check_k(k, len(x))
        if _spectral_ok(len(x), k):
            return _refined_spectral(x, k, seed, use_gpu), choice
        return kmeans(x, k, seed=seed, use_gpu=use_gpu), choice
    choice, fit = None, None
    if k is None:
        choice, fit = _scan(x, k_range[0], k_range[1], seed, 4000)
        log.info("chose k=%d (%s %.3f)", choice.k, choice.method, choice.score)
        k = choice.k
    return (fit or kmeans(x, k, seed=seed, use_gpu=use_gpu)), choice
