"""The stores: a library from before codes migrates on open and sorts and searches as before,
and a library keeps to the one model that made its vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
from autoalbum.library.codes import code_size, unpack
from autoalbum.library.library import Library
from autoalbum.library.schema import SCHEMA_VERSION
from autoalbum.library.stores import OLD_INDEX_NAME, ModelMismatchError, Stores
from colour_library import colour_photos, config, open_library, photo
from old_catalog import as_schema_5


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def _albums(library: Library) -> dict[str, list[str]]:
    """Album name -> its photos' names, nearest first, from the catalog."""
    names = {a.id: a.name for a in library.catalog.albums()}
    members = library.catalog.members()
    return {names[a]: [m.path.name for m in found] for a, found in members.items()}


def test_a_schema_5_library_migrates_on_open_and_sorts_and_searches_as_before(
    root: Path,
) -> None:
    with open_library(root) as library:
        library.index_files()
        albums = _albums(library)
        near = [(n.path.name, n.similarity) for n in library.similar(root / "photos" / "red1.png")]
        vectors = library.catalog.vectors(library.catalog.content_ids())
    state = root / "state"
    as_schema_5(state / "catalog.sqlite")
    (state / OLD_INDEX_NAME).write_bytes(b"the FAISS copy of every vector")
    with open_library(root) as library:
        catalog = library.catalog
        assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {row[1] for row in catalog.db.execute("PRAGMA table_info(contents)")}
        assert not columns & {"vector", "next_vector"}, "vectors are stored once"
        assert not (state / OLD_INDEX_NAME).exists()
        assert _albums(library) == albums
        again = [(n.path.name, n.similarity) for n in library.similar(root / "photos" / "red1.png")]
        assert [name for name, _ in again] == [name for name, _ in near]
        np.testing.assert_allclose([s for _, s in again], [s for _, s in near], atol=2e-3)
        np.testing.assert_allclose(catalog.vectors(catalog.content_ids()), vectors, atol=2e-3)
        library.recluster()
        assert sorted(map(sorted, _albums(library).values())) == sorted(
            map(sorted, albums.values())
        )
        photo(root / "photos" / "red9.png", "red", 9)
        assert library.index_files().embedded == 1


def test_a_switch_under_way_in_a_schema_5_library_keeps_its_next_vectors(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
        ids = library.catalog.content_ids()
        later = np.eye(48, dtype=np.float32)[: len(ids) // 2]
        with library.catalog.transaction():
            library.catalog.set_next_vectors(ids[: len(later)].tolist(), later)
    as_schema_5(root / "state" / "catalog.sqlite")
    with open_library(root) as library:
        assert library.catalog.count_next_vectors() == (len(later), len(ids))
        rows = library.catalog.db.execute("SELECT code FROM next_vectors ORDER BY content_id")
        assert [len(unpack(row[0])) for row in rows] == [code_size(48)] * len(later)


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
        assert len(library.catalog.content_ids()) == 12, "nothing of the other model got in"
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
