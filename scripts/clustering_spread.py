"""Measure the spread of every clustering outcome the test suite asserts (a k, an NMI, a split).

A test that asserts one draw of the clustering's noise breaks when a library update moves that
draw. So each scenario below recomputes what one test asserts over draws: algorithm seeds 0..4
where the API takes a seed; other data where the test's data is synthetic (data seed 0 is the
test's own); and four versions of the rows: as they are, in a random order (labels put back in
the original order before they are compared), through a float16 round trip, and with uniform
noise of +-1e-3 added (rows renormalised). Tests that run real photos through the model are
measured on the model's vectors, computed once; the album tree tests (sort, the library) run
for real with a stand-in model that hands out those vectors, jittered, and take their photo
order from shuffled file names.

    .venv/bin/python scripts/clustering_spread.py [--only NAME ...] [--list] [--verbose]

--only keeps the scenarios whose name contains NAME (--only digits --only granularity runs
those two groups). Each scenario prints the test it measures, the number of draws and, per
asserted quantity, its range and distribution; the tests quote these next to their
assertions. Expensive scenarios take fewer draws, cycling through data seeds, seeds and row
versions together. All of them: about 7 minutes of CPU, 8-13 on two busy cores.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import hashlib
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
# The tests' own data builders come from tests/, so that data 0 is what each test clusters.
sys.path[:0] = [str(ROOT / "daemon"), str(ROOT / "tests")]

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score as nmi  # noqa: E402

import colour_library  # noqa: E402
import test_evaluate  # noqa: E402
import test_granularity  # noqa: E402
import test_names  # noqa: E402
import test_spectral  # noqa: E402
import test_stability  # noqa: E402
from autoalbum.albums.names import album_names  # noqa: E402
from autoalbum.albums.sorter import SortOptions, sort_photos  # noqa: E402
from autoalbum.clustering import kmeans as kmeans_module  # noqa: E402
from autoalbum.clustering import spectral  # noqa: E402
from autoalbum.clustering.choose_k import choose_k  # noqa: E402
from autoalbum.clustering.cluster import K_RANGE, Method, cluster  # noqa: E402
from autoalbum.clustering.granularity import choose_albums  # noqa: E402
from autoalbum.clustering.kmeans import Clustering, kmeans  # noqa: E402
from autoalbum.config import ClusterConfig, Config, LibraryConfig  # noqa: E402
from autoalbum.embedding.embedder import (  # noqa: E402
    Device,
    Embedder,
    Embeddings,
    OnnxEmbedder,
    bundled_model_spec,
    normalise,
)
from autoalbum.embedding.features import HsvEmbedder, PixelEmbedder  # noqa: E402
from autoalbum.embedding.pipeline import embed_paths  # noqa: E402
from autoalbum.evaluation.evaluate import _cluster, _sklearn_labels, hungarian_accuracy  # noqa: E402
from autoalbum.evaluation.labelled import labelled_images  # noqa: E402
from autoalbum.library.codes import Codes  # noqa: E402
from autoalbum.library.library import Library  # noqa: E402
from autoalbum.samples import write_sample_photos  # noqa: E402
from blobs import SIZES, sphere_blobs, unit  # noqa: E402
from test_codes import _clustered  # noqa: E402

Matrix = NDArray[np.float32]
Labels = NDArray[np.int64]
Value = bool | int | float | str
Outcome = dict[str, Value]
CHANGES = ("as is", "order", "float16", "noise")
NOISE = 1e-3


@dataclass(frozen=True)
class Draw:
    data: int  # 0: the test's own data; others: the same recipe with another seed
    seed: int  # the clustering's seed
    change: str  # one of CHANGES
    rng: np.random.Generator  # for the change's permutation or noise


@dataclass(frozen=True)
class Rows:
    """Rows after a change; row i is row order[i] of the original."""

    x: Matrix
    order: Labels

    def back(self, labels: Labels) -> Labels:
        """Per-row values of the changed rows, put back in the original rows' order."""
        restored = np.empty_like(labels)
        restored[self.order] = labels
        return restored


def jitter(x: Matrix, change: str, rng: np.random.Generator) -> Matrix:
    """The rows' values after a float16 round trip or +-NOISE; unchanged otherwise."""
    if change == "float16":
        return normalise(x.astype(np.float16).astype(np.float32))
    if change == "noise":
        return normalise((x + rng.uniform(-NOISE, NOISE, x.shape)).astype(np.float32))
    return np.ascontiguousarray(x, dtype=np.float32)


