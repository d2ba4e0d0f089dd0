"""The clustering tutorials' experiments, run through `autoalbum evaluate`'s own code.

1. Raw-pixel k-means on digits at k = 10, 16, 36, 64, 144, 256, scored by majority-label
   accuracy as the tutorials score it: scikit-learn's 8x8 digits (1,797 images, written once
   as PNGs under ~/.cache/autoalbum/bench/ so they pass through the same decoder) and
   ../shared/datasets/mnist (1,000 28x28 images), each at its native size in grey, 64 and 784
   values as in the tutorials. "kmeans" is autoalbum's spherical k-means (FAISS); "minibatch"
   is scikit-learn's MiniBatchKMeans, the tutorials' algorithm. Like every autoalbum vector,
   the pixel vectors are L2-normalised, so both compare digits by cosine.
2. catsdogs at k = 2: raw pixels (32x32 RGB) against an HSV colour histogram against the CNN.
3. Every labelled set, CNN features at k = the number of classes: k-means against
   agglomerative (Ward) against the albums' default method, and HDBSCAN with the k it finds.

Each number comes from `autoalbum.evaluation.evaluate.evaluate`, the function behind
`autoalbum evaluate`,
so its vectors are cached like the command's: a second run takes seconds.

    .venv/bin/python bench/tutorials.py [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
from autoalbum.embedding.features import HsvEmbedder, PixelEmbedder
from autoalbum.embedding.model import cache_dir
from autoalbum.errors import AutoalbumError
from autoalbum.evaluation.evaluate import Evaluation, default_method, evaluate
from autoalbum.evaluation.labelled import Features, labelled_images

DEFAULT_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
DIGIT_KS = (10, 16, 36, 64, 144, 256)
TUTORIAL_MNIST_K256 = 0.90  # majority-label accuracy the tutorials report, on the 60,000
TUTORIAL_CATSDOGS_PIXELS = 0.53  # the tutorials' raw-pixel k-means on cats vs dogs


def sklearn_digits() -> Path:
    """scikit-learn's 8x8 digits as grey PNGs in DIGIT/NNNN.png, written once."""
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = cache_dir() / "bench" / "sklearn-digits"
    if folder.is_dir():
        return folder
    digits = load_digits()
    partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for index, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        grey = np.rint(image * (255 / 16)).astype(np.uint8)  # 0..16 ink levels to 0..255
        (partial / str(target)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(grey).save(partial / str(target) / f"{index:04d}.png")
    os.replace(partial, folder)
    return folder


def timed(folder: Path, features: Features, k: int | None, method: str) -> tuple[Evaluation, float]:
    started = time.perf_counter()
    result = evaluate(folder, features, k=k, method=method)
    return result, time.perf_counter() - started


def digits_section(datasets: Path) -> None:
    print("1. Raw-pixel k-means on digits: majority-label accuracy against k")
    sets = [("sklearn digits, 8x8 grey", sklearn_digits(), 8)]
    mnist = datasets / "mnist"
    if mnist.is_dir():
        sets.append(("MNIST, 28x28 grey", mnist, 28))
    else:
        print(f"   skipping mnist: {mnist} not found")
    print(f"   {'':>4}" + "".join(f"{name:>24}" for name, _, _ in sets))
    print(f"   {'k':>4}" + f"{'kmeans':>12}{'minibatch':>12}" * len(sets) + "   MNIST images/album")
    mnist_at_256 = None
    for k in DIGIT_KS:
        cells = []
        for name, folder, size in sets:
            for method in ("kmeans", "minibatch"):
                result, _ = timed(folder, PixelEmbedder(size, grey=True), k, method)
                cells.append(f"{result.majority_accuracy:>12.3f}")
                if name.startswith("MNIST") and k == 256:
                    mnist_at_256 = result
        per_album = f"{result.images / k:>21.1f}" if mnist.is_dir() else ""
        print(f"   {k:>4}{''.join(cells)}{per_album}", flush=True)
    if mnist_at_256 is not None:
        print(
            f"   MNIST at k=256: {mnist_at_256.majority_accuracy:.3f} here, the tutorials report "
            f"about {TUTORIAL_MNIST_K256:.2f}, but for a different reason.\n"
            "   They cluster MNIST's 60,000 training digits, about 234 per album; these 1,000\n"
            "   make about 4 per album, so each album's majority label is nearly a nearest-\n"
            "   neighbour vote, and k=1,000 (one image per album) would score 1.0. With one\n"
            "   album per digit (k=10), raw pixels get about 0.6 of MNIST right."
        )


def catsdogs_section(datasets: Path, cnn: Features) -> None:
    print("\n2. catsdogs at k=2, k-means: raw pixels vs HSV histogram vs CNN features")
    folder = datasets / "catsdogs"
    if not folder.is_dir():
        print(f"   skipping catsdogs: {folder} not found")
        return
    print(f"   {'features':<34}{'one-to-one':>11}{'majority':>10}{'NMI':>7}{'images/s':>10}")
    accuracy = {}
    for label, features in (
        ("raw pixels, 32x32 RGB (3,072-d)", PixelEmbedder(32)),
        ("HSV histogram, 8x4x4 (128-d)", HsvEmbedder()),
        ("CNN, EfficientNet-Lite0 (1,280-d)", cnn),
    ):
        result, _ = timed(folder, features, 2, "kmeans")
        accuracy[label.split(",")[0]] = result.hungarian_accuracy
        rate = result.images_per_second
        print(
            f"   {label:<34}{result.hungarian_accuracy:>11.3f}{result.majority_accuracy:>10.3f}"
            f"{result.nmi:>7.3f}{'-' if rate is None else f'{rate:.0f}':>10}"
        )
    pixels, cnn_accuracy = accuracy["raw pixels"], accuracy["CNN"]
    print(
        f"   raw pixels {pixels:.3f} against the tutorials' {TUTORIAL_CATSDOGS_PIXELS:.2f}; "
        f"CNN / pixels = {cnn_accuracy / pixels:.2f}x; chance is 0.50"
    )


def labelled_sets(datasets: Path) -> list[tuple[str, Path, int]]:
    """(name, folder, number of classes) of every set with class subfolders."""
    found = []
    for folder in sorted(p for p in datasets.iterdir() if p.is_dir()):
        try:
            _, names = labelled_images(folder)
        except AutoalbumError:
            print(f"   skipping {folder.name}: no class subfolders (no labels)")
            continue
        found.append((folder.name, folder, len(set(names))))
    return found


def methods_section(datasets: Path, cnn: Features) -> None:
    default = default_method()
    print(f"\n3. CNN features at k = number of classes: k-means vs Ward vs {default} (default)")
    if not datasets.is_dir():
        print(f"   skipping: {datasets} not found")
        return
    sets = labelled_sets(datasets)
    methods = ("kmeans", "agglomerative", default)
    print(f"   {'set':<12}{'k':>3}" + "".join(f"{m:>22}" for m in methods) + f"{'hdbscan':>32}")
    subheader = f"{'NMI':>10}{'acc':>6}{'secs':>6}" * len(methods)
    print(f"   {'':<15}{subheader}{'k':>13}{'noise':>7}{'NMI':>6}{'acc':>6}")
    for name, folder, classes in sets:
        cells, nmi = [], {}
        for method in methods:
            result, seconds = timed(folder, cnn, classes, method)
            nmi[method] = result.nmi
            cells.append(f"{result.nmi:>10.3f}{result.hungarian_accuracy:>6.3f}{seconds:>6.1f}")
        free, _ = timed(folder, cnn, None, "hdbscan")
        share = free.noise / free.images
        hdbscan = f"{free.k:>13}{share:>7.0%}{free.nmi:>6.3f}{free.hungarian_accuracy:>6.3f}"
        print(f"   {name:<12}{classes:>3}{''.join(cells)}{hdbscan}")
        print(
            f"   {'':<15}NMI {default} - k-means = {nmi[default] - nmi['kmeans']:+.3f}, "
            f"{default} - Ward = {nmi[default] - nmi['agglomerative']:+.3f}"
        )
    print("   acc: one-to-one (Hungarian) accuracy; secs: clustering and scoring, vectors cached;")
    print("   HDBSCAN's noise is scored as one more album.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    args = parser.parse_args()
    cnn = OnnxEmbedder(bundled_model_spec(), Device.CPU)
    print(f"autoalbum evaluate's code on {cnn.provider}; datasets in {args.datasets}\n")
    digits_section(args.datasets)
    catsdogs_section(args.datasets, cnn)
    methods_section(args.datasets, cnn)


if __name__ == "__main__":
    main()
