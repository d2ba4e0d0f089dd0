"""How many albums, decided per album: recursive spectral bisection with a null-model test.

One global k can't fit a library that mixes tight and diffuse kinds of photo, and the eigengap
of one graph picks k=2 on homogeneous collections. Instead the albums form a tree, built on the
spectral sample in the clustering features (half-whitened PCA, as `spectral`):

1. A node (a set of photos) is bisected spectrally: a fresh k-NN graph of its own photos, the
   two smallest Laplacian eigenvectors, discretised by cluster_qr. Every graph of the tree has
   the same number of neighbours per photo, a fixed share of the photos the tree sees
   (`neighbours`): the graph then looks at the same scale of the photos' distribution whatever
   their number (module note on size below).
2. The split is accepted when the node's graph is clearly easier to cut than the graph of a
   structureless reference of the same size, mean and covariance (a Gaussian projected onto the
   sphere): its second Laplacian eigenvalue, a smooth measure of the best cut (Cheeger's
   inequality), must be below `threshold(granularity)` times the reference's (the mean of
   a few draws for a small node). The default asks for a factor of SEPARATION = 2: "twice as
   separable as noise"; each granularity step divides or multiplies that by STEP.
3. A lopsided split must be clearer: the ratio is divided by sqrt(4 p (1 - p)), p the smaller
   half's share (1 for an even split; a 22/78 split needs a 1.2 times lower eigenvalue). The
   splits that cut one kind of photo in two were lopsided (catsdogs' dogs split 22/78 at 0.46),
   those between kinds mostly even; an unbalanced split between kinds is usually far clearer
   than the threshold (mnist's 12/88 root split at 0.10, a flower class peeling off at 0.2-0.3).
   This is a prior, not the null model's: a Gaussian's lopsided cuts are dearer than its even
   one. A hard floor on the smaller half (25%) instead broke flowers17 (4-6 albums).
4. Accepted splits are expanded best (smallest ratio) first, so a cap on k keeps the clearest
   splits; each node's reference is drawn from its own seed, so the tree doesn't depend on the
   order of tests and a finer granularity only ever adds splits.

Size. With a fixed 10 neighbours, a graph of more photos looks at a finer scale: at 4,000
cats and dogs the breeds became as clear as cats and dogs at 600, and the tree made 15 albums
where 600 photos made 2. With neighbours a fixed share of the photos (at least NEIGHBOURS, so
a tree of up to NEIGHBOUR_SHARE x NEIGHBOURS photos is as before), a bigger library is a denser
sample of the same picture, and a photo and its augmented copies (a burst) are one point of
it: bench/nesting.py measures the albums of 300, 1,000 and 5,000 photos of the same kinds.
Finer kinds are not lost: they are the sub-albums of each album (nesting.py), found by the same
test on the album's own photos.

The leaves' centres then seed a few spherical k-means iterations over *all* vectors (linear in
n), as the fixed-k pipeline refines its spectral clusters. Everything superlinear runs on at most
SPECTRAL_SAMPLE photos, and every vector is read a chunk at a time (`Rows`): at a million photos
the refinement holds only their 128-d features (512 MB) besides the stored codes.

Measured by bench/cluster_methods.py --auto-albums-only (Lite0 features, seeds 0-2): k within
[0.5x, 2x] of the class count and NMI at least 0.9x the product's NMI at the true k on catsdogs
(2, 0.891), hymenoptera (2, 0.597), flowers17 (15-16, 0.792), mnist (11-13, 0.649), cifar10
(5, 0.486) and four uneven mixtures (39 classes: 29-31, 0.795; the eigengap vote gave 2 on
cifar10, 21-28 and 3-9 albums on the mixtures). Within-class splits mostly scored 0.5-1.2 of the
reference, splits between classes 0.1-0.5; they overlap (catsdogs' dogs at 0.46 before step 3,
cifar10's fifth album at 0.47), and a split near the threshold can still come and go as a
library grows (a 7th album of 6 flower kinds appeared in 1 of 8 row orders).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

from autoalbum.clustering.choose_k import KChoice
from autoalbum.clustering.kmeans import (
    Clustering,
    Vectors,
    as_rows,
    dense,
    from_labels,
    unit_centres,
)
from autoalbum.clustering.sampling import sample_rows
from autoalbum.clustering.spectral import (
    NEIGHBOURS,
    SPECTRAL_SAMPLE,
    cluster_qr,
    fit_whitening,
    knn_graph,
    spectrum,
)
from autoalbum.embedding.embedder import normalise

Matrix = NDArray[np.float32]
Indices = NDArray[np.int64]

SEPARATION = 2.0  # at granularity 0 a node must be this many times easier to cut than noise
# Each granularity step divides SEPARATION by this. A factor of 2 (the first measurements) made
# one step finer 2.7 times as many albums on flowers17 (46 for 17 kinds) and 8 times on
# catsdogs; sqrt(2) makes a step typically 1.3-2 times as many or as few.
STEP = math.sqrt(2.0)
# A node needs at least three times its neighbours in photos; a node smaller than three times
# the library's share is judged at the finer scale that its size allows.
NODE_NEIGHBOURS = 3
NEIGHBOUR_SHARE = 60  # each photo's graph neighbours: at least 1/NEIGHBOUR_SHARE of all
MIN_NODE = NODE_NEIGHBOURS * NEIGHBOURS  # smaller nodes are leaves: too small to judge
# One reference of 80 photos gave eigenvalues from 0.21 to 0.29, enough to flip a split (and
# the albums of a library that grew 5%); a node's reference eigenvalue is the mean over draws
# of together about REFERENCE_POINTS photos (one draw from that size on).
REFERENCE_POINTS = 1_000
MAX_REFERENCE_DRAWS = 8
REFINE_ITERATIONS = 10  # spherical k-means iterations over all vectors from the leaves' centres


def threshold(granularity: float) -> float:
    """Largest eigenvalue ratio (node / reference) that still splits; each step of +1
    multiplies it by STEP (finer albums), each step of -1 divides it (coarser)."""
    return float(STEP**granularity / SEPARATION)


@dataclass(order=True)
class _Node:
    ratio: float
    members: Indices = field(compare=False)
    left: NDArray[np.bool_] = field(compare=False)


def neighbours(photos: int) -> int:
    """Neighbours per photo in every graph of a tree over `photos` photos (module doc)."""
    return max(NEIGHBOURS, round(photos / NEIGHBOUR_SHARE))


def _bisection(features: Matrix, count: int) -> tuple[float, NDArray[np.bool_]]:
    """Second Laplacian eigenvalue of the rows' own `count`-NN graph, and their spectral
    bisection."""
    values, vectors = spectrum(knn_graph(features, count), 2)
    labels = cluster_qr(vectors)
    return float(values[1]), labels == labels[0]


def _references(features: Matrix, rng: np.random.Generator, draws: int) -> list[Matrix]:
    """`draws` sets of unit rows, each as many as `features`, drawn from a Gaussian with their
    mean and covariance: no clusters."""
    covariance = np.cov(features.T.astype(np.float64))
    values, vectors = np.linalg.eigh(np.atleast_2d(covariance))
    root = (vectors * np.sqrt(np.maximum(values, 0.0))).astype(np.float32)
    mean = features.mean(axis=0)
    noise = [rng.standard_normal(features.shape).astype(np.float32) for _ in range(draws)]
    return [normalise((mean + draw @ root.T).astype(np.float32)) for draw in noise]


def _node(features: Matrix, members: Indices, seed: int) -> _Node | None:
    """The node's split and its eigenvalue ratio to the reference's; None if it can't split."""
    if len(members) < MIN_NODE:
        return None
    count = max(NEIGHBOURS, min(neighbours(len(features)), len(members) // NODE_NEIGHBOURS))
    own = features[members]
    value, left = _bisection(own, count)
    if left.all() or not left.any():
        return None
    rng = np.random.default_rng([seed, len(members), int(members[0]), int(members[-1])])
    draws = min(MAX_REFERENCE_DRAWS, math.ceil(REFERENCE_POINTS / len(members)))
    null = float(np.mean([_bisection(drawn, count)[0] for drawn in _references(own, rng, draws)]))
    share = min(float(left.mean()), 1.0 - float(left.mean()))
    return _Node(value / max(null, 1e-12) / math.sqrt(4 * share * (1 - share)), members, left)


def split_tree(
    features: Matrix, limit: float, k_range: tuple[int, int], seed: int
) -> tuple[list[Indices], dict[int, float]]:
    """Leaves (row indices) of the best-first bisection of unit `features`; a split is made
    while its ratio is below `limit`, or while fewer than k_range[0] leaves exist, and never
    beyond k_range[1] leaves. Also each k reached and the ratio of the split that reached it."""
    k_min, k_max = k_range
    root = _node(features, np.arange(len(features), dtype=np.int64), seed)
    queue = [root] if root is not None else []
    leaves: list[Indices] = [] if root is not None else [np.arange(len(features), dtype=np.int64)]
    ratios: dict[int, float] = {}
    while queue:
        count = len(leaves) + len(queue)
        best = queue[0]
        if count >= k_max or (best.ratio >= limit and count >= k_min):
            ratios.setdefault(count + 1, best.ratio)  # the first split refused
            break
        heapq.heappop(queue)
        ratios[count + 1] = best.ratio
        for part in (best.members[best.left], best.members[~best.left]):
            child = _node(features, part, seed)
            if child is None:
                leaves.append(part)
            else:
                heapq.heappush(queue, child)
    return leaves + [node.members for node in queue], ratios


def _refine(features: Matrix, centres: Matrix) -> NDArray[np.int64]:
    """A few spherical k-means iterations over all rows from `centres`; nearest centre each."""
    import faiss

    labels = np.zeros(len(features), dtype=np.int64)
    for iteration in range(REFINE_ITERATIONS + 1):
        index = faiss.IndexFlatIP(features.shape[1])
        index.add(np.ascontiguousarray(centres))
        _, nearest = index.search(features, 1)
        labels = nearest.ravel().astype(np.int64)
        if iteration < REFINE_ITERATIONS:
            sums = unit_centres(features, labels, len(centres))  # np.add.at: 1 s per pass at 1M
            kept = np.linalg.norm(sums, axis=1) > 0
            centres = np.where(kept[:, None], sums, centres)
    return labels


def choose_albums(
    vectors: Vectors,
    *,
    granularity: float = 0.0,
    k_range: tuple[int, int] = (2, 60),
    seed: int = 0,
    sample: int = SPECTRAL_SAMPLE,
) -> tuple[Clustering, KChoice]:
    """Albums of L2-normalised embeddings, their number decided split by split (module doc).

    `granularity` 0 is the default; negative asks for coarser albums, positive finer. The
    KChoice's scores map each k the tree reached to the ratio of the split that reached it
    (the last one refused); its score is the threshold used. The tree sees at most `sample`
    photos."""
    x = as_rows(vectors)
    k_min, k_max = max(1, k_range[0]), max(1, min(k_range[1], len(x)))
    rows = sample_rows(len(x), sample, np.random.default_rng(seed))
    whitening = fit_whitening(x.take(rows), seed) if len(rows) > 2 else None
    features = whitening(x) if whitening is not None else normalise(dense(x))
    limit = threshold(granularity)
    # Hundreds of small graphs and eigenproblems: with the BLAS and OpenMP pools on, each call
    # wakes threads that contend with the other pool's spinning ones (at 100k photos on 2
    # busy cores the tree took 9-50 s with them, 6-7 s without).
    with threadpool_limits(1):
        leaves, ratios = split_tree(features[rows], limit, (min(k_min, k_max), k_max), seed)
    centres = normalise(np.stack([features[rows[leaf]].mean(axis=0) for leaf in leaves]))
    labels = _refine(features, centres) if len(leaves) > 1 else np.zeros(len(x), np.int64)
    clustering = from_labels(x, labels, len(leaves))
    return clustering, KChoice(clustering.k, limit, ratios, "split test")
