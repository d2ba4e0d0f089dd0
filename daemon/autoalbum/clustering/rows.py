"""Vectors the clustering reads a sample or a chunk at a time, so that a million of them need
not be one float32 matrix (5.1 GB at d=1280): the library hands its stored codes over as
`Rows` (library/codes.py), and a plain float32 array is wrapped in `Dense`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

CHUNK = 65_536  # rows of a plain array handed out at a time (views: no copies)


class Rows(Protocol):
    """n vectors of dimension `dim`, read as float32 by row positions or in chunks."""

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def take(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """The float32 vectors at these positions."""
        ...

    def chunks(self, roots: bool = False) -> Iterator[tuple[int, NDArray[np.float32]]]:
        """(first row, float32 rows) a chunk at a time, in order; with `roots`, each value's
        signed square root instead (the clustering features' power normalisation)."""
        ...


def signed_roots(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """Each value's signed square root."""
    roots: NDArray[np.float32] = np.sign(rows) * np.sqrt(np.abs(rows))
    return roots


class Dense:
    """A float32 (n, d) array as Rows."""

    def __init__(self, matrix: NDArray[np.float32]) -> None:
        self.matrix = matrix

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.matrix)

    def take(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        return self.matrix[rows]

    def chunks(self, roots: bool = False) -> Iterator[tuple[int, NDArray[np.float32]]]:
        for start in range(0, len(self.matrix), CHUNK):
            chunk = self.matrix[start : start + CHUNK]
            yield start, signed_roots(chunk) if roots else chunk


class Subset:
    """Some of another Rows' vectors (an album's photos), as Rows, without copying them."""

    def __init__(self, base: Rows, positions: NDArray[np.int64]) -> None:
        self.base = base
        self.positions = positions

    @property
    def dim(self) -> int:
        return self.base.dim

    def __len__(self) -> int:
        return len(self.positions)

    def take(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        return self.base.take(self.positions[rows])

    def chunks(self, roots: bool = False) -> Iterator[tuple[int, NDArray[np.float32]]]:
        for start in range(0, len(self.positions), CHUNK):
            chunk = self.base.take(self.positions[start : start + CHUNK])
            yield start, signed_roots(chunk) if roots else chunk
