"""Which clustering of Lite0 embeddings should be the default? Every labelled set, many methods.

Embeds each labelled set once: the raw pooled 1280-d features (before L2 normalisation) of each
image and of its mirror image, cached in ~/.cache/autoalbum/bench/<set>.raw-flip.npz. Then:

1. At k = number of classes, each method runs with --seeds seeds; the table shows mean NMI,
   mean one-to-one (Hungarian) accuracy and seconds per run, features included, and whether
   the method, as run or in its sampled form, stays near-linear in n up to 1M vectors.
2. Automatic k in [2, 40] for three methods, on the whole set and on --draws random 80% subsets
   (features refitted on each), by several criteria; a choice should lie within [0.5x, 2x] of
   the number of classes.
3. With --scale N: the recommended pipeline timed on N synthetic vectors (the real features
   repeated with noise), and the O(n^2) methods at growing n for contrast.
4. A recommendation, re-derived from the numbers above on each run.
5. Automatic albums as the product makes them (cluster.cluster with k None: the split test of
   autoalbum.clustering.granularity) on every set and on uneven mixtures of them, against the
   eigengap vote it replaced and against the product's own clustering at the true k: the
   chosen k, NMI at it, and k at granularity coarser and finer. --auto-albums-only runs just
   this section.

Features: "sqrt" is power normalisation (signed square root, then L2); "PCA-d half" is PCA to d
dimensions fitted on the set, component i divided by variance_i^(1/4) (half whitening; "full"
divides by variance_i^(1/2)), then L2; "flip-avg" averages the raw features of an image and its
mirror image. "spectral kNN-m" embeds a binary k-NN graph (cosine, self included, symmetrised
as (A + A^T) / 2, as sklearn's affinity="nearest_neighbors") with the normalised Laplacian's
first k eigenvectors and discretises it with cluster_qr; "+ refine" then runs spherical k-means
over every vector from the spectral clusters' centres. Every piece is the product's own
(autoalbum.clustering, accuracy from autoalbum.evaluation.evaluate); only the comparison methods
(Ward, scikit-learn's spectral clustering, modularity, Calinski-Harabasz) come from elsewhere.

    .venv/bin/python bench/cluster_methods.py [--datasets ../shared/datasets] [--seeds 3]
        [--draws 4] [--scale 1000000] [--auto-albums-only]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import faiss
import numpy as np
import scipy.sparse as sparse
from numpy.typing import NDArray
from sklearn.cluster import AgglomerativeClustering, SpectralClustering
from sklearn.metrics import calinski_harabasz_score, normalized_mutual_info_score
from sklearn.neighbors import kneighbors_graph

from autoalbum.clustering import kmeans as product_kmeans
from autoalbum.clustering.choose_k import distance_matrix, silhouette
from autoalbum.clustering.cluster import K_RANGE as PRODUCT_K_RANGE
from autoalbum.clustering.cluster import cluster as product_cluster
from autoalbum.clustering.sampling import sample_rows
from autoalbum.clustering.spectral import (
    NEIGHBOURS,
    PCA_DIMENSIONS,
    SPECTRAL_RESTARTS,
    SPECTRAL_SAMPLE,
    VOTE_DRAWS,
    VOTE_FRACTION,
    VOTE_SAMPLE,
    cluster_qr,
    eigengap,
    eigengap_choice,
    eigengap_vote,
    fit_whitening,
    knn_graph,
    rooted,
    spectral,
    spectral_labels,
    spectrum,
    start_centres,
)
from autoalbum.embedding.embedder import (
    Device,
    Embeddings,
    OnnxEmbedder,
    bundled_model_spec,
    normalise,
)
from autoalbum.embedding.model import EMBEDDING_NAME, cache_dir
from autoalbum.embedding.pipeline import embed_paths
from autoalbum.embedding.scan import find_images
from autoalbum.evaluation.evaluate import hungarian_accuracy

DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
K_RANGE = (2, 40)  # the product's default before the split test
PCA_DIMS = PCA_DIMENSIONS
NMI_GOAL, ACCURACY_GOAL = 0.80, 0.97  # flowers17 NMI and catsdogs accuracy at the true k
BLOCK = 65_536

Matrix = NDArray[np.float32]
Labels = NDArray[np.int64]
T = TypeVar("T")


@dataclass(frozen=True)
class LabelledSet:
    name: str
    raw: Matrix  # (n, 1280) pooled features, not normalised
    flipped: Matrix  # the same for each image mirrored left to right
    labels: Labels

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1

    def subset(self, rows: NDArray[np.int64]) -> LabelledSet:
        return LabelledSet(self.name, self.raw[rows], self.flipped[rows], self.labels[rows])


# --- embedding, once per set ---------------------------------------------------------------------


class RawFlipEmbedder:
    """Raw pooled features of each image and of its mirror image, side by side (n, 2 x 1280)."""

    def __init__(self, embedder: OnnxEmbedder) -> None:
        self.input_size = embedder.input_size
        self._session = embedder.session

    def _pooled(self, images: NDArray[np.uint8]) -> Matrix:
        (pooled,) = self._session.run([EMBEDDING_NAME], {"image": images})
        return np.asarray(pooled, dtype=np.float32).reshape(len(images), -1)

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        mirrored = np.ascontiguousarray(images[:, :, ::-1])
        return Embeddings(np.hstack([self._pooled(images), self._pooled(mirrored)]), None, None)


def labelled_set(folder: Path, embedder: Callable[[], RawFlipEmbedder]) -> LabelledSet:
    """The set's features, from the cache or embedded now (unreadable files are skipped)."""
    cache = cache_dir() / "bench" / f"{folder.name}.raw-flip.npz"
    if not cache.is_file():
        started = time.perf_counter()
        result = embed_paths(find_images([folder]), embedder())
        for failure in result.failures:
            print(f"  skipping {failure}")
        print(f"embedded {folder.name} in {time.perf_counter() - started:.0f} s")
        names = [path.relative_to(folder).parts[0] for path in result.paths]
        labels = np.unique(names, return_inverse=True)[1].astype(np.int64)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, features=result.vectors, labels=labels)
    stored = np.load(cache)
    raw, flipped = np.split(stored["features"].astype(np.float32), 2, axis=1)
    return LabelledSet(folder.name, raw, flipped, stored["labels"].astype(np.int64))


