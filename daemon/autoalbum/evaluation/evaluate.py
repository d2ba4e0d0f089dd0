"""`autoalbum evaluate`: how well do albums match the labels of a folder of class folders?

Scores one clustering with the usual measures: one-to-one (Hungarian) accuracy, the tutorials'
majority-label accuracy, homogeneity, completeness, V-measure, NMI, ARI, silhouette and
inertia, plus where each class mostly went. The vectors come from the CNN or a cheap embedder
(embedding/features.py), and are reused from a library's catalog or evaluate's cache (labelled.py).

HDBSCAN finds k itself and leaves some images as noise. Noise is scored as one more album,
numbered 0 and called "noise": a class that HDBSCAN mostly gave up on shows as mostly in
"noise", and the accuracies count noise as wrong except for the one class it maps to.
Silhouette and inertia are measured over the clustered images only.
"""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sklearn import metrics

from autoalbum.clustering.choose_k import KChoice, silhouette
from autoalbum.clustering.cluster import K_RANGE, Method, cluster
from autoalbum.clustering.kmeans import Clustering, from_labels
from autoalbum.clustering.nesting import leaf_labels, nest, nesting_depth
from autoalbum.config import Config
from autoalbum.embedding.embedder import normalise
from autoalbum.errors import AutoalbumError
from autoalbum.evaluation.labelled import Features, labelled_images, vectors_for
from autoalbum.printable import printable

SILHOUETTE_SAMPLE = 4000  # an n x n distance matrix beyond this costs too much memory
EXTRA_METHODS = ("minibatch", "agglomerative", "hdbscan")  # evaluate's own, beside clusters'
NOISE = 0  # the album number of the images HDBSCAN leaves unclustered
MIN_CLUSTER_SIZE = 5  # HDBSCAN's smallest album unless told: scikit-learn's default
# HDBSCAN's densities mean little in 1280 dimensions: on the raw Lite0 vectors it left 23-63%
# of each labelled set as noise and found 3-4 albums (flowers17 NMI 0.20); after PCA to 20
# dimensions, 17 flowers gave 16 albums, NMI 0.51 (the albums' own centres and distances stay
# in the embedding space).
HDBSCAN_DIMENSIONS = 20
# PCA of a few dozen photos keeps what most share and drops the directions of the odd few out,
# exactly the photos HDBSCAN should call noise; below this many images it sees the vectors.
HDBSCAN_PCA_MIN_IMAGES = 200


def methods() -> tuple[str, ...]:
    """Every method evaluate runs: the albums' own (cluster.Method), then scikit-learn's."""
    own = tuple(m.value for m in Method)
    return own + tuple(m for m in EXTRA_METHODS if m not in own)


def default_method() -> str:
    """The method `cluster` uses when none is named; clustering/cluster.py owns that choice."""
    return str(inspect.signature(cluster).parameters["method"].default.value)


@dataclass(frozen=True)
class ClassRow:
    label: str
    size: int
    album: int  # the album most of the class went to; NOISE (0) for HDBSCAN's noise
    share: float  # the fraction of the class in that album


@dataclass(frozen=True)
class Evaluation:
    images: int
    classes: int
    k: int  # albums found, noise not counted
    method: str
    noise: int  # images HDBSCAN left unclustered (album 0); 0 for every other method
    min_cluster_size: int | None  # HDBSCAN's setting; None for other methods
    hungarian_accuracy: float
    majority_accuracy: float
    homogeneity: float
    completeness: float
    v_measure: float
    nmi: float
    ari: float
    silhouette: float
    inertia: float
    images_per_second: float | None  # None when the vectors came from a library's catalog
    embeddings: str  # where the vectors came from
    per_class: tuple[ClassRow, ...]
    k_choice: KChoice | None
    assignments: tuple[tuple[str, str, int], ...]  # (image path, true label, album number)
    # "albums": the top level is scored; "leaves": each image's deepest album (sub-albums,
    # clustering/nesting.py), numbered 1 to `leaves`, an album's own images as one more
    level: str = "albums"
    leaves: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Albums:
    """A clustering of the images, of those HDBSCAN did not leave as noise if it ran."""

    clustering: Clustering  # over the clustered images only
    clustered: NDArray[np.bool_]  # one per image; False for noise
    choice: KChoice | None
    min_cluster_size: int | None = None

    def numbers(self) -> NDArray[np.int64]:
        """Each image's album number: 1 to k, or NOISE."""
        numbers = np.full(len(self.clustered), NOISE, dtype=np.int64)
        numbers[self.clustered] = self.clustering.labels + 1
        return numbers


