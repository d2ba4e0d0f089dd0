"""Search the library: the photos most like a given one, and groups of duplicates."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from autoalbum.embedding.embedder import Embedder
from autoalbum.embedding.pipeline import embed_paths
from autoalbum.errors import AutoalbumError
from autoalbum.library.records import Status
from autoalbum.library.stores import Stores

# Calibrated on flowers17: resized and re-encoded copies score >= 0.97, 5%-cropped copies
# about 0.95 (5th percentile 0.88), mirrored 0.95; distinct cat/dog photos never exceed 0.81.
NEAR_DUPLICATE_SIMILARITY = 0.90


@dataclass(frozen=True)
class DuplicateGroup:
    kind: str  # "identical" (same bytes) or "near" (resized, re-encoded, slightly cropped)
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Neighbour:
    path: Path
    similarity: float


class Search:
    """Finds photos by likeness among the live photos of the stores."""

    def __init__(self, stores: Stores, embedder: Embedder) -> None:
        self.stores = stores
        self.catalog = stores.catalog
        self.embedder = embedder  # lazy: loads the model only for a photo outside the library

    def _vector_of(self, image: Path) -> tuple[NDArray[np.float32], int | None]:
        record = self.catalog.file(image.absolute())
        if record is not None and record.status is Status.OK and record.content_id is not None:
            return self.stores.index.vectors(np.asarray([record.content_id]))[0], record.content_id
        result = embed_paths([image], self.embedder)
        if result.failures:
            raise AutoalbumError(f"cannot read {image}: {result.failures[0].reason}")
        return result.vectors[0], None

    def similar(self, image: Path, n: int = 10) -> list[Neighbour]:
        """The `n` photos most like `image` (which need not be in the library)."""
        vector, own = self._vector_of(image)
        index = self.stores.index
        live = set(self.catalog.content_ids(live_only=True).tolist())
        # The index keeps contents whose files are all gone; reach past every one of them.
        dead = len(index) - len(live)
        scores, ids = index.search(vector[None], n + 1 + max(dead, 0))
        found: list[Neighbour] = []
        for score, content in zip(scores[0], ids[0], strict=True):
            if content == own or int(content) not in live:
                continue
            found.extend(Neighbour(p, float(score)) for p in self.catalog.paths_of(int(content)))
        return found[:n]

    def duplicates(self, min_similarity: float = NEAR_DUPLICATE_SIMILARITY) -> list[DuplicateGroup]:
        """Groups of identical files, then groups of near-identical photos."""
        groups = [
            DuplicateGroup("identical", tuple(paths)) for paths in self.catalog.duplicate_groups()
        ]
        ids = self.catalog.content_ids(live_only=True)
        if len(ids) < 2:
            return groups
        index = self.stores.index
        position = {int(content): row for row, content in enumerate(ids)}
        rows, cols = [], []
        for row, (found, _scores) in enumerate(index.within(index.vectors(ids), min_similarity)):
            for other in found:
                if int(other) in position and position[int(other)] != row:
                    rows.append(row)
                    cols.append(position[int(other)])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), len(ids)))
        count, component = connected_components(graph, directed=False)
        members: dict[int, list[Path]] = defaultdict(list)
        sizes = np.bincount(component, minlength=count)
        for row, label in enumerate(component):
            if sizes[label] > 1:
                members[int(label)].extend(self.catalog.paths_of(int(ids[row])))
        groups.extend(DuplicateGroup("near", tuple(sorted(p))) for p in members.values())
        return groups
