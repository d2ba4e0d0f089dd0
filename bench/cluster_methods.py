"""Which clustering works best on Lite0 embeddings? Every labelled set, several methods.

Embeds each set in ../shared/datasets once (cached under ~/.cache/autoalbum/bench/), then
clusters at k = number of classes with several seeds and prints mean NMI and one-to-one
(Hungarian) accuracy per method, and the k that automatic selection chooses.

    .venv/bin/python bench/cluster_methods.py [--datasets ../shared/datasets] [--seeds 3]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import normalized_mutual_info_score

from autoalbum.clusters import (
    PCA_DIMENSIONS,
    WHITEN_POWER,
    _partially_whitened,
    choose_k,
    kmeans,
    spectral,
)
from autoalbum.embedder import Device, OnnxEmbedder, bundled_model_spec
from autoalbum.model import cache_dir
from autoalbum.pipeline import embed_paths
from autoalbum.scan import find_images

DEFAULT_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
Labels = NDArray[np.int64]


def embedded_set(folder: Path, embedder: OnnxEmbedder) -> tuple[NDArray[np.float32], Labels]:
    cache = cache_dir() / "bench" / f"{folder.name}.npz"
    if cache.is_file():
        stored = np.load(cache)
        return stored["vectors"], stored["labels"]
    result = embed_paths(find_images([folder]), embedder)
    names = [path.relative_to(folder).parts[0] for path in result.paths]
    labels = np.unique(names, return_inverse=True)[1].astype(np.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=result.vectors, labels=labels)
    return result.vectors, labels


def accuracy(truth: Labels, found: Labels) -> float:
    counts = np.zeros((found.max() + 1, truth.max() + 1))
    np.add.at(counts, (found, truth), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(truth))


def methods(k: int) -> dict[str, Callable[[NDArray[np.float32], int], Labels]]:
    def whitened_kmeans(x: NDArray[np.float32], seed: int) -> Labels:
        return kmeans(_partially_whitened(x, PCA_DIMENSIONS, WHITEN_POWER), k, seed=seed).labels

    def fully_whitened_kmeans(x: NDArray[np.float32], seed: int) -> Labels:
        return kmeans(_partially_whitened(x, 64, 1.0), k, seed=seed).labels

    def ward(x: NDArray[np.float32], seed: int) -> Labels:
        features = _partially_whitened(x, PCA_DIMENSIONS, WHITEN_POWER)
        return AgglomerativeClustering(k, linkage="ward").fit_predict(features).astype(np.int64)

    return {
        "spherical k-means (plain)": lambda x, seed: kmeans(x, k, seed=seed).labels,
        "PCA-64 full whitening + k-means": fully_whitened_kmeans,
        "PCA-128 half whitening + k-means": whitened_kmeans,
        "half whitening + Ward agglomerative": ward,
        "half whitening + spectral k-NN (default)": lambda x, seed: (
            spectral(x, k, seed=seed).labels
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    embedder = OnnxEmbedder(bundled_model_spec(), Device.CPU)
    warnings.filterwarnings("ignore", category=UserWarning)
    labelled = [p for p in sorted(args.datasets.iterdir()) if any(c.is_dir() for c in p.iterdir())]
    for folder in labelled:  # bigimages has no class folders
        vectors, truth = embedded_set(folder, embedder)
        k = int(truth.max()) + 1
        if k < 2:
            continue
        print(f"\n{folder.name}: {len(truth)} images, {k} classes")
        print(f"  {'method':<42} {'NMI':>6} {'accuracy':>9} {'seconds':>8}")
        for name, run in methods(k).items():
            started = time.perf_counter()
            found = [run(vectors, seed) for seed in range(args.seeds)]
            seconds = (time.perf_counter() - started) / args.seeds
            nmi = np.mean([normalized_mutual_info_score(truth, f) for f in found])
            acc = np.mean([accuracy(truth, f) for f in found])
            print(f"  {name:<42} {nmi:>6.3f} {acc:>9.3f} {seconds:>8.2f}")
        choice = choose_k(vectors, 2, 40)
        print(f"  automatic k in [2, 40]: {choice.k} ({choice.method} {choice.score:.3f}); "
              f"within [0.5x, 2x] of {k}: {k / 2 <= choice.k <= 2 * k}")  # fmt: skip


if __name__ == "__main__":
    main()
