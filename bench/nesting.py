"""Is the top level of the albums the same at any library size, and do sub-albums refine it?

For each shared labelled set and two mixtures of them, grown to about 5,000 photos with
augmented copies (bench/grown_sets.py), the product's automatic albums (cluster.cluster with k
None) and their sub-albums (clustering/nesting.py):

1. sizes: random 300, 1,000 and 5,000 photos of the grown set, --seeds seeds each: the top
   level's k and its NMI against the classes. The issue asks k within [0.5x, 2x] of the
   classes, the same k at every size.
2. 15% against all: the originals clustered whole and a random 15% of them alone (3 seeds): the
   15%'s k beside the whole's, and the NMI between the two assignments of the shared photos.
   The goal: k within +-25% and NMI >= 0.8.
3. nesting, on the originals: the top level's homogeneity (each album one class), the leaves'
   (each photo's deepest album), the number of leaves and the share of photos left in an
   album itself; NMI of the leaves.

Every figure is printed for the product and, in the same run, for the split test with a fixed
10 neighbours per photo (before the graphs scaled with the library: `--baseline`).

    .venv/bin/python bench/nesting.py [--datasets ../shared/datasets] [--seeds 3] [--baseline]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import homogeneity_score, normalized_mutual_info_score

from autoalbum.clustering import granularity
from autoalbum.clustering.cluster import cluster
from autoalbum.clustering.nesting import IN_PARENT, leaf_labels, nest
from autoalbum.embedding.scan import find_images
from grown_sets import Grown, grown_set, open_model

DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = ("catsdogs", "hymenoptera", "flowers17", "mnist", "cifar10")
MIXTURES = {
    "4 sets": (("catsdogs", 1.0), ("hymenoptera", 1.0), ("flowers17", 1.0), ("mnist", 1.0)),
    "3 sets, uneven": (("catsdogs", 1.0), ("cifar10", 0.3), ("flowers17", 0.2)),
}
SIZES = (300, 1_000, 5_000)
GROWN_TO = 5_000
Labels = np.ndarray
Albums = Callable[[np.ndarray, int], np.ndarray]


def mixture(name: str, parts: tuple[tuple[str, float], ...], sets: dict[str, Grown]) -> Grown:
    """One pool of the named sets (a share of each one's originals, with their copies), each
    class a class of its own."""
    rng = np.random.default_rng(123)
    vectors, labels, sources = [], [], []
    classes = originals = 0
    for set_name, share in parts:
        grown = sets[set_name]
        if share < 1:
            own = np.unique(grown.source)
            keep = rng.choice(own, round(share * len(own)), replace=False)
            grown = grown.take(np.flatnonzero(np.isin(grown.source, keep)))
        vectors.append(grown.vectors)
        labels.append(grown.labels + classes)
        sources.append(grown.source + originals)
        classes += sets[set_name].classes
        originals += int(sets[set_name].source.max()) + 1
    dense = np.unique(np.concatenate(labels), return_inverse=True)[1]
    return Grown(name, np.concatenate(vectors), dense.astype(np.int64), np.concatenate(sources))


def originals(grown: Grown) -> np.ndarray:
    """The rows of the original photos (the first row of each source)."""
    return np.sort(np.unique(grown.source, return_index=True)[1])


def top_level(x: np.ndarray, seed: int) -> np.ndarray:
    return cluster(x, None, seed=seed)[0].labels


def nmi(a: Labels, b: Labels) -> float:
    return float(normalized_mutual_info_score(a, b))


def _k(labels: Labels) -> int:
    return len(np.unique(labels))


def sizes_line(grown: Grown, seeds: int) -> str:
    parts = []
    for size in SIZES:
        ks, scores = [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(len(grown.vectors), min(size, len(grown.vectors)), False))
            labels = top_level(grown.vectors[rows], seed)
            ks.append(_k(labels))
            scores.append(nmi(grown.labels[rows], labels))
        parts.append(f"{'/'.join(map(str, ks)):>8} {np.mean(scores):.3f}")
    return " | ".join(parts)


def subsample_line(grown: Grown, seeds: int) -> tuple[str, bool]:
    rows = originals(grown)
    whole = top_level(grown.vectors[rows], 0)
    ks, agreement = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(100 + seed)
        part = np.sort(rng.choice(len(rows), round(0.15 * len(rows)), replace=False))
        labels = top_level(grown.vectors[rows[part]], seed)
        ks.append(_k(labels))
        agreement.append(nmi(whole[part], labels))
    ok = all(abs(k - _k(whole)) <= 0.25 * _k(whole) for k in ks) and min(agreement) >= 0.8
    text = f"{_k(whole):>3} {'/'.join(map(str, ks)):>8} {np.mean(agreement):.3f}"
    return text, ok


def nesting_line(grown: Grown) -> str:
    rows = originals(grown)
    x, truth = grown.vectors[rows], grown.labels[rows]
    clustering, _ = cluster(x, None, seed=0)
    nests = nest(x, clustering, seed=0)
    leaves = leaf_labels(clustering.labels, nests)
    kept = [n for n in nests if n is not None]
    in_parent = sum(int((n.labels == IN_PARENT).sum()) for n in kept) / len(rows)
    return (
        f"{homogeneity_score(truth, clustering.labels):.3f} -> "
        f"{homogeneity_score(truth, leaves):.3f} {len(kept):>2}/{clustering.k:<3} "
        f"{_k(leaves):>4} {in_parent:>5.0%} {nmi(truth, leaves):.3f}"
    )


def report(pools: list[Grown], seeds: int, label: str) -> None:
    print(
        f"\n{label}\n  {'set':<16} {'cls':>3} | "
        + " | ".join(f"{size:>5}: k    NMI" for size in SIZES)
        + " | all  15%: k  agree ok | homog. top -> leaves  nested  leaves  in-album  NMI"
    )
    for grown in pools:
        started = time.perf_counter()
        subsample, ok = subsample_line(grown, seeds)
        print(
            f"  {grown.name:<16} {grown.classes:>3} | {sizes_line(grown, seeds)} | "
            f"{subsample} {'yes' if ok else 'no ':>3} | {nesting_line(grown)}"
            f"   ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also the fixed 10 neighbours")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Graph is not fully connected")
    models: list = []

    def embedder():  # type: ignore[no-untyped-def]
        if not models:
            models.append(open_model())
        return models[0]

    sets: dict[str, Grown] = {}
    for name in SETS:
        folder = args.datasets / name
        if folder.is_dir():
            copies = math.ceil(GROWN_TO / len(find_images([folder]))) - 1
            sets[name] = grown_set(folder, copies, embedder)
    pools = list(sets.values()) + [
        mixture(name, parts, sets)
        for name, parts in MIXTURES.items()
        if all(part in sets for part, _ in parts)
    ]
    if not pools:
        raise SystemExit(f"no labelled sets under {args.datasets}")
    report(pools, args.seeds, "product: graphs of 1/60 of the photos, at least 10 neighbours")
    if args.baseline:
        granularity.NEIGHBOUR_SHARE = 10**12  # every graph 10 neighbours, as before
        report(pools, args.seeds, "baseline: every graph 10 neighbours")


if __name__ == "__main__":
    main()
