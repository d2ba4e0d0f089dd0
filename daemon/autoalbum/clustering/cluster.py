"""The clustering the albums use: a method, and k given or chosen."""

from __future__ import annotations

import enum
import logging
from dataclasses import replace

from autoalbum.clustering.choose_k import KChoice, check_k_range, scan
from autoalbum.clustering.granularity import choose_albums
from autoalbum.clustering.kmeans import Clustering, Vectors, as_rows, kmeans
from autoalbum.clustering.near_copies import fold_near_copies
from autoalbum.clustering.spectral import spectral

log = logging.getLogger(__name__)

K_RANGE = (2, 60)  # fewest and most albums when k is chosen
# From this many photos the split test chooses the albums (spectral clustering itself needs
# SPECTRAL_MIN_IMAGES). Under 200 photos the silhouette gap's k swung with the sample: a random
# 15% of mnist's 1,000 digits made 19, 11 and 18 albums, of catsdogs' 600 8, 4 and 5, where the
# split test makes 2-3 and 2 (bench/nesting.py), as many or fewer than the whole set makes.
SPLIT_TEST_MIN_IMAGES = 60


class Method(str, enum.Enum):
    SPECTRAL = "spectral"
    KMEANS = "kmeans"


def cluster(
    vectors: Vectors,
    k: int | None,
    *,
    k_range: tuple[int, int] = K_RANGE,
    granularity: float = 0.0,
    seed: int = 0,
    method: Method = Method.SPECTRAL,
    use_gpu: bool = False,
) -> tuple[Clustering, KChoice | None]:
    """Cluster into `k` albums, or into a number in `k_range` chosen when k is None.

    Spectral clustering chooses by splitting albums while they divide clearly (`granularity`
    steps finer or, negative, coarser: see `granularity`); k-means, and spectral under
    SPLIT_TEST_MIN_IMAGES photos, by the silhouette gap. `vectors` may be Rows (such as the
    library's stored codes), read a sample or a chunk at a time.
    """
    x = as_rows(vectors)
    if k is not None:
        if method is Method.SPECTRAL:
            return spectral(x, k, seed=seed, use_gpu=use_gpu), None
        return kmeans(x, k, seed=seed, use_gpu=use_gpu), None
    check_k_range(*k_range)
    if method is Method.SPECTRAL and len(x) >= max(SPLIT_TEST_MIN_IMAGES, k_range[0]):
        clustering, choice = choose_albums(x, granularity=granularity, k_range=k_range, seed=seed)
    else:
        choice, fit = scan(x, k_range[0], k_range[1], seed)
        clustering = fit or kmeans(x, choice.k, seed=seed, use_gpu=use_gpu)
    clustering = fold_near_copies(x, clustering, fewest=k_range[0])
    choice = replace(choice, k=clustering.k)
    log.info("chose k=%d (%s %.3f)", choice.k, choice.method, choice.score)
    return clustering, choice
