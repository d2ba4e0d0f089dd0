"""`autoalbum evaluate`: how well do albums match the labels of a folder of class folders?

Scores one clustering with the usual measures: one-to-one (Hungarian) accuracy, the tutorials'
majority-label accuracy, homogeneity, completeness, V-measure, NMI, ARI, silhouette and
inertia, plus where each class mostly went. Embeddings are cached per folder and model.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sklearn import metrics

from autoalbum.clusters import Clustering, KChoice, Method, cluster, from_labels, silhouette
from autoalbum.embedder import OnnxEmbedder
from autoalbum.errors import AutoalbumError
from autoalbum.model import cache_dir
from autoalbum.pipeline import embed_paths
from autoalbum.scan import find_images

SILHOUETTE_SAMPLE = 4000  # an n x n distance matrix beyond this costs too much memory
METHODS = ("spectral", "kmeans", "minibatch", "agglomerative")


@dataclass(frozen=True)
class ClassRow:
    label: str
    size: int
    album: int  # the album most of the class went to
    share: float  # the fraction of the class in that album


@dataclass(frozen=True)
class Evaluation:
    images: int
    classes: int
    k: int
    method: str
    hungarian_accuracy: float
    majority_accuracy: float
    homogeneity: float
    completeness: float
    v_measure: float
    nmi: float
    ari: float
    silhouette: float
    inertia: float
    images_per_second: float
    per_class: tuple[ClassRow, ...]
    k_choice: KChoice | None
    assignments: tuple[tuple[str, str, int], ...]  # (image path, true label, album number)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


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


def labelled_images(folder: Path) -> tuple[list[Path], list[str]]:
    """Images under `folder`, labelled by their first-level subfolder."""
    paths = [p for p in find_images([folder]) if len(p.relative_to(folder.absolute()).parts) > 1]
    if not paths:
        raise AutoalbumError(
            f"{folder} has no class subfolders with images; evaluate needs FOLDER/<label>/<image>"
        )
    return paths, [p.relative_to(folder.absolute()).parts[0] for p in paths]


def _cache_file(paths: list[Path], embedder: OnnxEmbedder) -> Path:
    digest = hashlib.sha256(embedder.spec.path.name.encode())
    for path in paths:
        info = path.stat()
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return cache_dir() / "evaluate" / f"{digest.hexdigest()[:20]}.npz"


def embed_labelled(
    paths: list[Path], embedder: OnnxEmbedder
) -> tuple[NDArray[np.float32], NDArray[np.bool_], float]:
    """Vectors of the readable images, which ones were readable, and images per second."""
    cache = _cache_file(paths, embedder)
    if cache.is_file():
        stored = np.load(cache)
        return stored["vectors"], stored["readable"], float(stored["rate"])
    started = time.monotonic()
    result = embed_paths(paths, embedder)
    rate = len(paths) / max(time.monotonic() - started, 1e-9)
    readable = np.isin(np.array([str(p) for p in paths]), [str(p) for p in result.paths])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=result.vectors, readable=readable, rate=rate)
    return result.vectors, readable, rate


def _cluster(
    vectors: NDArray[np.float32], k: int | None, k_range: tuple[int, int], method: str
) -> tuple[Clustering, KChoice | None]:
    if method in (Method.SPECTRAL.value, Method.KMEANS.value):
        return cluster(vectors, k, k_range=k_range, method=Method(method))
    chosen, choice = cluster(vectors, k, k_range=k_range, method=Method.KMEANS)
    from sklearn.cluster import AgglomerativeClustering, MiniBatchKMeans

    model = (
        AgglomerativeClustering(chosen.k, linkage="ward")
        if method == "agglomerative"
        else MiniBatchKMeans(chosen.k, random_state=0, n_init=3)
    )
    labels = np.asarray(model.fit_predict(vectors), dtype=np.int64)
    return from_labels(vectors, labels, chosen.k), choice


def evaluate(
    folder: Path,
    embedder: OnnxEmbedder,
    *,
    k: int | None,
    k_range: tuple[int, int] = (2, 40),
    method: str = Method.SPECTRAL.value,
    plots: Path | None = None,
) -> Evaluation:
    """Embed (or reuse) the folder's images, cluster them and score against the labels."""
    paths, names = labelled_images(folder)
    vectors, readable, rate = embed_labelled(paths, embedder)
    kept = [(str(p), n) for p, n, ok in zip(paths, names, readable, strict=True) if ok]
    classes = sorted({n for _, n in kept})  # a class of only unreadable files is no class
    truth = np.array([classes.index(n) for _, n in kept])
    clustering, choice = _cluster(vectors, k, k_range, method)
    found = clustering.labels
    if plots is not None:
        _write_plots(plots, vectors, clustering, k_range, kept)
    per_class = []
    for index, label in enumerate(classes):
        albums = Counter(int(a) for a in found[truth == index])
        album, count = albums.most_common(1)[0] if albums else (-1, 0)
        per_class.append(
            ClassRow(
                label, int((truth == index).sum()), album + 1, count / max(1, sum(albums.values()))
            )
        )
    sample = np.random.default_rng(0).permutation(len(found))[:SILHOUETTE_SAMPLE]
    sampled = vectors[sample]
    distances = np.clip(1.0 - sampled @ sampled.T, 0.0, 2.0).astype(np.float32)
    homogeneity, completeness, v_measure = metrics.homogeneity_completeness_v_measure(truth, found)
    return Evaluation(
        images=len(truth),
        classes=len(classes),
        k=clustering.k,
        method=method,
        hungarian_accuracy=hungarian_accuracy(truth, found),
        majority_accuracy=majority_accuracy(truth, found),
        homogeneity=float(homogeneity),
        completeness=float(completeness),
        v_measure=float(v_measure),
        nmi=float(metrics.normalized_mutual_info_score(truth, found)),
        ari=float(metrics.adjusted_rand_score(truth, found)),
        silhouette=silhouette(distances, found[sample]) if clustering.k > 1 else 0.0,
        inertia=clustering.inertia,
        images_per_second=rate,
        per_class=tuple(per_class),
        k_choice=choice,
        assignments=tuple((p, n, int(a) + 1) for (p, n), a in zip(kept, found, strict=True)),
    )