def labelled_folders(datasets: Path) -> list[Path]:
    """Sets laid out as <set>/<class>/<file> with at least two classes."""
    return [
        folder
        for folder in sorted(datasets.iterdir())
        if folder.is_dir() and sum(child.is_dir() for child in folder.iterdir()) >= 2
    ]


# --- features ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Features:
    """How raw features become the vectors that are clustered."""

    flip: bool = False  # average with the mirror image's features
    root: bool = False  # power normalisation
    centre: bool = False
    dims: int | None = None  # PCA dimensions, None for no PCA
    power: float = 0.5  # whitening: 1 full, 0.5 half

    @property
    def name(self) -> str:
        parts = ["flip-avg"] if self.flip else []
        parts += ["sqrt"] if self.root else []
        parts += ["centred"] if self.centre else []
        if self.dims:
            parts.append(f"PCA-{self.dims} {'full' if self.power == 1 else 'half'}")
        return ", ".join(parts) or "L2"

    def __call__(self, data: LabelledSet) -> Matrix:
        raw = data.raw + data.flipped if self.flip else data.raw
        if self.dims:  # the product's transform, its dimensions and whitening varied
            whiten = fit_whitening(raw, dims=self.dims, power=self.power, root=self.root)
            return whiten(raw)
        x = rooted(raw) if self.root else normalise(raw)
        return normalise(x - x.mean(axis=0)) if self.centre else x


PLAIN = Features()
BEST = Features(root=True, dims=PCA_DIMS)  # the recommended transform


# --- clustering ----------------------------------------------------------------------------------

Clusterer = Callable[[Matrix, int, int], Labels]  # (vectors, k, seed) -> labels


