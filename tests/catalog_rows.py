"""Catalog rows written directly, as the indexer writes them: many photos' vectors without
embedding a photo (the search index's tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.embedder import normalise
from autoalbum.library.catalog import Catalog
from autoalbum.library.records import FileRecord, Status

DIM = 1280


def clustered(n: int, seed: int = 0) -> NDArray[np.float32]:
    """Non-negative unit vectors around 40 centres, like pooled CNN features."""
    rng = np.random.default_rng(seed)
    centres = np.maximum(rng.standard_normal((40, DIM)), 0)
    rows = centres[rng.integers(0, 40, n)] + 0.8 * np.abs(rng.standard_normal((n, DIM)))
    return normalise(rows.astype(np.float32))


def path_of(content: int) -> Path:
    return Path(f"/photos/{content:06d}.jpg")


def add_rows(state: Path, vectors: NDArray[np.float32], source: str = "") -> list[int]:
    """Contents and one present file each for these vectors, as the indexer writes them;
    their hashes name their `source` (another source: other photos under the same ids)."""
    with Catalog(state / "catalog.sqlite") as catalog, catalog.transaction():
        catalog.set_meta("dim", str(DIM))
        start = catalog.last_vector_id()
        ids = []
        for i, vector in enumerate(vectors, start=start + 1):
            digest = f"{source}{i:032x}"
            content = catalog.add_content(digest, vector, 0, f"{source}{i:031x}q")
            catalog.put_file(FileRecord(path_of(content), 1, 1, digest, Status.OK, None, content))
            ids.append(content)
    return ids
