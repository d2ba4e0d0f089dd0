"""The clustering the albums use: a method, and k given or chosen."""

from __future__ import annotations

import enum
import logging

import numpy as np
from numpy.typing import NDArray

from autoalbum.clustering.choose_k import KChoice, scan
from autoalbum.clustering.kmeans import Clustering, as_matrix, check_k, kmeans
from autoalbum.clustering.spectral import eigengap_choice, refined_spectral, spectral_ok

log = logging.getLogger(__name__)


class Method(str, enum.Enum):
    SPECTRAL = "spectral"
    KMEANS = "kmeans"


def cluster(
    vectors: NDArray[np.float32],
    k: int | None,
    *,
    k_range: tuple[int, int] = (2, 20),
    seed: int = 0,
    method: Method = Method.SPECTRAL,
    use_gpu: bool = False,
) -> tuple[Clustering, KChoice | None]:
    """Cluster into `k` albums, or choose k in `k_range` first when k is None.

    Spectral clustering chooses k by the eigengap vote on its own features; k-means (and
    spectral on small sets) by the silhouette gap.
    """
    x = as_matrix(vectors)
    if method is Method.SPECTRAL and spectral_ok(len(x), k or max(2, k_range[0])):
        choice = None
        if k is None:
            choice = eigengap_choice(x, *k_range, seed)
            share = 100 * choice.score
            log.info("chose k=%d (%s, %.0f%% of votes)", choice.k, choice.method, share)
            k = choice.k
        check_k(k, len(x))
        if spectral_ok(len(x), k):
            return refined_spectral(x, k, seed, use_gpu), choice
        return kmeans(x, k, seed=seed, use_gpu=use_gpu), choice
    choice, fit = None, None
    if k is None:
        choice, fit = scan(x, k_range[0], k_range[1], seed)
        log.info("chose k=%d (%s %.3f)", choice.k, choice.method, choice.score)
        k = choice.k
    return (fit or kmeans(x, k, seed=seed, use_gpu=use_gpu)), choice
