"""FAISS on a GPU where there is one: k-means, and the matrix products of the duplicates join.

A GPU is used where one is wanted (the model's device is not "cpu"), faiss-gpu is installed
(the `gpu` extra) and FAISS sees a GPU; otherwise the same work runs on the CPU, with the same
results up to float rounding. faiss-cpu has no GPU functions at all, so that is the fallback
every CI run takes.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)


@cache
def _gpus() -> int:
    import faiss

    if not hasattr(faiss, "StandardGpuResources"):
        log.debug("faiss-cpu is installed: FAISS runs on the CPU")
        return 0
    count = int(faiss.get_num_gpus())
    log.info("FAISS sees %d GPU%s", count, "" if count == 1 else "s")
    return count


def use_gpu(wanted: bool) -> bool:
    """Whether FAISS work runs on a GPU: wanted, and one is there (module doc)."""
    return wanted and _gpus() > 0


@cache
def _resources() -> Any:
    import faiss

    return faiss.StandardGpuResources()


def inner_products(
    a: NDArray[np.float32], b: NDArray[np.float32], wanted: bool
) -> NDArray[np.float32]:
    """a @ b.T, on a GPU where `use_gpu(wanted)`."""
    if not use_gpu(wanted):
        return a @ b.T
    import faiss

    products = faiss.pairwise_distance_gpu(
        _resources(), np.ascontiguousarray(a), np.ascontiguousarray(b),
        metric=faiss.METRIC_INNER_PRODUCT,
    )  # fmt: skip
    return np.asarray(products, dtype=np.float32)
