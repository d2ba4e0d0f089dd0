"""Synthetic unit vectors in known clusters, shared by the clustering tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SIZES = (40, 30, 20, 10)


def unit(rows: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows scaled to unit length, as float32."""
    scaled: NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return scaled


def sphere_blobs(
    sizes: tuple[int, ...], dim: int = 1280, spread: float = 1.0, seed: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Shuffled, well-separated blobs on the unit sphere; truth is the blob's index in `sizes`."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((len(sizes), dim)))
    truth = np.repeat(np.arange(len(sizes)), sizes)
    noise = spread * rng.standard_normal((len(truth), dim)) / np.sqrt(dim)
    order = rng.permutation(len(truth))
    return unit(centres[truth] + noise)[order], truth[order]
