"""A library's two stores, opened together: the catalog (SQLite), which is the truth, and the
vector index (FAISS), which is repaired from the catalog when a crash left it behind."""

from __future__ import annotations

import logging
from pathlib import Path

from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import CATALOG_NAME, Catalog
from autoalbum.library.vectors import VECTOR_INDEX_NAME, VectorIndex

log = logging.getLogger(__name__)


class Stores:
    """The catalog and vector index in one state folder; the parts of a library share one."""

    def __init__(self, state: Path, *, load_index: bool = True) -> None:
        self.state = state
        self.catalog = Catalog(state / CATALOG_NAME)
        # A background recluster reads vectors from the catalog and needs no index.
        self.index = self._load_index() if load_index else VectorIndex(1)

    def close(self) -> None:
        self.catalog.close()

    def save_index(self) -> None:
        """Write the vector index if vectors came since the last save: a whole-file rewrite,
        so callers do it at the end of a run or every so often, not per chunk."""
        if self.index.changed:
            self.index.save(self.state / VECTOR_INDEX_NAME)

    def _load_index(self) -> VectorIndex:
        dim = int(self.catalog.meta("dim") or 0)
        index = VectorIndex.load(self.state / VECTOR_INDEX_NAME, dim) if dim else VectorIndex(1)
        if dim:
            repair = index.repair(self.catalog.content_ids(), self.catalog.vectors)
            if repair.added or repair.removed:
                log.warning(
                    "repaired the vector index from the catalog: %d added, %d removed",
                    repair.added, repair.removed,
                )  # fmt: skip
                index.save(self.state / VECTOR_INDEX_NAME)
        return index

    def check_model(self, dim: int) -> None:
        """Vectors of one library must come from one model: refuse a silent mix."""
        if not dim:
            return
        stored = int(self.catalog.meta("dim") or 0)
        if stored and stored != dim:
            raise AutoalbumError(
                f"the library in {self.state} holds {stored}-d vectors but the model gives "
                f"{dim}-d ones; use a new library.state folder for a different model"
            )
        if not stored:
            with self.catalog.transaction():
                self.catalog.set_meta("dim", str(dim))
            self.index = VectorIndex(dim)