def changed(x: Matrix, draw: Draw) -> Rows:
    """The rows as the draw changes them: values jittered or rows shuffled."""
    order = draw.rng.permutation(len(x)) if draw.change == "order" else np.arange(len(x))
    return Rows(np.ascontiguousarray(jitter(x, draw.change, draw.rng)[order]), order)


@dataclass(frozen=True)
class Scenario:
    name: str
    measure: Callable[[Draw], Outcome]  # its docstring names the test(s) it measures
    data: int = 1  # data seeds; 1 where the data is real
    seeds: int = 5  # clustering seeds; 1 where the API takes none
    draws: int | None = None  # None: every combination; else this many, cycling through each

    def grid(self) -> Iterator[Draw]:
        combos: list[tuple[int, int, str]]
        if self.draws is None:
            combos = list(itertools.product(range(self.data), range(self.seeds), CHANGES))
        else:
            combos = [(i % self.data, i % self.seeds, CHANGES[i % 4]) for i in range(self.draws)]
        for data, seed, change in combos:
            key = [zlib.crc32(self.name.encode()), data, seed, CHANGES.index(change)]
            yield Draw(data, seed, change, np.random.default_rng(key))


@contextmanager
def patched(module: ModuleType, name: str, value: object) -> Iterator[None]:
    """A module constant set for a while, as the tests' monkeypatch does."""
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


@functools.cache
def scratch() -> Path:
    """A folder for photos and libraries, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="clustering-spread-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def same_partition(a: Labels, b: Labels) -> bool:
    return bool(abs(nmi(a, b) - 1.0) < 1e-6)


def scores(truth: Labels, found: Labels) -> Outcome:
    """evaluate's one-to-one accuracy and NMI."""
    return {"accuracy": hungarian_accuracy(truth, found), "nmi": float(nmi(truth, found))}


def whole(labels: Labels, truth: Labels) -> bool:
    """Whether every true group lies in one cluster."""
    return all(len(np.unique(labels[truth == t])) == 1 for t in np.unique(truth))


# --- synthetic blobs: test_spectral, test_choose_k, test_cluster, test_kmeans, test_codes ---


@functools.cache
def digits() -> tuple[Matrix, Labels]:
    data = load_digits()
    return unit(data.data.astype(np.float64)), data.target.astype(np.int64)


def eigengap_vote(draw: Draw) -> Outcome:
    """test_spectral.py::test_eigengap_vote_finds_the_blobs"""
    x, _ = test_spectral._blobs((120, 100, 90, 80, 70), seed=1 + draw.data)
    rows = changed(x, draw)
    features = spectral.fit_whitening(rows.x, draw.seed)(rows.x)
    k, shares = spectral.eigengap_vote(features, 2, 20, draw.seed)
    return {"k": k, "share of 5": shares.get(5, 0.0)}


def digits_auto_k(draw: Draw) -> Outcome:
    """test_spectral.py::test_auto_k_on_digits_is_near_ten_and_beats_kmeans"""
    rows = changed(digits()[0], draw)
    found, choice = cluster(rows.x, None, k_range=(2, 40), method=Method.SPECTRAL, seed=draw.seed)
    assert choice is not None
    return {"k": choice.k, "found.k == choice.k": found.k == choice.k}


def digits_nmi_margin(draw: Draw) -> Outcome:
    """test_spectral.py::test_auto_k_on_digits_is_near_ten_and_beats_kmeans"""
    x, truth = digits()
    rows = changed(x, draw)
    ours = cluster(rows.x, 10, method=Method.SPECTRAL, seed=draw.seed)[0]
    plain = cluster(rows.x, 10, method=Method.KMEANS, seed=draw.seed)[0]
    spectral_nmi = float(nmi(truth, rows.back(ours.labels)))
    kmeans_nmi = float(nmi(truth, rows.back(plain.labels)))
    return {"margin": spectral_nmi - kmeans_nmi, "spectral": spectral_nmi, "kmeans": kmeans_nmi}


def spectral_refinement(draw: Draw) -> Outcome:
    """test_spectral.py::test_refinement_assigns_vectors_outside_the_sample"""
    x, truth = test_spectral._blobs((500, 400, 300), seed=2 + draw.data)
    rows = changed(x, draw)
    with patched(spectral, "SPECTRAL_SAMPLE", 300):
        labels = rows.back(spectral.spectral(rows.x, 3, seed=draw.seed).labels)
    sizes = np.bincount(labels).tolist() == [500, 400, 300]
    return {"same partition": same_partition(truth, labels), "numbered by size": sizes}