def kmeans(x: Matrix, k: int, seed: int) -> Labels:
    """The product's spherical k-means, best of 5 restarts."""
    return product_kmeans.kmeans(x, k, seed=seed).labels


def refine(x: Matrix, k: int, seed: int, start: Matrix) -> Labels:
    """One spherical k-means run over all of x from `start`, as the product refines."""
    return product_kmeans.fit(x, k, seed, 1, 25, False, init=start)[1]


def spectral_sample(x: Matrix, k: int, seed: int, neighbours: int = NEIGHBOURS) -> Labels:
    """The product's spectral clusters of x, without its restarts, sampling or refinement."""
    return spectral_labels(x, k, neighbours)


def spectral_refined(x: Matrix, k: int, seed: int, sample: float = 1.0) -> Labels:
    """Spectral clusters of a random sample, then spherical k-means over all from their centres."""
    rows = sample_rows(len(x), math.ceil(sample * len(x)), np.random.default_rng(seed))
    found = spectral_labels(x[rows], k)
    return refine(x, k, seed, start_centres(x[rows], found, k))


def sklearn_spectral(x: Matrix, k: int, seed: int, neighbours: int, assign: str) -> Labels:
    model = SpectralClustering(
        n_clusters=k,
        affinity="nearest_neighbors",
        n_neighbors=neighbours,
        assign_labels=assign,
        random_state=seed,
    )
    return np.asarray(model.fit_predict(x), dtype=np.int64)


def ward(x: Matrix, k: int, seed: int, connectivity: bool = False) -> Labels:
    graph = kneighbors_graph(x, NEIGHBOURS) if connectivity else None
    model = AgglomerativeClustering(n_clusters=k, linkage="ward", connectivity=graph)
    return np.asarray(model.fit_predict(x), dtype=np.int64)


def product_default(x: Matrix, k: int, seed: int) -> Labels:
    """What autoalbum itself runs: cluster.cluster with its default method."""
    return product_cluster(x, k, seed=seed)[0].labels


