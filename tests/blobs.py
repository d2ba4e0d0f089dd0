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


def kinds_with_subkinds(
    per_subkind: int,
    kinds: int = 3,
    subkinds: int = 4,
    sub_spread: float = 0.4,
    noise: float = 0.5,
    seed: int = 0,
    dim: int = 256,
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.int64]]:
    """Kinds, each of `subkinds` fainter blobs, in a 6-d subspace of `dim`, on the unit sphere:
    the vectors, each one's kind and its subkind (kind * subkinds + i)."""
    rng = np.random.default_rng(seed)
    low = 6
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:low]
    rows, kind, subkind = [], [], []
    for k in range(kinds):
        centre = 3.0 * rng.standard_normal((1, low))
        for s in range(subkinds):
            sub = centre + sub_spread * rng.standard_normal((1, low))
            points = sub + noise * rng.standard_normal((per_subkind, low))
            rows.append(unit(points @ rotation + 5.0 / np.sqrt(dim)))
            kind += [k] * per_subkind
            subkind += [k * subkinds + s] * per_subkind
    return np.concatenate(rows), np.array(kind), np.array(subkind)