def spectral_blobs(draw: Draw) -> Outcome:
    """test_spectral.py::test_spectral_recovers_blobs_with_centres_in_embedding_space"""
    x, truth = sphere_blobs((150, 120, 90), dim=256, spread=1.2, seed=3 + draw.data)
    rows = changed(x, draw)
    labels = rows.back(spectral.spectral(rows.x, 3, seed=draw.seed).labels)
    return {"labels == blobs by size": bool(np.array_equal(labels, truth))}


def choose_k_blobs(draw: Draw) -> Outcome:
    """test_choose_k.py::test_choose_k_finds_four_blobs"""
    rows = changed(sphere_blobs(SIZES, seed=draw.data)[0], draw)
    return {"k": choose_k(rows.x, seed=draw.seed).k}


def choose_k_tiny(draw: Draw) -> Outcome:
    """test_choose_k.py::test_choose_k_bounds_k_by_the_number_of_images"""
    rows = changed(sphere_blobs((3, 2), dim=32, seed=draw.data)[0], draw)
    choice = choose_k(rows.x, 2, 20, seed=draw.seed)
    return {"k": choice.k, "method": choice.method}


def choose_k_digits(draw: Draw) -> Outcome:
    """test_choose_k.py::test_choose_k_on_digits_is_near_ten_classes"""
    return {"k": choose_k(changed(digits()[0], draw).x, seed=draw.seed).k}


def kmeans_auto(draw: Draw) -> Outcome:
    """test_cluster.py::test_cluster_reuses_the_chosen_fit"""
    x, truth = sphere_blobs(SIZES, seed=draw.data)
    rows = changed(x, draw)
    found, choice = cluster(rows.x, None, k_range=(2, 8), method=Method.KMEANS, seed=draw.seed)
    assert choice is not None
    labels = rows.back(found.labels)
    exact = bool(np.array_equal(labels, truth))
    return {
        "k": choice.k,
        "found.k == choice.k": found.k == choice.k,
        "labels == blobs by size": exact,
        "blobs whole": whole(labels, truth),
    }


def kmeans_blobs(draw: Draw) -> Outcome:
    """test_kmeans.py::test_kmeans_recovers_blobs_numbered_by_size and
    test_use_gpu_falls_back_to_the_cpu_build"""
    x, truth = sphere_blobs(SIZES, seed=draw.data)
    rows = changed(x, draw)
    found = kmeans(rows.x, 4, seed=draw.seed)
    exact = bool(np.array_equal(rows.back(found.labels), truth))
    return {"k": found.k, "labels == blobs by size": exact}


def kmeans_equal_sizes(draw: Draw) -> Outcome:
    """test_kmeans.py::test_equal_sizes_number_albums_by_first_member"""
    x, truth = sphere_blobs((15, 15, 15), seed=3 + draw.data)
    rows = changed(x, draw)
    shown = truth[rows.order]  # ties are numbered by first member in the order clustered
    first_seen = list(dict.fromkeys(shown.tolist()))
    expected = np.array([first_seen.index(t) for t in shown])
    found = kmeans(rows.x, 3, seed=draw.seed).labels
    return {"numbered by first member": bool(np.array_equal(found, expected))}


def kmeans_few_points(draw: Draw) -> Outcome:
    """test_kmeans.py::test_kmeans_on_few_points_prints_no_faiss_warning"""
    x, truth = sphere_blobs((3, 3, 2), dim=64, seed=draw.data)
    rows = changed(x, draw)
    found = kmeans(rows.x, 3, seed=draw.seed)
    sizes = " ".join(map(str, sorted(np.bincount(found.labels).tolist())))
    return {"k": found.k, "sizes": sizes, "nmi": float(nmi(truth, rows.back(found.labels)))}


def codes_auto(draw: Draw) -> Outcome:
    """test_codes.py::test_clustering_codes_gives_the_albums_of_the_float32_vectors"""
    rows = changed(_clustered(1500, 128, 8, seed=2 + draw.data), draw)
    dense, _ = cluster(rows.x, None, seed=draw.seed)
    coded, _ = cluster(Codes.of(np.arange(len(rows.x)), rows.x), None, seed=draw.seed)
    return {
        "dense k": dense.k,
        "coded.k == dense.k": coded.k == dense.k,
        "nmi": float(nmi(dense.labels, coded.labels)),
        "max distance gap": float(np.abs(coded.distances - dense.distances).max()),
    }


def codes_sampled(draw: Draw) -> Outcome:
    """test_codes.py::test_kmeans_over_many_rows_trains_on_a_sample"""
    rows = changed(_clustered(3000, 64, 6, seed=3 + draw.data), draw)
    full = kmeans(rows.x, 6, seed=draw.seed)
    with patched(kmeans_module, "KMEANS_SAMPLE", 1000):
        sampled = kmeans(Codes.of(np.arange(len(rows.x)), rows.x), 6, seed=draw.seed)
    return {"nmi": float(nmi(full.labels, sampled.labels))}


