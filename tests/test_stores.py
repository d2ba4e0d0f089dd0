"""The stores: the vector index is repaired from the catalog after a crash or a loss, and a
library keeps to the one model that made its vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
from autoalbum.library.library import Library
from autoalbum.library.stores import ModelMismatchError, Stores
from autoalbum.library.vectors import VECTOR_INDEX_NAME
from colour_library import colour_photos, config, open_library, photo


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


def _library(root: Path, model: OnnxEmbedder) -> Library:
    return Library(config(root), lambda: model)


@pytest.fixture(scope="module")
def lite2(model_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(bundled_model_spec("lite2"), Device.CPU)


def test_the_library_refuses_another_models_vectors(
    root: Path, embedder: OnnxEmbedder, lite2: OnnxEmbedder
) -> None:
    with _library(root, embedder) as library:
        library.index_files()
        assert library.catalog.meta("model") == embedder.identity.digest
    photo(root / "photos" / "new.png", "red", 50)
    with _library(root, lite2) as library, pytest.raises(ModelMismatchError) as refused:
        library.index_files()
    message = str(refused.value)
    assert f"made by {embedder.identity}" in message
    assert f"configured model is {lite2.identity}" in message
    assert "point library.state at a new folder" in message
    with _library(root, embedder) as library:
        assert len(library.index) == 12, "nothing of the other model got in"
        assert library.index_files().embedded == 1


def test_a_library_from_before_model_identities_adopts_a_model_of_its_dimension(
    root: Path, embedder: OnnxEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    with _library(root, embedder) as library:
        library.index_files()
        with library.catalog.transaction():  # as every library was: the dimension alone
            library.catalog.db.execute("DELETE FROM meta WHERE key IN ('model', 'model_title')")
    photo(root / "photos" / "new.png", "red", 50)
    with _library(root, embedder) as library:
        library.index_files()
        assert library.catalog.meta("model") == embedder.identity.digest
    assert "recorded no model; taking its 1280-d vectors as efficientnet-lite0" in caplog.text


def test_an_old_library_refuses_a_model_of_another_dimension(
    root: Path, embedder: OnnxEmbedder
) -> None:
    stores = Stores(root / "state")
    try:
        with stores.catalog.transaction():
            stores.catalog.set_meta("dim", "512")
        with pytest.raises(ModelMismatchError, match="made by a 512-d model"):
            stores.check_model_identity(embedder.identity)
    finally:
        stores.close()


def test_an_empty_library_takes_whichever_model_comes(
    root: Path, embedder: OnnxEmbedder, lite2: OnnxEmbedder
) -> None:
    stores = Stores(root / "state")
    try:
        stores.check_model_identity(embedder.identity)
        stores.check_model_identity(lite2.identity)  # no vectors yet: nothing to mix with
        assert stores.catalog.meta("model_title") == "efficientnet-lite2"
    finally:
        stores.close()
