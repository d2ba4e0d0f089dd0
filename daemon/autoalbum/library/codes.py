"""How the catalog stores a vector: one byte per dimension and one scale per vector.

Each coordinate is companded, its signed square root taken, then scaled so that the largest is
+-127, rounded to int8 and stored after that scale (a float32): 4 + d bytes (1,284 at d=1280,
half of float16's 2,560), for any model, with nothing to train. Decoding squares back.

Why the square root: CNN features are mostly tiny (58% of a Lite0 vector's coordinates are
under 1e-3) with a few large ones, and the clustering takes the square root of every value
(spectral.rooted), which magnifies errors in the tiny ones. Rounding the values themselves
moved the clustering features by 0.056 (median L2 error, flowers17); rounding their square
roots by 0.0072, and the vectors themselves by 0.008 (0.013 rounding the values): cosine
similarities move by about 1e-3 (recall@10 against exact float32 search: bench/vectors.py).

`Codes` holds many vectors as codes in one (n, 4 + d) uint8 array: 1.28 GB for a million
photos, where float32 would take 5.1 GB. It hands out float32 rows a sample or a chunk at a
time (`clustering.rows.Rows`), so nothing ever decodes them all at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

SCALE_BYTES = 4  # the little-endian float32 scale that opens each code
CODE_LEVELS = 127.0  # the largest |coordinate| becomes this
DECODE_CHUNK = 8_192  # rows decoded at a time: 42 MB of float32 at d=1280


def code_size(dim: int) -> int:
    """Bytes of one code of a `dim`-dimensional vector."""
    return SCALE_BYTES + dim


def encode(vectors: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Codes of the rows of `vectors`, (n, d), as an (n, 4 + d) uint8 array (module doc)."""
    values = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if not np.isfinite(values).all():
        raise ValueError("vectors contain NaN or infinite values; re-embed the affected photos")
    rows = np.sign(values) * np.sqrt(np.abs(values))
    peak = np.abs(rows).max(axis=1) if rows.shape[1] else np.zeros(len(rows), np.float32)
    scale = (peak / CODE_LEVELS).astype("<f4")
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    levels = np.clip(np.rint(rows / safe[:, None]), -CODE_LEVELS, CODE_LEVELS).astype(np.int8)
    codes = np.empty((len(rows), code_size(rows.shape[1])), dtype=np.uint8)
    codes[:, :SCALE_BYTES] = scale.view(np.uint8).reshape(len(rows), SCALE_BYTES)
    codes[:, SCALE_BYTES:] = levels.view(np.uint8)
    return codes


def decode(codes: NDArray[np.uint8], roots: bool = False) -> NDArray[np.float32]:
    """The float32 vectors of (n, 4 + d) codes; with `roots`, their values' signed square
    roots, which is what codes hold (and all the clustering features need)."""
    block = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    scale = np.ascontiguousarray(block[:, :SCALE_BYTES]).view("<f4").astype(np.float32)
    levels = block[:, SCALE_BYTES:].view(np.int8)
    out: NDArray[np.float32] = levels.astype(np.float32)
    out *= scale
    if not roots:
        out *= np.abs(out)
    return out


def to_code(vector: NDArray[np.float32]) -> bytes:
    """One vector's code, as the catalog stores it."""
    return bytes(encode(np.asarray(vector)[None, :])[0].tobytes())


def from_code(blob: bytes) -> NDArray[np.float32]:
    """The vector of one stored code."""
    vector: NDArray[np.float32] = decode(np.frombuffer(blob, dtype=np.uint8)[None, :])[0]
    return vector


class Codes:
    """Many vectors as codes, with their content ids; rows come out as float32 on demand."""

    def __init__(self, ids: NDArray[np.int64], codes: NDArray[np.uint8]) -> None:
        if codes.ndim != 2 or len(ids) != len(codes) or codes.shape[1] < SCALE_BYTES:
            raise ValueError(f"{len(ids)} ids for codes of shape {codes.shape}; one code per id")
        self.ids = ids
        self.codes = codes

    @classmethod
    def of(cls, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> Codes:
        """The codes of these vectors (encoded here: tests and benchmarks)."""
        return cls(np.asarray(ids, dtype=np.int64), encode(vectors))

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def dim(self) -> int:
        return int(self.codes.shape[1]) - SCALE_BYTES

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.ids.nbytes)

    def take(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """The float32 vectors of these rows (positions, not content ids)."""
        return decode(self.codes[rows])

    def chunks(
        self, roots: bool = False, size: int = DECODE_CHUNK
    ) -> Iterator[tuple[int, NDArray[np.float32]]]:
        """(first row, float32 rows) a chunk at a time, in order; with `roots`, the values'
        signed square roots."""
        for start in range(0, len(self.codes), size):
            yield start, decode(self.codes[start : start + size], roots)