# --- test_granularity: the split test, and the knob through sort and the library ---


def separated_blobs(draw: Draw) -> Outcome:
    """test_granularity.py::test_separated_blobs_of_unequal_density_each_get_an_album"""
    spreads = [0.4, 0.7, 0.5, 0.9]
    x, truth = test_granularity._blobs([400, 250, 120, 80], spreads, seed=draw.data)
    rows = changed(x, draw)
    found, choice = choose_albums(rows.x, k_range=(1, 60), seed=draw.seed)
    return {
        "k": found.k,
        "choice.k": choice.k,
        "blobs whole": whole(rows.back(found.labels), truth),
    }


def diffuse_blob(draw: Draw) -> Outcome:
    """test_granularity.py::test_one_diffuse_blob_is_not_split"""
    rows = changed(test_granularity._blobs([800], [1.5], seed=draw.data)[0], draw)
    return {"k": choose_albums(rows.x, k_range=(1, 60), seed=draw.seed)[0].k}


def k_range(draw: Draw) -> Outcome:
    """test_granularity.py::test_k_range_is_respected"""
    six = changed(test_granularity._blobs([100] * 6, [0.5] * 6, seed=1 + draw.data)[0], draw)
    one = changed(test_granularity._blobs([600], [1.5], seed=draw.data)[0], draw)
    return {
        "k of six in 1..3": choose_albums(six.x, k_range=(1, 3), seed=draw.seed)[0].k,
        "k of one in 2..60": choose_albums(one.x, k_range=(2, 60), seed=draw.seed)[0].k,
    }


def monotone(draw: Draw) -> Outcome:
    """test_granularity.py::test_granularity_is_monotone"""
    spreads = [0.9, 1.1, 1.0, 1.3, 1.2]
    x, _ = test_granularity._blobs([300, 300, 150, 150, 100], spreads, seed=2 + draw.data)
    rows = changed(x, draw)
    steps = (-2, -1, 0, 1, 2)
    ks = [choose_albums(rows.x, granularity=g, k_range=(1, 60), seed=draw.seed)[0].k for g in steps]
    return {
        "monotone": ks == sorted(ks),
        **{f"k at {g:+d}": k for g, k in zip(steps, ks, strict=True)},
    }


def coarser_finer(draw: Draw) -> Outcome:
    """test_granularity.py::test_coarser_and_finer_reach_the_clustering"""
    rows = changed(test_granularity._kinds_of_kinds(seed=draw.data), draw)
    coarser = cluster(rows.x, None, granularity=-1, seed=draw.seed)[0].k
    finer = cluster(rows.x, None, granularity=1, seed=draw.seed)[0].k
    return {"coarser": coarser, "finer": finer, "finer > coarser": finer > coarser}


@functools.cache
def indexed_photos() -> Path:
    """The 300 photos that test_granularity's IndexedEmbedder maps to rows."""
    return test_granularity._indexed_photos(scratch() / "indexed", 300)


def sort_granularity(draw: Draw) -> Outcome:
    """test_granularity.py::test_sort_takes_the_granularity"""
    model = test_granularity.IndexedEmbedder(
        changed(test_granularity._kinds_of_kinds(draw.data), draw).x
    )
    out = Path(tempfile.mkdtemp(dir=scratch()))
    albums = {}
    for level, steps in (("coarser", -1.0), ("finer", 1.0)):
        options = SortOptions(granularity=steps, seed=draw.seed)
        albums[level] = len(sort_photos([indexed_photos()], out / level, model, options).albums)
    shutil.rmtree(out)
    return {**albums, "finer > coarser": albums["finer"] > albums["coarser"]}


def library_granularity(draw: Draw) -> Outcome:
    """test_granularity.py::test_config_and_recluster_flag_take_the_granularity"""
    model = test_granularity.IndexedEmbedder(
        changed(test_granularity._kinds_of_kinds(draw.data), draw).x
    )
    root = Path(tempfile.mkdtemp(dir=scratch()))
    config = Config(
        LibraryConfig((indexed_photos(),), root / "albums", root / "state"),
        cluster=ClusterConfig(granularity="finer", seed=draw.seed),
    )
    with Library(config, lambda: model) as library:
        library.index_files()
        finer = len(library.catalog.albums())
    coarse = replace(config, cluster=replace(config.cluster, granularity="coarser"))
    with Library(coarse, lambda: model) as library:
        library.recluster()
        coarser = len(library.catalog.albums())
    shutil.rmtree(root)
    return {"coarser": coarser, "finer": finer, "finer > coarser": finer > coarser}


