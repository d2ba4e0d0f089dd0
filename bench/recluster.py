"""Recluster time of autoalbum's clustering against scikit-learn's k-means, and memory per image.

For each size, one set of synthetic embeddings is clustered in one run by
- "autoalbum default": `autoalbum.clustering.cluster.cluster` as `recluster` runs it with a
  configured k (spectral clustering of at most 5,000 sampled vectors, refined by one k-means
  over all); with --auto, as it runs with `cluster.k: auto` (k chosen in --k-range, default
  [2, 60] as cluster.k_range) while the other methods still get --k;
- "autoalbum.kmeans": FAISS spherical k-means, --n-init restarts x --iterations;
- "sklearn KMeans": Lloyd with the same work, --n-init k-means++ restarts of at most
  --iterations iterations (it may stop earlier at tol 1e-4; the last restart's count is shown);
- "sklearn KMeans defaults": KMeans as people call it (n_init "auto" = one k-means++ init, up
  to 300 iterations);
- "sklearn MiniBatchKMeans": its defaults (batch 1024, one k-means++ init, early stopping).
Ratios are method seconds / autoalbum default seconds, so > 1 means autoalbum is faster.

So that speed isn't bought with worse clusters, each labelling is scored the same way: the
k-means objective (squared distance of each vector to its cluster's mean, per vector, lower is
better) and NMI against the synthetic ground truth and against autoalbum's labels.

Vectors: 1M x 1280 float32 is 5.1 GB, and autoalbum's kmeans holds float64 copies of the matrix
while measuring inertia, so that size doesn't fit a shared machine. Sizes of --large-from or more
therefore use --large-dim dimensions (default 128, as after a PCA) for every method; smaller
sizes use --dim. The data imitate pooled CNN features: a 64-d latent Gaussian mixture of k
clusters with Zipf-like sizes around a shared direction, with decaying within-cluster spectra,
projected to d, plus isotropic noise, ReLU'd and L2-normalised (mean cosine between two random
vectors ~0.45; k-means recovers the truth with NMI ~0.86). A method whose estimated time (from
the previous size, scaled by n x d) exceeds --cap-s is skipped with the reason printed.

Memory per image, and a library's recluster from its catalog (codes) at 100,000 and 1,000,000
photos with its peak RSS: bench/vectors.py.

    .venv/bin/python bench/recluster.py [--sizes 100000,1000000] [--dim 1280] [--k 50] [--quick]
        [--auto [--k-range 2:60]] [--methods "autoalbum default,sklearn KMeans"]
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from numpy.typing import NDArray
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import normalized_mutual_info_score

from autoalbum.clustering.cluster import Method, cluster
from autoalbum.clustering.kmeans import kmeans
from autoalbum.embedding.embedder import normalise

LATENT = 64
CHUNK = 20_000


@dataclass(frozen=True)
class Fit:
    method: str
    seconds: float
    labels: NDArray[np.int64]
    iterations: str


def synthetic(
    n: int, dim: int, clusters: int, seed: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Unit vectors shaped like pooled CNN features, and their true cluster; built in chunks."""
    out = np.empty((n, dim), dtype=np.float32)
    truth = np.empty(n, dtype=np.int64)
    for start, (rows, labels) in synthetic_chunks(n, dim, clusters, seed):
        out[start : start + len(rows)], truth[start : start + len(rows)] = rows, labels
    return out, truth