def two_level(x: Matrix, k: int, seed: int, top: Clusterer) -> Labels:
    """k-means to 200 small clusters, then `top` on their centres; members follow their centre."""
    small = product_kmeans.kmeans(x, min(200, len(x) // 2), seed=seed)
    return top(small.centroids, k, seed)[small.labels]


@dataclass(frozen=True)
class Method:
    clustering: str
    features: Features
    cluster: Clusterer
    cost: str  # how the work grows with n
    scales: bool  # usable at 1M vectors, as run or sampled

    @property
    def name(self) -> str:
        return f"{self.clustering} | {self.features.name}"

    def run(self, data: LabelledSet, k: int, seed: int) -> Labels:
        return self.cluster(self.features(data), k, seed)


LINEAR, QUADRATIC = "O(n k d)", "O(n^2 d) k-NN search"
SAMPLED = f"O(n k d) + spectral on <={SPECTRAL_SAMPLE // 1000}k"
WARD = "O(n^2) memory"


RECOMMENDED = "spectral kNN-10 + refine | sqrt, PCA-128 half"


def methods() -> list[Method]:
    def km(features: Features) -> Method:
        return Method("spherical k-means", features, kmeans, LINEAR, True)

    def refined(name: str, features: Features, sample: float) -> Method:
        return Method(name, features, partial(spectral_refined, sample=sample), SAMPLED, True)

    qr20 = partial(sklearn_spectral, neighbours=20, assign="cluster_qr")
    on_embedding = partial(sklearn_spectral, neighbours=NEIGHBOURS, assign="kmeans")
    flip_best = Features(flip=True, root=True, dims=PCA_DIMS)
    return [
        Method("autoalbum default (cluster.cluster)", PLAIN, product_default, SAMPLED, True),
        km(PLAIN),
        km(Features(centre=True)),
        km(Features(root=True)),
        km(Features(flip=True)),
        *(km(Features(dims=d, power=1)) for d in (64, 128)),
        *(km(Features(dims=d)) for d in (64, 128, 256)),
        *(km(Features(root=True, dims=d, power=1)) for d in (32, 64)),
        *(km(Features(root=True, dims=d)) for d in (64, 128, 256)),
        km(Features(flip=True, dims=PCA_DIMS)),
        km(flip_best),
        Method("sklearn spectral kNN-20", PLAIN, qr20, QUADRATIC, False),
        Method("sklearn spectral kNN-20", Features(dims=PCA_DIMS), qr20, QUADRATIC, False),
        Method("spectral kNN-10", Features(root=True), spectral_sample, QUADRATIC, False),
        Method("spectral kNN-10", BEST, spectral_sample, QUADRATIC, False),
        Method("spectral kNN-20", BEST, partial(spectral_sample, neighbours=20), QUADRATIC, False),
        Method("sklearn spectral kNN-10, k-means on it", BEST, on_embedding, QUADRATIC, False),
        refined("spectral kNN-10 + refine", BEST, 1.0),
        refined("spectral kNN-10 on 50% + refine", BEST, 0.5),
        refined("spectral kNN-10 on 25% + refine", BEST, 0.25),
        refined("spectral kNN-10 + refine", flip_best, 1.0),
        Method("Ward", PLAIN, ward, WARD, False),
        Method("Ward", BEST, ward, WARD, False),
        Method("Ward, kNN-10 connectivity", BEST, partial(ward, connectivity=True), WARD, False),
        Method(
            "k-means to 200, spectral kNN-5 on centres",
            BEST,
            partial(two_level, top=partial(spectral_sample, neighbours=5)),
            LINEAR,
            True,
        ),
        Method("k-means to 200, Ward on centres", BEST, partial(two_level, top=ward), LINEAR, True),
    ]


# --- scoring at the true k -----------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    nmi: float
    accuracy: float
    seconds: float


def score(method: Method, data: LabelledSet, seeds: int) -> Score:
    nmis, accuracies, started = [], [], time.perf_counter()
    for seed in range(seeds):
        found = method.run(data, data.k, seed)
        nmis.append(normalized_mutual_info_score(data.labels, found))
        accuracies.append(hungarian_accuracy(data.labels, found))
    seconds = (time.perf_counter() - started) / seeds
    return Score(float(np.mean(nmis)), float(np.mean(accuracies)), seconds)


def print_scores(data: LabelledSet, scores: dict[str, Score], compared: list[Method]) -> None:
    print(f"\n{data.name}: {len(data.labels)} images, {data.k} classes, k = {data.k}")
    print(f"  {'clustering | features':<72} {'NMI':>5} {'acc':>5} {'s/run':>6}  cost at n")
    for method in compared:
        got = scores[method.name]
        print(
            f"  {method.name:<72} {got.nmi:>5.3f} {got.accuracy:>5.3f} {got.seconds:>6.2f}  "
            f"{method.cost}{'' if method.scales else ' (not at 1M)'}"
        )


# --- automatic k ---------------------------------------------------------------------------------


def modularity(graph: sparse.csr_matrix, labels: Labels) -> float:
    degree = np.asarray(graph.sum(axis=1)).ravel()
    total = degree.sum()
    member = sparse.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)))
    inside = (member.T @ graph @ member).diagonal()
    return float((inside / total - (member.T @ degree / total) ** 2).sum())


def kmeans_scan(x: Matrix, ks: range, seed: int) -> dict[int, Labels]:
    return {k: kmeans(x, k, seed) for k in ks}


def spectral_scan(x: Matrix, ks: range, seed: int) -> dict[int, Labels]:
    """One eigendecomposition serves every k; each k is then refined by k-means."""
    _, embedding = spectrum(knn_graph(x), ks.stop)
    found = {k: cluster_qr(embedding[:, :k]) for k in ks}
    return {k: refine(x, k, seed, start_centres(x, found[k], k)) for k in ks}


@dataclass(frozen=True)
class Scan:
    """A method fitted at every k in range, so that criteria can pick one."""

    name: str
    features: Features
    fit_all: Callable[[Matrix, range, int], dict[int, Labels]]