# --- the real model's vectors: test_evaluate, test_sorter, test_names ---


@functools.cache
def model() -> OnnxEmbedder:
    os.environ.setdefault("AUTOALBUM_CACHE", str(scratch() / "models"))
    return OnnxEmbedder(bundled_model_spec(), Device.CPU)


@dataclass(frozen=True)
class Photos:
    vectors: Matrix
    classes: Labels  # ImageNet top-1 of each photo
    kinds: NDArray[np.str_]  # each photo's folder name

    def subset(self, kinds: tuple[str, ...]) -> Photos:
        keep = np.isin(self.kinds, kinds)
        return Photos(self.vectors[keep], self.classes[keep], self.kinds[keep])


def embedded(paths: list[Path], embedder: Embedder) -> Photos:
    result = embed_paths(paths, embedder)
    classes = result.top_classes if result.top_classes is not None else np.zeros(len(paths))
    kinds = np.array([p.parent.name for p in result.paths])
    return Photos(result.vectors, classes.astype(np.int64), kinds)


@functools.cache
def samples() -> Photos:
    """The real model's view of the five sample subjects, six photos each."""
    return embedded(write_sample_photos(scratch() / "samples"), model())


def albums_of(photos: Photos, found: Clustering, rows: Rows) -> Outcome:
    """Whether each album holds one kind of photo, and the albums' sizes."""
    kinds = photos.kinds[rows.order]
    pure = all(len(set(kinds[found.labels == a])) == 1 for a in range(found.k))
    sizes = sorted(np.bincount(found.labels).tolist())
    return {"one kind an album": pure, "sizes": " ".join(map(str, sizes))}


def evaluate_kmeans(draw: Draw) -> Outcome:
    """test_evaluate.py::test_accuracy_matches_an_independent_count[kmeans], and the accuracy
    1.000 of the tests that reuse the catalog or run the CLI"""
    photos = samples()
    truth = np.unique(photos.kinds, return_inverse=True)[1]
    rows = changed(photos.vectors, draw)
    found = rows.back(cluster(rows.x, 5, method=Method.KMEANS, seed=draw.seed)[0].labels)
    first = float(np.bincount(found[truth == 0]).max() / np.sum(truth == 0))
    return {**scores(truth, found), "first class's share": first}


def evaluate_agglomerative(draw: Draw) -> Outcome:
    """test_evaluate.py::test_accuracy_matches_an_independent_count[agglomerative]"""
    photos = samples()
    truth = np.unique(photos.kinds, return_inverse=True)[1]
    rows = changed(photos.vectors, draw)
    return scores(truth, rows.back(_sklearn_labels(rows.x, 5, "agglomerative")))


def album_labels(found: Clustering, classes: NDArray[np.int64]) -> list[str]:
    """Each album's name from its photos' top-1 classes, as `sort` names albums without faces."""
    return album_names(
        [Counter(int(c) for c in classes[found.labels == a]) for a in range(found.k)]
    )


def sort_k3(draw: Draw) -> Outcome:
    """test_sorter.py::test_sort_makes_named_albums"""
    photos = samples().subset(("chelsea", "coffee", "rocket"))
    rows = changed(photos.vectors, draw)
    found = cluster(rows.x, 3, seed=draw.seed)[0]
    names = album_labels(found, photos.classes[rows.order])
    kinds = photos.kinds[rows.order]
    named = {kinds[found.labels == a][0]: name for a, name in enumerate(names)}
    expected = named.get("chelsea") == "Egyptian cat" and named.get("coffee") == "espresso"
    return {**albums_of(photos, found, rows), "names": expected}


def sort_auto_k(draw: Draw) -> Outcome:
    """test_sorter.py::test_auto_k_keeps_subjects_apart"""
    photos = samples()
    rows = changed(photos.vectors, draw)
    found, choice = cluster(rows.x, None, seed=draw.seed)
    assert choice is not None
    return {"k": choice.k, **albums_of(photos, found, rows)}


def names_codes(draw: Draw) -> Outcome:
    """test_names.py::test_sort_and_the_library_name_the_same_photos_alike"""
    photos = samples().subset(("chelsea", "coffee", "astronaut", "rocket"))
    rows = changed(photos.vectors, draw)
    dense = cluster(rows.x, 4, seed=draw.seed)[0]
    coded = cluster(Codes.of(np.arange(len(rows.x)), rows.x), 4, seed=draw.seed)[0]
    top = photos.classes[rows.order]
    names = set(album_labels(dense, top)) == set(album_labels(coded, top))
    return {"same albums": same_partition(dense.labels, coded.labels), "same names": names}


