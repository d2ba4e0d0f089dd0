"""Labelled sets grown with augmented copies, so that the same kinds can be seen at 300, 1,000
and 5,000 photos: each copy is a random resized crop (60-100% of the area, aspect 3:4-4:3),
mirrored half the time, with brightness, contrast and saturation jittered by up to 20%.

Features are the product's L2-normalised Lite0 embeddings, cached per set and copy count in
~/.cache/autoalbum/bench/<set>.grown-<copies>.npz (the originals in <set>.raw-flip.npz, as
bench/cluster_methods.py caches them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageEnhance

from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec, normalise
from autoalbum.embedding.images import decode_image, to_model_input
from autoalbum.embedding.model import cache_dir
from autoalbum.embedding.scan import find_images

Matrix = NDArray[np.float32]
Labels = NDArray[np.int64]
BATCH = 64


@dataclass(frozen=True)
class Grown:
    """A set's embeddings: originals first, then `copies` augmented copies of each original
    (`source` names the original row of every row)."""

    name: str
    vectors: Matrix
    labels: Labels
    source: NDArray[np.int64]

    @property
    def classes(self) -> int:
        return int(self.labels.max()) + 1

    def take(self, rows: NDArray[np.int64]) -> Grown:
        return Grown(self.name, self.vectors[rows], self.labels[rows], self.source[rows])


def augmented(image: Image.Image, rng: np.random.Generator, size: int) -> NDArray[np.uint8]:
    """One random crop, mirror and colour jitter of `image`, as model input."""
    width, height = image.size
    area = rng.uniform(0.6, 1.0) * width * height
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    w = min(width, round(math.sqrt(area * aspect)))
    h = min(height, round(math.sqrt(area / aspect)))
    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    out = image.crop((left, top, left + w, top + h))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        out = enhancer(out).enhance(float(rng.uniform(0.8, 1.2)))
    return np.asarray(out.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def _embed(embedder: OnnxEmbedder, images: list[NDArray[np.uint8]]) -> Matrix:
    parts = [
        embedder.embed(np.stack(images[start : start + BATCH])).vectors
        for start in range(0, len(images), BATCH)
    ]
    return normalise(np.concatenate(parts).astype(np.float32))


def grown_set(folder: Path, copies: int, embedder: Callable[[], OnnxEmbedder]) -> Grown:
    """The set's originals and `copies` augmented copies of each, embedded once and cached."""
    cache = cache_dir() / "bench" / f"{folder.name}.grown-{copies}.npz"
    if not cache.is_file():
        started = time.perf_counter()
        model = embedder()
        rng = np.random.default_rng(7)
        vectors, labels, sources = [], [], []
        paths = find_images([folder])
        classes = sorted({path.relative_to(folder).parts[0] for path in paths})
        for row, path in enumerate(paths):
            try:
                image = decode_image(path, 2 * model.input_size).convert("RGB")
            except Exception as error:
                print(f"  skipping {path}: {error}")
                continue
            small = to_model_input(image, model.input_size)
            batch = [small] + [augmented(image, rng, model.input_size) for _ in range(copies)]
            vectors.append(_embed(model, batch))
            labels += [classes.index(path.relative_to(folder).parts[0])] * len(batch)
            sources += [row] * len(batch)
        order = np.argsort(np.array([i % (copies + 1) for i in range(len(labels))]), kind="stable")
        stacked = np.concatenate(vectors)[order]
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache, vectors=stacked, labels=np.array(labels)[order], source=np.array(sources)[order]
        )
        print(f"embedded {folder.name} x{copies + 1} in {time.perf_counter() - started:.0f} s")
    stored = np.load(cache)
    return Grown(
        folder.name,
        stored["vectors"].astype(np.float32),
        stored["labels"].astype(np.int64),
        stored["source"].astype(np.int64),
    )


def open_model() -> OnnxEmbedder:
    return OnnxEmbedder(bundled_model_spec(), Device.CPU)