SCANS = [
    Scan("spectral kNN-10 + refine", BEST, spectral_scan),
    Scan("spherical k-means", BEST, kmeans_scan),
    Scan("spherical k-means", PLAIN, kmeans_scan),
]
VOTE = f"eigengap, median of {VOTE_DRAWS} 80% subsets"


def choices(x: Matrix, fits: dict[int, Labels], seed: int) -> dict[str, int]:
    """The k that each criterion picks."""
    k_min, k_max = K_RANGE
    distances = distance_matrix(x)
    scores = {k: silhouette(distances, y) for k, y in fits.items()}
    best = max(scores.values())
    harabasz = {k: calinski_harabasz_score(x, y) for k, y in fits.items()}
    graph = knn_graph(x)
    community = {k: modularity(graph, y) for k, y in fits.items()}
    return {
        "silhouette (cosine), max": max(scores, key=scores.__getitem__),
        "largest k with silhouette >= 0.9 max": max(
            k for k, s in scores.items() if s >= 0.9 * best
        ),
        "Calinski-Harabasz, max": max(harabasz, key=harabasz.__getitem__),
        "modularity on the kNN-10 graph, max": max(community, key=community.__getitem__),
        "eigengap of the kNN-10 graph": eigengap(spectrum(graph, k_max + 1)[0], k_min, k_max),
        VOTE: eigengap_vote(x, k_min, k_max, seed)[0],
    }


Picks = dict[tuple[str, str], list[int]]  # (scan, criterion) -> k on the set and each subset


def auto_k(data: LabelledSet, draws: int) -> Picks:
    """Chosen k per scan and criterion, on the whole set and on `draws` random 80% subsets."""
    rng = np.random.default_rng(1)
    size = math.ceil(0.8 * len(data.labels))
    subsets = [data.subset(rng.permutation(len(data.labels))[:size]) for _ in range(draws)]
    picked: Picks = {}
    ks = range(K_RANGE[0], K_RANGE[1] + 1)
    for seed, subset in enumerate([data, *subsets]):
        for scan in SCANS:
            x = scan.features(subset)
            for criterion, k in choices(x, scan.fit_all(x, ks, seed), seed).items():
                picked.setdefault((f"{scan.name} | {scan.features.name}", criterion), []).append(k)
    return picked


def in_range(k: int, classes: int) -> bool:
    return classes / 2 <= k <= classes * 2


def print_auto_k(data: LabelledSet, picked: Picks) -> None:
    allowed = f"[{math.ceil(data.k / 2)}, {data.k * 2}]"
    print(f"  automatic k in {list(K_RANGE)}: whole set | random 80% subsets; allowed {allowed}")
    for (scan, criterion), ks in picked.items():
        ok = sum(in_range(k, data.k) for k in ks)
        subsets = " ".join(f"{k:>2}" for k in ks[1:])
        print(f"    {scan:<46} {criterion:<38} {ks[0]:>3} | {subsets}  {ok}/{len(ks)} ok")


# --- scaling -------------------------------------------------------------------------------------


def synthetic(data: LabelledSet, n: int) -> Matrix:
    """n raw feature vectors between the set's own: each a random mix of a real vector and one
    of its 10 nearest neighbours, with multiplicative noise (noisy copies alone would make
    thousands of tiny disconnected clusters)."""
    rng = np.random.default_rng(0)
    real = normalise(data.raw)
    index = faiss.IndexFlatIP(real.shape[1])
    index.add(real)
    _, near = index.search(real, 11)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, BLOCK):
        block = out[start : start + BLOCK]
        first = rng.integers(len(real), size=len(block))
        second = near[first, rng.integers(1, 11, size=len(block))]
        mix = rng.uniform(size=(len(block), 1)).astype(np.float32)
        noise = np.exp(0.1 * rng.standard_normal(block.shape, dtype=np.float32))
        block[:] = (mix * data.raw[first] + (1 - mix) * data.raw[second]) * noise
    return out


