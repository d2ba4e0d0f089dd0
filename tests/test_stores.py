"""The stores: the vector index is repaired from the catalog after a crash or a loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoalbum.library.vectors import VECTOR_INDEX_NAME
from colour_library import colour_photos, open_library, photo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def test_catalog_and_index_agree_after_a_crash(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    saved = (root / "state" / VECTOR_INDEX_NAME).read_bytes()
    for i in range(3):
        photo(root / "photos" / f"new{i}.png", "red", 50 + i)
    with open_library(root) as library:
        library.index_files()
    # The crash: the catalog committed the new photos, the index file never got them.
    (root / "state" / VECTOR_INDEX_NAME).write_bytes(saved)
    with open_library(root) as library:
        assert list(library.index.ids()) == list(library.catalog.content_ids())
        assert len(library.index) == 15


def test_lost_index_file_is_rebuilt(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    (root / "state" / VECTOR_INDEX_NAME).write_bytes(b"garbage")
    with open_library(root) as library:
        assert len(library.index) == 12
        np.testing.assert_allclose(
            library.index.vectors(library.catalog.content_ids()),
            library.catalog.vectors(library.catalog.content_ids()),
            atol=1e-3,
        )
