"""Random samples of rows, so that the k scan and spectral clustering cost the same at any n."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def sample_rows(n: int, size: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Sorted indices of a random sample of at most `size` of n rows."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.int64)
