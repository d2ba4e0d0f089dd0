"""How the catalog stores a vector: one byte per dimension, and a range per vector.

Each coordinate is companded, its signed square root taken; the roots' range, lowest to highest,
is divided into LEVELS (127) steps and each root rounded to the nearest (a uint8). A code is that
range (two float32) and the d bytes: 8 + d bytes (1,288 at d=1280), for any model, with nothing
to train. Decoding squares back. A code carries its own range and step, so codes of any number
of steps decode alike: a catalog's older 255-step codes are recoded once (catalog.py).

Why the square root: CNN features are mostly tiny (58% of a Lite0 vector's coordinates are
under 1e-3) with a few large ones, and the clustering takes the square root of every value
(spectral.rooted), which magnifies errors in the tiny ones. Why a range rather than +-max: the
features are ReLU outputs, never negative, so a signed byte would waste half its levels. On
flowers17 (median L2 error of the clustering features / of the vectors): signed bytes of the
values 0.056 / 0.013, of their roots 0.0072 / 0.011, the roots' range 0.0036 / 0.0040 in 255
steps.

Why 127 steps, not 255: the codes are stored deflated, and fewer steps are fewer bits. On the
labelled sets' embeddings a code takes 538-820 bytes in 127 steps, 602-934 in 255; cosine
similarities move by at most 0.003 (0.001 in 255 steps; near copies are 0.90 alike), and the
automatic albums of the codes agree with float32's as well as float32's agree with themselves
moved by noise of norm 1e-3, the clustering's own sensitivity, on every set at 300 photos and
whole (bench/vectors.py quality, and --sample 300; 0.002 under it on the whole mixture), and
`similar` finds 99.2% of float32's top ten. 63 steps (473-714 bytes) did not at
300 photos: mnist and cifar10 agreed 0.60 / 0.63, against 0.73 / 0.74 under the noise.

The catalog stores each code deflated (`pack`, zlib's raw deflate with Huffman coding only:
no header, no checksum, no string matching, which finds little in these bytes and would cost
more than it saves): the levels of CNN features are far from uniform (half a Lite0 vector's
coordinates are exactly 0, most of the rest low). It is lossless: `unpack` gives back the very
bytes, so what the clustering and search read is the same. Nothing is trained: no dictionary,
no table shipped.

`Codes` holds many vectors as codes in one (n, 8 + d) uint8 array: 1.29 GB for a million
photos, where float32 would take 5.1 GB. It hands out float32 rows a sample or a chunk at a
time (`clustering.rows.Rows`), so nothing ever decodes them all at once.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import numpy as np
from numpy.typing import NDArray

HEADER_BYTES = 8  # the little-endian float32 lowest root and step that open each code
LEVELS = 127  # steps between the lowest and the highest root (module doc)
DECODE_CHUNK = 8_192  # rows decoded at a time: 42 MB of float32 at d=1280
RAW_DEFLATE = -15  # zlib's wbits for a bare deflate stream: no header, no checksum
UNPACK_BUFFER = 2_048  # the first output buffer of an unpack: a whole code at d <= 2040


def code_size(dim: int) -> int:
    """Bytes of one code of a `dim`-dimensional vector."""
    return HEADER_BYTES + dim


def encode(vectors: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Codes of the rows of `vectors`, (n, d), as an (n, 8 + d) uint8 array (module doc)."""
    values = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if not np.isfinite(values).all():
        raise ValueError("vectors contain NaN or infinite values; re-embed the affected photos")
    roots = np.sign(values) * np.sqrt(np.abs(values))
    empty = np.zeros(len(roots), np.float32)
    low = roots.min(axis=1) if roots.shape[1] else empty
    high = roots.max(axis=1) if roots.shape[1] else empty
    header = np.stack([low, (high - low) / LEVELS], axis=1).astype("<f4")
    step = np.where(header[:, 1] > 0, header[:, 1], 1.0).astype(np.float32)
    levels = np.rint((roots - header[:, :1]) / step[:, None])
    codes = np.empty((len(roots), code_size(roots.shape[1])), dtype=np.uint8)
    codes[:, :HEADER_BYTES] = header.view(np.uint8).reshape(len(roots), HEADER_BYTES)
    codes[:, HEADER_BYTES:] = np.clip(levels, 0, LEVELS)
    return codes


def decode(codes: NDArray[np.uint8], roots: bool = False) -> NDArray[np.float32]:
    """The float32 vectors of (n, 8 + d) codes; with `roots`, their values' signed square
    roots, which is what codes hold (and all the clustering features need)."""
    block = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
    header = np.ascontiguousarray(block[:, :HEADER_BYTES]).view("<f4").astype(np.float32)
    out: NDArray[np.float32] = block[:, HEADER_BYTES:].astype(np.float32)
    out *= header[:, 1:2]
    out += header[:, :1]
    if not roots:
        out *= np.abs(out)
    return out


def pack(code: bytes) -> bytes:
    """A code as the catalog stores it: deflated, Huffman coding only (module doc)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, RAW_DEFLATE, 8, zlib.Z_HUFFMAN_ONLY)
    return packer.compress(code) + packer.flush()


def unpack(blob: bytes) -> bytes:
    """The code of a stored blob, byte for byte what `pack` was given."""
    try:
        return zlib.decompress(blob, RAW_DEFLATE, UNPACK_BUFFER)
    except zlib.error as exc:
        raise ValueError(
            f"a vector in the catalog is damaged ({exc}); restore the catalog from a backup, or "
            "point library.state at a new folder and index the photos again"
        ) from exc


def unpack_all(blobs: Iterable[bytes]) -> NDArray[np.uint8]:
    """The codes of one or more stored (packed) blobs, all of one model, as an (n, 8 + d)
    array."""
    blobs = list(blobs)
    return np.frombuffer(b"".join(map(unpack, blobs)), np.uint8).reshape(len(blobs), -1)


def to_code(vector: NDArray[np.float32]) -> bytes:
    """One vector's code, packed as the catalog stores it."""
    return pack(encode(np.asarray(vector)[None, :])[0].tobytes())


def from_code(blob: bytes) -> NDArray[np.float32]:
    """The vector of one stored (packed) code."""
    code = np.frombuffer(unpack(blob), dtype=np.uint8)
    vector: NDArray[np.float32] = decode(code[None, :])[0]
    return vector


class Codes:
    """Many vectors as codes, with their content ids; rows come out as float32 on demand."""

    def __init__(self, ids: NDArray[np.int64], codes: NDArray[np.uint8]) -> None:
        if codes.ndim != 2 or len(ids) != len(codes) or codes.shape[1] < HEADER_BYTES:
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
        return int(self.codes.shape[1]) - HEADER_BYTES

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