@functools.cache
def catsdogs(data: int) -> Photos:
    """40 cats and 40 dogs: for data 0 the first of each by name (the test's), else random."""
    rng = np.random.default_rng(data)
    paths: list[Path] = []
    for kind in ("cat", "dog"):
        files = sorted((test_names.CATSDOGS / kind).iterdir())
        picked = rng.choice(len(files), 40, replace=False) if data else np.arange(40)
        paths += [files[i] for i in sorted(picked)]
    return embedded(paths, model())


def cats_and_dogs(draw: Draw) -> Outcome:
    """test_names.py::test_sort_names_cats_and_dogs"""
    photos = catsdogs(draw.data)
    rows = changed(photos.vectors, draw)
    found = cluster(rows.x, 2, seed=draw.seed)[0]
    names = album_labels(found, photos.classes[rows.order])
    kinds = photos.kinds[rows.order]
    shares = [float(np.mean(kinds[found.labels == a] == n)) for a, n in enumerate(names)]
    return {"names": " ".join(sorted(names)), "own kind's share": min(shares)}


# --- stand-in embedders on colour photos: test_evaluate, test_library ---


@functools.cache
def colour_vectors(kind: str, data: int, embedder: str) -> tuple[Matrix, Labels, list[str]]:
    """Vectors of a set's photos, their true classes and the classes' names."""
    paths, names = labelled_images(colour_set(kind, data))
    classes, truth = np.unique(names, return_inverse=True)
    vectors = embed_paths(paths, EMBEDDERS[embedder]).vectors
    return vectors, truth.astype(np.int64), classes.tolist()


EMBEDDERS: dict[str, Embedder] = {
    "hsv": HsvEmbedder(),
    "pixels": PixelEmbedder(),
    "pixels 16 grey": PixelEmbedder(16, grey=True),  # as the CLI test runs it
}


@functools.cache
def colour_set(kind: str, data: int) -> Path:
    """test_evaluate's photos of one kind, data 0 from the test's own seed."""
    builders = {
        "colours": (test_evaluate._colour_classes, 7),
        "bars": (test_evaluate._bars, 3),
        "odd": (test_evaluate._with_odd_ones, 11),
    }
    build, seed = builders[kind]
    return build(scratch() / f"{kind}-{data}", np.random.default_rng(seed + data))


def kmeans_scores(x: Matrix, truth: Labels, k: int, draw: Draw) -> Outcome:
    rows = changed(x, draw)
    found = cluster(rows.x, k, method=Method.KMEANS, seed=draw.seed)[0]
    return scores(truth, rows.back(found.labels))


def hsv_colours(draw: Draw) -> Outcome:
    """test_evaluate.py::test_hsv_separates_colours"""
    x, truth, _ = colour_vectors("colours", draw.data, "hsv")
    return kmeans_scores(x, truth, 3, draw)


def bars(draw: Draw) -> Outcome:
    """test_evaluate.py::test_pixels_separate_shapes_that_hsv_cannot and
    test_pixels_and_hsv_from_the_command_line"""
    outcome: Outcome = {}
    for embedder in EMBEDDERS:
        x, truth, _ = colour_vectors("bars", draw.data, embedder)
        outcome[f"{embedder} accuracy"] = kmeans_scores(x, truth, 2, draw)["accuracy"]
    return outcome


def hdbscan(draw: Draw) -> Outcome:
    """test_evaluate.py::test_hdbscan_finds_k_and_leaves_the_odd_ones_as_noise"""
    x, truth, classes = colour_vectors("odd", draw.data, "hsv")
    rows = changed(x, draw)
    albums = _cluster(rows.x, None, K_RANGE, "hdbscan", None)
    found = rows.back(albums.numbers())
    noise = int((~albums.clustered).sum())
    return {
        "(k, noise, min size)": f"{albums.clustering.k, noise, albums.min_cluster_size}",
        "odd ones are noise": bool(np.all(found[truth == classes.index("odd")] == 0)),
        "accuracy": hungarian_accuracy(truth, found),
    }


class Jittered:
    """test_library's stand-in model, its vectors changed as the draw says."""

    input_size = colour_library.ColourEmbedder.input_size

    def __init__(self, draw: Draw) -> None:
        self.inner, self.draw = colour_library.ColourEmbedder(), draw

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        vectors = self.inner.embed(images).vectors
        return Embeddings(jitter(vectors, self.draw.change, self.draw.rng), None, None)