def synthetic_chunks(
    n: int, dim: int, clusters: int, seed: int = 0
) -> Iterator[tuple[int, tuple[NDArray[np.float32], NDArray[np.int64]]]]:
    """`synthetic`'s rows CHUNK at a time (first row, (vectors, true clusters)), so that a
    million need not be in memory at once."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, clusters + 1) ** 0.7
    shared = 1.0 * rng.standard_normal(LATENT)
    means = shared + 0.7 * rng.standard_normal((clusters, LATENT))
    spread = 1.0 / np.sqrt(np.arange(1, LATENT + 1)) + 0.25
    project = rng.standard_normal((LATENT, dim)).astype(np.float32) / np.float32(math.sqrt(LATENT))
    truth = rng.choice(clusters, size=n, p=weights / weights.sum()).astype(np.int64)
    for start in range(0, n, CHUNK):
        labels = truth[start : start + CHUNK]
        latent = means[labels] + spread * rng.standard_normal((len(labels), LATENT))
        rows = latent.astype(np.float32) @ project
        rows += 1.5 * rng.standard_normal(rows.shape, dtype=np.float32)
        yield start, (normalise(np.maximum(rows, 0.0)), labels)


def objective(x: NDArray[np.float32], labels: NDArray[np.int64]) -> float:
    """Mean squared distance of each vector to the mean of its cluster (float64, chunked)."""
    k = int(labels.max()) + 1
    sums = np.zeros((k, x.shape[1]))
    squares = 0.0
    for start in range(0, len(x), CHUNK):
        rows = x[start : start + CHUNK].astype(np.float64)
        part = labels[start : start + CHUNK]
        onehot = scipy.sparse.csr_matrix(
            (np.ones(len(part)), (part, np.arange(len(part)))), shape=(k, len(part))
        )
        sums += onehot @ rows
        squares += float(np.einsum("ij,ij->", rows, rows))
    counts = np.maximum(np.bincount(labels, minlength=k), 1)
    return (squares - float((np.einsum("ij,ij->i", sums, sums) / counts).sum())) / len(x)


def timed(method: str, run: Callable[[], tuple[NDArray[np.int64], str]]) -> Fit:
    started = time.perf_counter()
    labels, iterations = run()
    return Fit(method, time.perf_counter() - started, labels, iterations)


def run_default(x: NDArray[np.float32], args: argparse.Namespace) -> tuple[NDArray[np.int64], str]:
    if args.auto:
        result, choice = cluster(x, None, k_range=args.k_range, method=Method.SPECTRAL)
        assert choice is not None
        return result.labels, f"k={result.k} by {choice.method}"
    result, _ = cluster(x, args.k, method=Method.SPECTRAL)
    return result.labels, "spectral + 1x25"


def run_autoalbum(
    x: NDArray[np.float32], args: argparse.Namespace
) -> tuple[NDArray[np.int64], str]:
    result = kmeans(x, args.k, seed=0, n_init=args.n_init, iterations=args.iterations)
    return result.labels, f"{args.n_init}x{args.iterations}"


Runner = Callable[[NDArray[np.float32], argparse.Namespace], tuple[NDArray[np.int64], str]]


def sklearn_runner(
    make: Callable[[argparse.Namespace], Any], note: Callable[[Any, argparse.Namespace], str]
) -> Runner:
    """Fit the scikit-learn k-means `make` builds; `note` tells the iterations given and used."""

    def run(x: NDArray[np.float32], args: argparse.Namespace) -> tuple[NDArray[np.int64], str]:
        model = make(args)
        labels = model.fit_predict(x).astype(np.int64)
        return labels, note(model, args)

    return run


RUNNERS: dict[str, Runner] = {
    "autoalbum default": run_default,
    "autoalbum.kmeans": run_autoalbum,
    "sklearn KMeans": sklearn_runner(
        lambda a: KMeans(a.k, n_init=a.n_init, max_iter=a.iterations, random_state=0),
        lambda model, a: f"{a.n_init}x<={a.iterations} (last {model.n_iter_})",
    ),
    "sklearn KMeans defaults": sklearn_runner(
        lambda a: KMeans(a.k, random_state=0),
        lambda model, _: f"1x<=300 (used {model.n_iter_})",
    ),
    "sklearn MiniBatchKMeans": sklearn_runner(
        lambda a: MiniBatchKMeans(a.k, random_state=0),
        lambda model, _: f"{model.n_steps_} steps",
    ),
}


def print_table(
    x: NDArray[np.float32], truth: NDArray[np.int64], fits: list[Fit], skipped: dict[str, str]
) -> None:
    ours = fits[0]
    print(
        f"  {'method':<24} {'seconds':>8} {'ratio':>12} {'iterations':>22} "
        f"{'SSE/vector':>10} {'NMI truth':>9} {'NMI ours':>8}"
    )
    for fit in fits:
        print(
            f"  {fit.method:<24} {fit.seconds:>8.1f} {fit.seconds / ours.seconds:>11.2f}x "
            f"{fit.iterations:>22} {objective(x, fit.labels):>10.4f} "
            f"{normalized_mutual_info_score(truth, fit.labels):>9.3f} "
            f"{normalized_mutual_info_score(ours.labels, fit.labels):>8.3f}"
        )
    for method, reason in skipped.items():
        print(f"  {method:<24} skipped: {reason}")
    print(f"  ground truth {'':>70} {objective(x, truth):>10.4f}", flush=True)


def bench_size(n: int, dim: int, args: argparse.Namespace, rates: dict[str, float]) -> None:
    """Cluster one synthetic set with every method; `rates` carries seconds per n*d forward."""
    print(f"\nn={n:,} d={dim} k={args.k}", flush=True)
    x, truth = synthetic(n, dim, args.k)
    fits: list[Fit] = []
    skipped: dict[str, str] = {}
    for method, runner in RUNNERS.items():
        if args.methods and method not in args.methods:
            continue
        estimate = rates.get(method, 0.0) * n * dim
        if estimate > args.cap_s:
            skipped[method] = f"estimated {estimate:.0f} s from the previous size > --cap-s"
            continue
        fits.append(timed(method, functools.partial(runner, x, args)))
        rates[method] = fits[-1].seconds / (n * dim)
    print_table(x, truth, fits, skipped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated counts")
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--large-dim", type=int, default=128)
    parser.add_argument("--large-from", type=int, default=500_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--n-init", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=25)
    parser.add_argument("--cap-s", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true", help="20,000 vectors only: a smoke test")
    parser.add_argument(
        "--auto", action="store_true", help="autoalbum default chooses k, as with k: auto"
    )
    parser.add_argument(
        "--k-range", type=lambda text: tuple(map(int, text.split(":"))), default=(2, 60),
        metavar="MIN:MAX", help="the range --auto chooses k in (default: 2:60)",
    )  # fmt: skip
    parser.add_argument(
        "--methods", type=lambda text: text.split(","), default=None, metavar="A,B",
        help=f"only these methods, the first the reference (default: {', '.join(RUNNERS)})",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    rates: dict[str, float] = {}
    for n in sizes:
        bench_size(n, args.large_dim if n >= args.large_from else args.dim, args, rates)


if __name__ == "__main__":
    main()