def timed(label: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    print(f"    {label:<64} {time.perf_counter() - started:>7.1f} s")
    return result


def scaled_pipeline(raw: Matrix, k: int) -> None:
    """The product's pipeline on many vectors, step by step."""
    x = timed("L2", lambda: normalise(raw))
    timed("plain spherical k-means, 1280-d (the baseline)", lambda: kmeans(x, k, 0))
    timed(
        f"choose k: {VOTE} of <= {VOTE_SAMPLE:,} of a <= {SPECTRAL_SAMPLE:,} sample",
        lambda: eigengap_choice(x, *K_RANGE, 0),
    )
    timed(
        f"spectral, k = {k}: {SPECTRAL_RESTARTS} restarts on <= {SPECTRAL_SAMPLE:,} sampled, "
        "k-means over all",
        lambda: spectral(x, k),
    )


def scaling(data: LabelledSet, n: int) -> None:
    print(f"\nscaling: synthetic vectors made from {data.name}'s, k = {data.k}")
    for size in (2_500, 5_000, 10_000):
        raw = synthetic(data, size)
        x = fit_whitening(raw)(raw)
        print(f"  n = {size:,}")
        timed("spectral kNN-10, exact k-NN graph of all", partial(spectral_sample, x, data.k, 0))
        timed("Ward", partial(ward, x, data.k, 0))
        timed("spectral kNN-10 of all + refine", partial(spectral_refined, x, data.k, 0))
    print(f"  n = {n:,}, recommended pipeline")
    scaled_pipeline(synthetic(data, n), data.k)


# --- automatic albums, as the product makes them -------------------------------------------------

# Uneven pools of the labelled sets: (set, share of its images); a share under 1 is a random
# subset, so that one kind of photo is rare next to the others.
MIXTURES = {
    "flowers17+catsdogs+mnist+cifar10": (
        ("flowers17", 1.0), ("catsdogs", 1.0), ("mnist", 1.0), ("cifar10", 1.0),
    ),
    "catsdogs+cifar10": (("catsdogs", 1.0), ("cifar10", 1.0)),
    "flowers17+catsdogs+cifar10 at 10%": (("flowers17", 1.0), ("catsdogs", 1.0), ("cifar10", 0.1)),
    "hymenoptera+mnist+flowers17 at 10%": (
        ("hymenoptera", 1.0), ("mnist", 1.0), ("flowers17", 0.1),
    ),
}  # fmt: skip


def mixture(
    name: str, parts: tuple[tuple[str, float], ...], sets: dict[str, LabelledSet]
) -> LabelledSet:
    """One pool of the named sets' images, each of their classes a class of its own."""
    rng = np.random.default_rng(123)
    pieces, offset = [], 0
    for set_name, share in parts:
        data = sets[set_name]
        if share < 1:
            size = round(share * len(data.labels))
            data = data.subset(np.sort(rng.choice(len(data.labels), size, replace=False)))
        pieces.append(LabelledSet(set_name, data.raw, data.flipped, data.labels + offset))
        offset += int(data.labels.max()) + 1
    labels = np.unique(np.concatenate([p.labels for p in pieces]), return_inverse=True)[1]
    raw = np.concatenate([p.raw for p in pieces])
    flipped = np.concatenate([p.flipped for p in pieces])
    return LabelledSet(name, raw, flipped, labels.astype(np.int64))


@dataclass(frozen=True)
class AutoAlbums:
    """Per seed: (k, NMI) by the eigengap vote and by the product, NMI at the true k, and k at
    granularity coarser and finer."""

    vote: list[tuple[int, float]]
    product: list[tuple[int, float]]
    at_true_k: list[float]
    coarser: list[int]
    finer: list[int]

    def ok(self, classes: int) -> bool:
        """k within [0.5x, 2x] on every seed, mean NMI at least 0.9 x the mean at the true k."""
        nmi = np.mean([v for _, v in self.product])
        in_bounds = all(in_range(k, classes) for k, _ in self.product)
        return in_bounds and bool(nmi >= 0.9 * np.mean(self.at_true_k))


def auto_albums(data: LabelledSet, seeds: int) -> AutoAlbums:
    x = PLAIN(data)  # the product clusters the L2-normalised embeddings itself

    def nmi(labels: Labels) -> float:
        return float(normalized_mutual_info_score(data.labels, labels))

    found = AutoAlbums([], [], [], [], [])
    for seed in range(seeds):
        voted = eigengap_choice(x, *K_RANGE, seed).k
        found.vote.append((voted, nmi(spectral(x, voted, seed=seed).labels)))
        chosen = product_cluster(x, None, seed=seed)[0]
        found.product.append((chosen.k, nmi(chosen.labels)))
        found.at_true_k.append(nmi(product_cluster(x, data.k, seed=seed)[0].labels))
        for steps, ks in ((-1.0, found.coarser), (1.0, found.finer)):
            ks.append(product_cluster(x, None, granularity=steps, seed=seed)[0].k)
    return found


def _ks(values: list[int]) -> str:
    return " ".join(str(k) for k in values)


def print_auto_albums(rows: list[tuple[LabelledSet, AutoAlbums]]) -> None:
    low, high = PRODUCT_K_RANGE
    print(
        f"\nautomatic albums: the product's cluster(k=None), its split test in [{low}, {high}], "
        f"against the eigengap vote in {list(K_RANGE)} it replaced; k on each seed, mean NMI;\n"
        "ok: k within [0.5x, 2x] on every seed and NMI >= 0.9 x NMI at the true k"
    )
    print(
        f"  {'set':<36} {'photos':>6} {'k':>3} | {'vote: k':>10} {'NMI':>5} | "
        f"{'split test: k':>13} {'NMI':>5} | {'NMI at k':>8} | {'coarser':>9} {'finer':>9} | ok"
    )
    for data, got in rows:
        vote_nmi = np.mean([v for _, v in got.vote])
        product_nmi = np.mean([v for _, v in got.product])
        print(
            f"  {data.name:<36} {len(data.labels):>6} {data.k:>3} | "
            f"{_ks([k for k, _ in got.vote]):>10} {vote_nmi:>5.3f} | "
            f"{_ks([k for k, _ in got.product]):>13} {product_nmi:>5.3f} | "
            f"{np.mean(got.at_true_k):>8.3f} | {_ks(got.coarser):>9} {_ks(got.finer):>9} | "
            f"{'yes' if got.ok(data.k) else 'no'}"
        )


def auto_albums_section(sets: list[LabelledSet], seeds: int) -> None:
    named = {data.name: data for data in sets}
    pools = list(sets)
    for name, parts in MIXTURES.items():
        if all(part in named for part, _ in parts):
            pools.append(mixture(name, parts, named))
    rows = []
    for data in pools:
        started = time.perf_counter()
        rows.append((data, auto_albums(data, seeds)))
        print(f"  {data.name}: {time.perf_counter() - started:.0f} s", flush=True)
    print_auto_albums(rows)


# --- recommendation ------------------------------------------------------------------------------


def meets_goals(name: str, scores: dict[str, dict[str, Score]]) -> bool:
    flowers = scores.get("flowers17", {}).get(name)
    cats = scores.get("catsdogs", {}).get(name)
    return (flowers is None or flowers.nmi >= NMI_GOAL) and (
        cats is None or cats.accuracy >= ACCURACY_GOAL
    )


def print_summary(scores: dict[str, dict[str, Score]], compared: list[Method]) -> None:
    sets = list(scores)
    print("\nsummary: NMI / one-to-one accuracy at the true k (* meets both goals)")
    print(f"  {'clustering | features':<72}" + "".join(f"{s:>14}" for s in sets) + "  mean NMI")
    for method in compared:
        cells = [
            f"{scores[s][method.name].nmi:.3f}/{scores[s][method.name].accuracy:.3f}" for s in sets
        ]
        mean = np.mean([scores[s][method.name].nmi for s in sets])
        mark = "*" if meets_goals(method.name, scores) else " "
        print(f" {mark}{method.name:<72}" + "".join(f"{c:>14}" for c in cells) + f"  {mean:.3f}")


PARAMETERS = f"""\
  the product's own (autoalbum.clustering.spectral), as the "autoalbum default" row runs it:
  features: signed sqrt of each value, L2; PCA to {PCA_DIMS} dims fitted on at most
    {SPECTRAL_SAMPLE:,} sampled vectors; each component divided by variance^(1/4); L2
  graph: {NEIGHBOURS} nearest neighbours by cosine (self included), binary, (A + A^T) / 2
  spectral: normalised Laplacian's k smallest eigenvectors (Lanczos on the normalised
    adjacency), divided by sqrt(degree), cluster_qr; on the same sample; the most cohesive of
    {SPECTRAL_RESTARTS} restarts (randomised PCA) is kept
  refine: FAISS spherical k-means over all vectors from the spectral clusters' unit mean
    centres (nredo 1, 25 iterations)
  k chosen (section 5): autoalbum.clustering.granularity's split test; the eigengap vote below
    is what it replaced and what section 2 scores
  eigengap vote: the largest gap between consecutive eigenvalues, k in {list(K_RANGE)}, on each
    of {VOTE_DRAWS} random {VOTE_FRACTION:.0%} subsets of at most {VOTE_SAMPLE:,} sampled
    vectors; the median of the {VOTE_DRAWS} choices"""


def print_recommendation(
    scores: dict[str, dict[str, Score]],
    compared: list[Method],
    picks: dict[str, Picks],
    classes: dict[str, int],
) -> None:
    """The scalable method with the best mean NMI that meets both goals, and the criteria for k
    that stayed within [0.5x, 2x] of the class count on every set and subset."""
    good = [m for m in compared if m.scales and meets_goals(m.name, scores)]
    if good:
        best = max(good, key=lambda m: np.mean([s[m.name].nmi for s in scores.values()]))
        print(f"\nrecommended (scales, meets both goals, best mean NMI): {best.name}")
    else:
        print("\nrecommended: none; no scalable method meets both goals")
    for scan, criterion in next(iter(picks.values()), {}):
        if all(
            all(in_range(k, classes[s]) for k in p[(scan, criterion)]) for s, p in picks.items()
        ):
            print(f"  k within [0.5x, 2x] on every set and subset: {scan} by {criterion}")
    print(f"parameters of {RECOMMENDED}:\n{PARAMETERS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=4, help="random 80%% subsets for auto k")
    parser.add_argument("--scale", type=int, default=0, help="time the pipeline on N vectors")
    parser.add_argument(
        "--auto-albums-only", action="store_true",
        help="run only section 5: the product's automatic albums on every set and mixture",
    )  # fmt: skip
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Graph is not fully connected")
    embedders: list[RawFlipEmbedder] = []

    def embedder() -> RawFlipEmbedder:
        if not embedders:
            embedders.append(RawFlipEmbedder(OnnxEmbedder(bundled_model_spec(), Device.CPU)))
        return embedders[0]

    sets = [labelled_set(folder, embedder) for folder in labelled_folders(args.datasets)]
    if args.auto_albums_only:
        auto_albums_section(sets, args.seeds)
        return
    compared = methods()
    scores: dict[str, dict[str, Score]] = {}
    picks: dict[str, Picks] = {}
    for data in sets:
        scores[data.name] = {m.name: score(m, data, args.seeds) for m in compared}
        print_scores(data, scores[data.name], compared)
        picks[data.name] = auto_k(data, args.draws)
        print_auto_k(data, picks[data.name])
    print_summary(scores, compared)
    if args.scale:
        scaling(next((d for d in sets if d.name == "flowers17"), sets[0]), args.scale)
    print_recommendation(scores, compared, picks, {d.name: d.k for d in sets})
    auto_albums_section(sets, args.seeds)


if __name__ == "__main__":
    main()