def _contingency(truth: NDArray[np.int64], found: NDArray[np.int64]) -> NDArray[np.int64]:
    table = np.zeros((int(found.max()) + 1, int(truth.max()) + 1), dtype=np.int64)
    np.add.at(table, (found, truth), 1)
    return table


def hungarian_accuracy(truth: NDArray[np.int64], found: NDArray[np.int64]) -> float:
    """Accuracy under the best one-to-one mapping of albums to classes."""
    table = _contingency(truth, found)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(truth))


def majority_accuracy(truth: NDArray[np.int64], found: NDArray[np.int64]) -> float:
    """The tutorials' mapping: each album is labelled with its most common class."""
    return float(_contingency(truth, found).max(axis=1).sum() / len(truth))


def _sklearn_labels(vectors: NDArray[np.float32], k: int, method: str) -> NDArray[np.int64]:
    from sklearn.cluster import AgglomerativeClustering, MiniBatchKMeans

    model = (
        AgglomerativeClustering(k, linkage="ward")
        if method == "agglomerative"
        else MiniBatchKMeans(k, random_state=0, n_init=3)
    )
    return np.asarray(model.fit_predict(vectors), dtype=np.int64)


def _reduced(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """PCA to HDBSCAN_DIMENSIONS, rows unit length again; small sets pass unchanged."""
    if len(vectors) < HDBSCAN_PCA_MIN_IMAGES or vectors.shape[1] <= HDBSCAN_DIMENSIONS:
        return vectors
    from sklearn.decomposition import PCA

    reduced = PCA(HDBSCAN_DIMENSIONS, random_state=0).fit_transform(vectors)
    return normalise(np.asarray(reduced, dtype=np.float32))


def _hdbscan(vectors: NDArray[np.float32], min_cluster_size: int | None) -> Albums:
    from sklearn.cluster import HDBSCAN

    size = min_cluster_size or MIN_CLUSTER_SIZE
    model = HDBSCAN(min_cluster_size=size, copy=True)
    raw = np.asarray(model.fit_predict(_reduced(vectors)), dtype=np.int64)
    clustered = raw >= 0
    if not clustered.any():
        raise AutoalbumError(
            f"HDBSCAN left all {len(vectors)} images as noise; "
            f"lower --min-cluster-size (it was {size})"
        )
    found = int(raw.max()) + 1
    return Albums(from_labels(vectors[clustered], raw[clustered], found), clustered, None, size)


def _cluster(
    vectors: NDArray[np.float32],
    k: int | None,
    k_range: tuple[int, int],
    method: str,
    min_cluster_size: int | None,
    granularity: float = 0.0,
) -> Albums:
    everyone = np.ones(len(vectors), dtype=bool)
    if method == "hdbscan":
        if k is not None:
            raise AutoalbumError(
                "hdbscan finds the number of albums itself; leave out --k "
                "(--min-cluster-size sets the smallest album)"
            )
        return _hdbscan(vectors, min_cluster_size)
    if min_cluster_size is not None:
        raise AutoalbumError("--min-cluster-size applies only to --method hdbscan")
    if method in {m.value for m in Method}:
        clustering, choice = cluster(
            vectors, k, k_range=k_range, granularity=granularity, method=Method(method)
        )
        return Albums(clustering, everyone, choice)
    choice = None
    if k is None:
        chosen, choice = cluster(vectors, None, k_range=k_range, method=Method.KMEANS)
        k = chosen.k
    if k > len(vectors):
        raise AutoalbumError(
            f"cannot make {k} albums from {len(vectors)} images; use --k {len(vectors)} or fewer"
        )
    return Albums(from_labels(vectors, _sklearn_labels(vectors, k, method), k), everyone, choice)


def _per_class(
    classes: list[str], truth: NDArray[np.int64], found: NDArray[np.int64]
) -> tuple[ClassRow, ...]:
    rows = []
    for index, label in enumerate(classes):
        albums = Counter(int(a) for a in found[truth == index])
        album, count = albums.most_common(1)[0]
        rows.append(ClassRow(label, int((truth == index).sum()), album, count / albums.total()))
    return tuple(rows)


def _silhouette(vectors: NDArray[np.float32], found: NDArray[np.int64]) -> float:
    """Cosine silhouette of a sample of the clustered images (not noise)."""
    inside = np.flatnonzero(found != NOISE)
    if len(np.unique(found[inside])) < 2:
        return 0.0
    sample = inside[np.random.default_rng(0).permutation(len(inside))[:SILHOUETTE_SAMPLE]]
    sampled = vectors[sample]
    distances = np.clip(1.0 - sampled @ sampled.T, 0.0, 2.0).astype(np.float32)
    return silhouette(distances, found[sample])


def _leaves(
    vectors: NDArray[np.float32], albums: Albums, method: str, granularity: float
) -> NDArray[np.int64]:
    """Each image's deepest album, numbered from 1 (see Evaluation.level)."""
    if method not in {m.value for m in Method} or not albums.clustered.all():
        raise AutoalbumError(
            f"--leaves needs albums of the product's methods (spectral or kmeans), not {method}"
        )
    depth = nesting_depth(granularity)
    nests = nest(vectors, albums.clustering, granularity=granularity, depth=depth)
    return leaf_labels(albums.clustering.labels, nests) + 1


def evaluate(
    folder: Path,
    embedder: Features,
    *,
    k: int | None,
    k_range: tuple[int, int] = K_RANGE,
    granularity: float = 0.0,
    method: str | None = None,
    min_cluster_size: int | None = None,
    plots: Path | None = None,
    library: Config | None = None,
    leaves: bool = False,
) -> Evaluation:
    """Embed (or reuse) the folder's images, cluster them and score against the labels.

    `method` None is the albums' default; `granularity` applies when k is None (see
    `cluster`) and to the sub-albums; `library` is a config whose catalog may already hold the
    vectors; `leaves` scores each image's deepest album instead of the top level.
    """
    method = method or default_method()
    if method not in methods():
        raise AutoalbumError(f"unknown method {method!r}; use one of: {', '.join(methods())}")
    paths, names = labelled_images(folder)
    embedded = vectors_for(paths, embedder, library)
    if not embedded.readable.any():
        raise AutoalbumError(f"none of the {len(paths)} images under {folder} could be read")
    vectors = embedded.vectors
    kept = [(str(p), n) for p, n, ok in zip(paths, names, embedded.readable, strict=True) if ok]
    classes = sorted({n for _, n in kept})  # a class of only unreadable files is no class
    truth = np.array([classes.index(n) for _, n in kept], dtype=np.int64)
    albums = _cluster(vectors, k, k_range, method, min_cluster_size, granularity)
    found = _leaves(vectors, albums, method, granularity) if leaves else albums.numbers()
    if plots is not None:
        _write_plots(plots, vectors, albums, k_range, kept)
    homogeneity, completeness, v_measure = metrics.homogeneity_completeness_v_measure(truth, found)
    return Evaluation(
        images=len(truth),
        classes=len(classes),
        k=albums.clustering.k,
        method=method,
        noise=int((~albums.clustered).sum()),
        min_cluster_size=albums.min_cluster_size,
        hungarian_accuracy=hungarian_accuracy(truth, found),
        majority_accuracy=majority_accuracy(truth, found),
        homogeneity=float(homogeneity),
        completeness=float(completeness),
        v_measure=float(v_measure),
        nmi=float(metrics.normalized_mutual_info_score(truth, found)),
        ari=float(metrics.adjusted_rand_score(truth, found)),
        silhouette=_silhouette(vectors, found),
        inertia=albums.clustering.inertia,
        images_per_second=embedded.images_per_second,
        embeddings=embedded.source,
        per_class=_per_class(classes, truth, found),
        k_choice=albums.choice,
        assignments=tuple((p, n, int(a)) for (p, n), a in zip(kept, found, strict=True)),
        level="leaves" if leaves else "albums",
        leaves=int(found.max()) if leaves else None,
    )


def _write_plots(
    folder: Path,
    vectors: NDArray[np.float32],
    albums: Albums,
    k_range: tuple[int, int],
    kept: list[tuple[str, str]],
) -> None:
    """elbow.png, map.png, one album-NN.png contact sheet per album and noise.png if any."""
    from autoalbum.evaluation import plots

    folder.mkdir(parents=True, exist_ok=True)
    clustering = albums.clustering
    plots.elbow(vectors, k_range, clustering.k, folder / "elbow.png")
    names = ["noise" if a == NOISE else str(a) for a in albums.numbers()]
    plots.embedding_map(vectors, names, [n for _, n in kept], folder / "map.png")
    inside = np.flatnonzero(albums.clustered)
    for album in range(clustering.k):
        members = np.flatnonzero(clustering.labels == album)
        nearest_first = inside[members[np.argsort(clustering.distances[members], kind="stable")]]
        paths = [Path(kept[i][0]) for i in nearest_first]
        plots.contact_sheet(paths, folder / f"album-{album + 1:02d}.png")
    if not albums.clustered.all():
        noise = [Path(kept[i][0]) for i in np.flatnonzero(~albums.clustered)]
        plots.contact_sheet(noise, folder / "noise.png")


def _album_name(album: int) -> str:
    return "noise" if album == NOISE else str(album)


def _clustering_rows(result: Evaluation) -> list[tuple[str, str]]:
    if result.min_cluster_size is not None:
        share = result.noise / result.images
        return [
            ("albums (k)", f"{result.k} by hdbscan, min cluster size {result.min_cluster_size}"),
            ("noise (album 'noise')", f"{result.noise} images ({share:.1%})"),
        ]
    rows = [("albums (k)", f"{result.k} by {result.method}")]
    if result.k_choice is not None:
        rows.append(("k chosen by", f"{result.k_choice.method} {result.k_choice.score:.3f}"))
    if result.leaves is not None:
        rows.append(("scored", f"{result.leaves} leaves: each image's deepest album"))
    return rows


def format_table(result: Evaluation) -> str:
    """The scores and the per-class breakdown as aligned text."""
    rate = result.images_per_second
    noise = " (noise left out)" if result.noise else ""
    rows = [
        ("images", f"{result.images} in {result.classes} classes"),
        *_clustering_rows(result),
        ("accuracy, one-to-one", f"{result.hungarian_accuracy:.3f}"),
        ("accuracy, majority label", f"{result.majority_accuracy:.3f}"),
        ("homogeneity", f"{result.homogeneity:.3f}"),
        ("completeness", f"{result.completeness:.3f}"),
        ("V-measure", f"{result.v_measure:.3f}"),
        ("NMI", f"{result.nmi:.3f}"),
        ("ARI", f"{result.ari:.3f}"),
        ("silhouette (cosine)", f"{result.silhouette:.3f}{noise}"),
        ("inertia", f"{result.inertia:.1f}{noise}"),
        ("images per second", "not measured" if rate is None else f"{rate:.1f}"),
        ("vectors from", result.embeddings),
    ]
    lines = [f"{name:<26}{value}" for name, value in rows]
    lines.append(f"\n{'class':<24}{'images':>7}  {'mostly in album':>15}  {'share':>6}")
    lines += [
        f"{printable(row.label):<24}{row.size:>7}  {_album_name(row.album):>15}  {row.share:>6.2f}"
        for row in result.per_class
    ]
    return "\n".join(lines)