def _write_plots(
    folder: Path,
    vectors: NDArray[np.float32],
    clustering: Clustering,
    k_range: tuple[int, int],
    kept: list[tuple[str, str]],
) -> None:
    """elbow.png, map.png and one album-NN.png contact sheet per album."""
    from autoalbum import plots

    folder.mkdir(parents=True, exist_ok=True)
    plots.elbow(vectors, k_range, clustering.k, folder / "elbow.png")
    albums = [int(a) + 1 for a in clustering.labels]
    plots.embedding_map(vectors, albums, [n for _, n in kept], folder / "map.png")
    for album in range(clustering.k):
        members = np.flatnonzero(clustering.labels == album)
        nearest_first = members[np.argsort(clustering.distances[members], kind="stable")]
        paths = [Path(kept[i][0]) for i in nearest_first]
        plots.contact_sheet(paths, folder / f"album-{album + 1:02d}.png")


def format_table(result: Evaluation) -> str:
    """The scores and the per-class breakdown as aligned text."""
    rows = [
        ("images", f"{result.images} in {result.classes} classes"),
        ("albums (k)", f"{result.k} by {result.method}"),
        ("accuracy, one-to-one", f"{result.hungarian_accuracy:.3f}"),
        ("accuracy, majority label", f"{result.majority_accuracy:.3f}"),
        ("homogeneity", f"{result.homogeneity:.3f}"),
        ("completeness", f"{result.completeness:.3f}"),
        ("V-measure", f"{result.v_measure:.3f}"),
        ("NMI", f"{result.nmi:.3f}"),
        ("ARI", f"{result.ari:.3f}"),
        ("silhouette (cosine)", f"{result.silhouette:.3f}"),
        ("inertia", f"{result.inertia:.1f}"),
        ("images per second", f"{result.images_per_second:.1f}"),
    ]
    if result.k_choice is not None:
        rows.insert(2, ("k chosen by", f"{result.k_choice.method} {result.k_choice.score:.3f}"))
    lines = [f"{name:<26}{value}" for name, value in rows]
    lines.append(f"\n{'class':<24}{'images':>7}  {'mostly in album':>15}  {'share':>6}")
    lines += [
        f"{row.label:<24}{row.size:>7}  {row.album:>15}  {row.share:>6.2f}"
        for row in result.per_class
    ]
    return "\n".join(lines)