def colour_photos(root: Path, draw: Draw) -> None:
    """colour_library.colour_photos, from other seeds for data > 0; for an "order" draw all
    in one folder, named in a random order."""
    ranks = iter(draw.rng.permutation(12))
    for i in range(6):
        for colour, seed, folder in (("red", i, ""), ("blue", 100 + i, "blue/")):
            name = f"{folder}{colour}{i}.png"
            if draw.change == "order":
                name = f"{next(ranks):02d}-{colour}{i}.png"
            colour_library.photo(root / "photos" / name, colour, seed + 1000 * draw.data)


def library_colours(draw: Draw) -> Outcome:
    """test_library.py::test_first_index_embeds_and_files_albums"""
    root = Path(tempfile.mkdtemp(dir=scratch()))
    colour_photos(root, draw)
    config = colour_library.config(root)
    config = replace(config, cluster=replace(config.cluster, seed=draw.seed))
    model = Jittered(draw)
    with Library(config, lambda: model) as library:
        library.index_files()
    albums = colour_library.links(root)
    shutil.rmtree(root)
    pure = all(len({"red" in name for name in names.split()}) == 1 for names in albums.values())
    return {"albums": len(albums), "one colour an album": pure}


# --- test_stability: the real model's vectors of flowers17, through the library ---


def key(image: NDArray[np.uint8]) -> bytes:
    return hashlib.blake2b(image.tobytes(), digest_size=16).digest()


@dataclass(frozen=True)
class Cached:
    """A stand-in model that hands out what the real one made of each decoded image."""

    input_size: int
    rows: dict[bytes, int]
    vectors: Matrix
    classes: Labels
    probs: NDArray[np.float32]

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        picked = np.array([self.rows[key(image)] for image in images], dtype=np.int64)
        return Embeddings(self.vectors[picked], self.classes[picked], self.probs[picked])


class Recorder:
    """The real model, remembering which image each row of its output came from."""

    def __init__(self, inner: OnnxEmbedder) -> None:
        self.inner, self.input_size = inner, inner.input_size
        self.rows: dict[bytes, int] = {}
        self.out: list[Embeddings] = []

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        start = sum(len(e.vectors) for e in self.out)
        self.rows.update((key(image), start + i) for i, image in enumerate(images))
        self.out.append(self.inner.embed(images))
        return self.out[-1]

    def cached(self) -> Cached:
        vectors = np.concatenate([e.vectors for e in self.out])
        classes = np.concatenate([e.top_classes for e in self.out if e.top_classes is not None])
        probs = np.concatenate([e.top_probs for e in self.out if e.top_probs is not None])
        return Cached(self.input_size, self.rows, vectors, classes, probs)


@functools.cache
def flowers() -> tuple[list[Path], Cached]:
    """test_stability's photos, and the real model's vectors of them."""
    kinds = test_stability.KINDS
    photos = sorted(p for kind in kinds for p in (test_stability.FLOWERS / kind).iterdir())
    recorder = Recorder(model())
    embed_paths(photos, recorder)
    return photos, recorder.cached()


def flower_folders(
    root: Path, photos: list[Path], draw: Draw
) -> tuple[tuple[Path, ...], list[str]]:
    """The test's folders and each photo's name in them; for an "order" draw, copies in one
    folder, named in a random order."""
    if draw.change != "order":
        kinds = test_stability.KINDS
        return tuple(test_stability.FLOWERS / kind for kind in kinds), [p.name for p in photos]
    folder = root / "photos"
    folder.mkdir()
    ranks = draw.rng.permutation(len(photos))
    names = [f"{rank:03d}-{photo.name}" for rank, photo in zip(ranks, photos, strict=True)]
    for photo, name in zip(photos, names, strict=True):
        shutil.copyfile(photo, folder / name)
    return (folder,), names


def stability(draw: Draw) -> Outcome:
    """test_stability.py::test_five_percent_more_photos_keep_albums"""
    photos, cached = flowers()
    root = Path(tempfile.mkdtemp(dir=scratch()))
    folders, names = flower_folders(root, photos, draw)
    held_out = tuple(names[draw.data :: 20])  # data 0: the test's photos[::20]
    model = replace(cached, vectors=jitter(cached.vectors, draw.change, draw.rng))
    albums = []
    for ignore in (held_out, ()):
        config = test_stability._config(root, ignore)
        config = replace(
            config,
            library=replace(config.library, folders=folders),
            cluster=replace(config.cluster, seed=draw.seed),
        )
        with Library(config, lambda: model) as library:
            library.index_files()
            library.recluster()
            albums.append(test_stability._album_names(library))
    shutil.rmtree(root)
    before, after = albums
    kept = sum(after.get(path) == name for path, name in before.items()) / len(before)
    return {
        "kept": kept,
        "albums before": len(set(before.values())),
        "after": len(set(after.values())),
    }


