"""Photos whose vectors a test chooses: photo i is one flat colour that encodes i, and a
stand-in model gives it vectors[i] (for clustering tests through `sort` and the library)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from autoalbum.embedding.embedder import Embeddings


class IndexedEmbedder:
    """Stand-in model: photo i is one flat colour that encodes i; its vector is vectors[i]."""

    input_size = 16

    def __init__(self, vectors: NDArray[np.float32]) -> None:
        self.vectors = vectors
        # as `evaluate` names (and caches) an embedder's vectors: one name per set of vectors
        self.name = "indexed-" + hashlib.sha256(vectors.tobytes()).hexdigest()[:16]

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        centre = images[:, 8, 8].astype(np.int64)
        return Embeddings(self.vectors[centre[:, 0] + 256 * centre[:, 1]], None, None)


def indexed_photos(folder: Path, count: int, classes: list[str] | None = None) -> Path:
    """`count` photos in `folder` for IndexedEmbedder: photo i's colour encodes i; with
    `classes`, photo i lies in the subfolder classes[i]."""
    folder.mkdir(parents=True)
    for i in range(count):
        colour = (i % 256, i // 256, 0)
        into = folder if classes is None else folder / classes[i]
        into.mkdir(exist_ok=True)
        Image.new("RGB", (32, 32), colour).save(into / f"photo{i:03d}.png")
    return folder
