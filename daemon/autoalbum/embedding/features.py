"""Cheap embedders without a model, the baselines of the clustering tutorials.

`PixelEmbedder`: the image squashed to a small square, its raw pixels as the vector.
`HsvEmbedder`: a colour histogram in HSV space. Both take the same decoded uint8 squares as the
CNN (images.py, through pipeline.embed_paths) and, like every autoalbum vector, come out
L2-normalised, so clustering compares them by cosine.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from autoalbum.embedding.embedder import Embeddings, normalise

HSV_BINS = (8, 4, 4)  # hue, saturation, value
HSV_SIZE = 128  # side the image is shrunk to first: plenty of pixels for a histogram
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class PixelEmbedder:
    """Raw pixels of the image resized to `size` x `size`, flattened as float32: RGB, or grey.

    32 RGB is the tutorials' baseline for photos; for digits pass their native size (8 for
    scikit-learn's digits, 28 for MNIST) so nothing is resampled, and `grey` for the tutorials'
    64 or 784 values. On grey images RGB gives the same cosine geometry, so the same clusters,
    at three times the dimensions. Grey is ITU-R 601 luma, as Pillow's "L" mode.
    """

    def __init__(self, size: int = 32, *, grey: bool = False) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.input_size = size
        self.grey = grey
        self.name = f"pixels-{size}x{size}-{'grey' if grey else 'rgb'}"

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        pixels = images.astype(np.float32)
        if self.grey:
            pixels = pixels @ LUMA
        return Embeddings(normalise(pixels.reshape(len(images), -1)), None, None)


class HsvEmbedder:
    """A colour histogram: 8 hues x 4 saturations x 4 values, counts L2-normalised."""

    input_size = HSV_SIZE
    name = "hsv-{}x{}x{}".format(*HSV_BINS)

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        hsv = np.stack([np.asarray(Image.fromarray(image).convert("HSV")) for image in images])
        hue, sat, val = (hsv[..., c].astype(np.int64) * HSV_BINS[c] // 256 for c in range(3))
        cell = (hue * HSV_BINS[1] + sat) * HSV_BINS[2] + val
        cells = int(np.prod(HSV_BINS))
        offsets = np.arange(len(images), dtype=np.int64)[:, None, None] * cells
        counts = np.bincount((cell + offsets).ravel(), minlength=len(images) * cells)
        histograms = counts.reshape(len(images), cells).astype(np.float32)
        return Embeddings(normalise(histograms), None, None)