# --- the scenarios and their report ---

SCENARIOS = (
    Scenario("eigengap-vote", eigengap_vote, data=2),
    Scenario("digits-auto-k", digits_auto_k),
    Scenario("digits-nmi-margin", digits_nmi_margin, draws=12),
    Scenario("spectral-refinement", spectral_refinement, data=2, draws=8),
    Scenario("spectral-blobs", spectral_blobs, data=3, draws=8),
    Scenario("choose-k-blobs", choose_k_blobs, data=3, draws=30),
    Scenario("choose-k-tiny", choose_k_tiny, data=5),
    Scenario("choose-k-digits", choose_k_digits, draws=8),
    Scenario("kmeans-auto", kmeans_auto, data=3, draws=30),
    Scenario("kmeans-blobs", kmeans_blobs, data=3),
    Scenario("kmeans-equal-sizes", kmeans_equal_sizes, data=3),
    Scenario("kmeans-few-points", kmeans_few_points, data=5, seeds=10),
    Scenario("codes-auto", codes_auto, data=2, draws=8),
    Scenario("codes-sampled", codes_sampled, data=2),
    Scenario("granularity-separated", separated_blobs, data=3, draws=12),
    Scenario("granularity-diffuse", diffuse_blob, data=3, draws=8),
    Scenario("granularity-k-range", k_range, data=3, draws=4),
    Scenario("granularity-monotone", monotone, data=2, draws=4),
    Scenario("granularity-coarser-finer", coarser_finer, data=3, draws=24),
    Scenario("granularity-sort", sort_granularity, data=2, draws=6),
    Scenario("granularity-library", library_granularity, data=2, draws=6),
    Scenario("evaluate-kmeans", evaluate_kmeans, seeds=10),
    Scenario("evaluate-agglomerative", evaluate_agglomerative, seeds=1),
    Scenario("evaluate-hsv", hsv_colours, data=3),
    Scenario("evaluate-bars", bars, data=3),
    Scenario("evaluate-hdbscan", hdbscan, data=5, seeds=1),
    Scenario("sort-k3", sort_k3, seeds=10),
    Scenario("sort-auto-k", sort_auto_k, draws=12),
    Scenario("names-codes", names_codes, seeds=10),
    Scenario("names-catsdogs", cats_and_dogs, data=3),
    Scenario("library-colours", library_colours, data=3, draws=24),
    Scenario("stability-flowers17", stability, data=2, draws=6),
)


def spread(values: list[Value]) -> str:
    """Range and distribution of one quantity over the draws."""
    if all(isinstance(v, bool) for v in values):
        return f"true in {sum(bool(v) for v in values)}/{len(values)}"
    if all(isinstance(v, int) for v in values):
        counts = Counter(int(v) for v in values)
        shown = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items()))
        return f"{min(counts)}-{max(counts)}  ({shown})"
    if all(isinstance(v, int | float) for v in values):
        floats = sorted(float(v) for v in values)
        low, median = floats[len(floats) // 10], statistics.median(floats)
        return f"{floats[0]:.4f} to {floats[-1]:.4f}, tenth {low:.4f}, median {median:.4f}"
    return ", ".join(f"{v}: {n}" for v, n in Counter(str(v) for v in values).most_common())


def run(scenario: Scenario, verbose: bool) -> None:
    started = time.monotonic()
    outcomes = []
    for draw in scenario.grid():
        outcomes.append(scenario.measure(draw))
        if verbose:
            print(
                f"    data {draw.data} seed {draw.seed} {draw.change}: {outcomes[-1]}", flush=True
            )
    took = time.monotonic() - started
    print(f"{scenario.name}: {len(outcomes)} draws, {took:.0f} s  ({scenario.measure.__doc__})")
    for name in outcomes[0]:
        print(f"  {name}: {spread([o[name] for o in outcomes])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    parser.add_argument("--list", action="store_true", help="name the scenarios and stop")
    parser.add_argument("--verbose", action="store_true", help="print every draw's outcome")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or any(n in s.name for n in args.only)]
    if not chosen:
        parser.error(f"no scenario matches {args.only}; --list names them")
    for scenario in chosen:
        if args.list:
            print(f"{scenario.name}: {scenario.measure.__doc__}")
        else:
            run(scenario, args.verbose)


if __name__ == "__main__":
    main()
