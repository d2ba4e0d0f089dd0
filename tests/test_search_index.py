"""The search index (library/search_index.py): a FAISS cache of the catalog's vectors that
`similar` and `duplicates` search, rebuilt when missing, damaged or of another model, caught up
from its watermark, and without the photos that are gone."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from autoalbum import faiss_gpu
from autoalbum.clustering.kmeans import fit
from autoalbum.embedding.embedder import normalise
from autoalbum.library import search_index
from autoalbum.library.catalog import Catalog
from autoalbum.library.codes import Codes
from autoalbum.library.near_pairs import cell_pairs
from autoalbum.library.records import FileRecord, Status
from autoalbum.library.search import Search, most_similar
from autoalbum.library.search_index import (
    IndexMeta,
    IndexUnusable,
    SearchIndex,
    refresh_search_index,
)
from autoalbum.library.stores import Stores
from autoalbum.service import search_refresh
from autoalbum.service.status import library_status
from catalog_rows import DIM, add_rows, clustered, path_of
from colour_library import (
    ColourEmbedder,
    colour_photos,
    config_file,
    open_library,
    photo,
)

PHOTOS = 2_400  # above INDEX_FROM


def _set_status(state: Path, contents: list[int], status: Status) -> None:
    with Catalog(state / "catalog.sqlite") as catalog, catalog.transaction():
        for content in contents:
            record = catalog.file(path_of(content))
            assert record is not None
            catalog.put_file(
                FileRecord(record.path, 1, 1, record.hash, status, None, record.content_id)
            )


@pytest.fixture
def library_state(tmp_path: Path) -> tuple[Path, NDArray[np.float32]]:
    state = tmp_path / "state"
    state.mkdir()
    vectors = clustered(PHOTOS)
    add_rows(state, vectors)
    return state, vectors


def _similar(state: Path, content: int, n: int = 10) -> list[int]:
    stores = Stores(state)
    try:
        found = Search(stores, None).similar(path_of(content), n)  # type: ignore[arg-type]
    finally:
        stores.close()
    return [int(p.stem) for p in (f.path for f in found)]


def _meta(state: Path) -> IndexMeta:
    return IndexMeta.read(state / search_index.META_NAME)


def _index_files(state: Path) -> list[Path]:
    return sorted(state.glob("search-index.*.faiss"))


def test_similar_through_the_index_matches_exact_search(
    library_state: tuple[Path, NDArray[np.float32]],
) -> None:
    state, vectors = library_state
    assert not (state / search_index.META_NAME).exists()
    exact = Codes.of(np.arange(1, PHOTOS + 1, dtype=np.int64), vectors)
    hits = []
    for content in range(1, PHOTOS + 1, PHOTOS // 20):
        query = normalise(exact.take(np.array([content - 1])))[0]
        truth, _ = most_similar([exact], query, 10, skip=content)
        hits.append(len(set(truth.tolist()) & set(_similar(state, content))) / 10)
    assert np.mean(hits) >= 0.95
    meta = _meta(state)
    assert meta.count == PHOTOS and meta.watermark == PHOTOS
    assert len(_index_files(state)) == 1  # built once, then read


def test_a_damaged_or_missing_index_is_rebuilt(
    library_state: tuple[Path, NDArray[np.float32]],
) -> None:
    state, _ = library_state
    before = _similar(state, 7)
    (index_file,) = _index_files(state)
    index_file.write_bytes(b"not an index" * 100)
    assert _similar(state, 7) == before
    (rebuilt,) = _index_files(state)
    assert rebuilt != index_file and _meta(state).count == PHOTOS
    (state / search_index.META_NAME).write_text("{", encoding="utf-8")
    assert _similar(state, 7) == before
    rebuilt.unlink(missing_ok=True)
    (state / search_index.META_NAME).unlink()
    assert _similar(state, 7) == before and _meta(state).count == PHOTOS


def test_a_stale_index_is_caught_up_from_its_watermark(
    library_state: tuple[Path, NDArray[np.float32]],
) -> None:
    state, vectors = library_state
    _similar(state, 1)
    (first_file,) = _index_files(state)
    near = normalise((vectors[0] + 0.02 * np.abs(vectors[1])).astype(np.float32)[None, :])
    (arrived,) = add_rows(state, near)
    # A search scans the rows past the watermark: the new photo is found, the file untouched.
    assert _similar(state, 1)[0] == arrived
    assert _index_files(state) == [first_file] and _meta(state).watermark == PHOTOS
    with Catalog(state / "catalog.sqlite") as catalog:
        opened = SearchIndex(catalog, state).refresh()
    assert opened.meta.watermark == arrived and _meta(state).count == PHOTOS + 1
    assert _index_files(state) != [first_file]
    assert _similar(state, 1)[0] == arrived


def test_photos_gone_are_left_out_and_taken_out_of_the_index(
    library_state: tuple[Path, NDArray[np.float32]],
) -> None:
    state, _ = library_state
    before = _similar(state, 3, n=5)
    gone = before[:3]
    _set_status(state, gone, Status.MISSING)
    after = _similar(state, 3, n=5)
    assert len(after) == 5 and not set(gone) & set(after)
    with Catalog(state / "catalog.sqlite") as catalog:
        SearchIndex(catalog, state).refresh()
    assert _meta(state).count == PHOTOS - 3 and sorted(_meta(state).removed) == sorted(gone)
    _set_status(state, gone, Status.OK)  # back again: put back into the index
    with Catalog(state / "catalog.sqlite") as catalog:
        SearchIndex(catalog, state).refresh()
    assert _meta(state).count == PHOTOS and _meta(state).removed == []
    assert _similar(state, 3, n=5) == before


def test_another_models_index_is_rebuilt(
    library_state: tuple[Path, NDArray[np.float32]],
) -> None:
    state, _ = library_state
    _similar(state, 1)
    with Catalog(state / "catalog.sqlite") as catalog:
        catalog.set_meta("model", "another-model-digest")
        catalog.db.commit()
        with pytest.raises(IndexUnusable, match="another"):
            SearchIndex(catalog, state).read(mapped=True)
    _similar(state, 1)
    assert _meta(state).model == "another-model-digest"


def test_the_daemon_refreshes_the_file_when_it_is_due(
    library_state: tuple[Path, NDArray[np.float32]], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, vectors = library_state
    monkeypatch.setattr(search_index, "REFRESH_ROWS", 5)
    with Catalog(state / "catalog.sqlite") as catalog:
        index = SearchIndex(catalog, state)
        assert index.due(now=0.0)  # no file yet, and big enough
        index.refresh()
        assert not index.due(now=0.0)
    add_rows(state, vectors[:3])
    with Catalog(state / "catalog.sqlite") as catalog:
        index = SearchIndex(catalog, state)
        modified = (state / search_index.META_NAME).stat().st_mtime
        assert not index.due(now=modified + 1)  # 3 rows behind, written just now
        assert index.due(now=modified + search_index.REFRESH_SECONDS + 1)
    add_rows(state, vectors[3:6])
    with Catalog(state / "catalog.sqlite") as catalog:
        assert SearchIndex(catalog, state).due(now=modified + 1)  # 6 rows behind


def test_a_small_library_has_no_index(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    add_rows(state, clustered(50))
    assert _similar(state, 1, n=3)
    with Catalog(state / "catalog.sqlite") as catalog:
        assert SearchIndex(catalog, state).for_search() is None
        assert not SearchIndex(catalog, state).due(now=0.0)
    assert not (state / search_index.META_NAME).exists()


def test_near_duplicates_through_the_index_are_not_chained(tmp_path: Path) -> None:
    """A~B and B~C, A and C not near: two groups, never A, B and C together."""
    state = tmp_path / "state"
    state.mkdir()
    rng = np.random.default_rng(3)
    base = clustered(PHOTOS, seed=1)
    a = normalise(np.maximum(rng.standard_normal((1, DIM)), 0).astype(np.float32))[0]
    u = np.maximum(rng.standard_normal(DIM), 0).astype(np.float32)
    u = normalise((u - (u @ a) * a)[None, :])[0]  # orthogonal to a
    angle = np.arccos(0.93)  # A~B and B~C at 0.93, A and C at 0.73
    chain = np.stack([np.cos(t * angle) * a + np.sin(t * angle) * u for t in range(3)])
    chain = normalise(chain.astype(np.float32))
    sims = chain @ chain.T
    assert sims[0, 1] > 0.9 and sims[1, 2] > 0.9 and sims[0, 2] < 0.9
    twins = normalise(np.stack([base[0], base[0] + 0.05 * np.abs(base[1])]).astype(np.float32))
    add_rows(state, np.vstack([base[2:], chain, twins]))
    stores = Stores(state)
    try:
        shown: dict[int, int] = {}

        def progress(total: int) -> Callable[[int], None]:
            shown[total] = 0

            def advance(done: int) -> None:
                shown[total] += done

            return advance

        groups = Search(stores, None).duplicates(progress=progress)  # type: ignore[arg-type]
    finally:
        stores.close()
    assert (state / search_index.META_NAME).exists()  # searched through the index
    count = PHOTOS + 3  # the base less 2, the chain of 3, the 2 twins
    assert shown == {count: count, 2 * count: 2 * count}  # the index built, then both passes
    near = [sorted(int(p.stem) for p in g.paths) for g in groups if g.kind == "near"]
    a_id, b_id, c_id = PHOTOS - 2 + 1, PHOTOS - 2 + 2, PHOTOS - 2 + 3
    twin_ids = [PHOTOS + 2, PHOTOS + 3]
    assert twin_ids in near
    chained = [g for g in near if b_id in g]
    assert len(chained) == 1 and chained[0] in ([a_id, b_id], [b_id, c_id])
    assert not any(a_id in g and c_id in g for g in near)


def test_without_a_gpu_faiss_work_falls_back_to_the_cpu() -> None:
    """faiss-cpu (CI) has no GPU functions: wanting a GPU changes nothing."""
    assert not faiss_gpu.use_gpu(True) and not faiss_gpu.use_gpu(False)
    x = clustered(600, seed=4)
    a, b = x[:300], x[300:]
    assert np.array_equal(faiss_gpu.inner_products(a, b, True), a @ b.T)
    index = search_index.new_index(x, len(x))
    index.add(x)
    chunks = [Codes.of(np.arange(600, dtype=np.int64), x)]
    cpu = cell_pairs(chunks, 600, search_index.parts(index), 0.5, lambda _: None, False)
    wanted = cell_pairs(chunks, 600, search_index.parts(index), 0.5, lambda _: None, True)
    assert len(cpu[0]) and all(np.array_equal(c, w) for c, w in zip(cpu, wanted, strict=True))
    centroids, labels = fit(x, 4, seed=0, n_init=1, iterations=5, use_gpu=True)
    assert centroids.shape == (4, DIM) and len(np.unique(labels)) == 4


def test_with_a_gpu_the_products_go_to_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where FAISS sees a GPU, the duplicates join hands its products to FAISS's GPU
    function (stood in for here: no GPU in CI), and gets the same pairs."""
    import faiss

    calls: list[tuple[int, int]] = []

    def on_gpu(_: object, xq: NDArray[np.float32], xb: NDArray[np.float32], metric: int) -> object:
        assert metric == faiss.METRIC_INNER_PRODUCT
        calls.append((len(xq), len(xb)))
        return xq @ xb.T

    faiss_gpu._gpus.cache_clear()
    faiss_gpu._resources.cache_clear()
    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "pairwise_distance_gpu", on_gpu, raising=False)
    try:
        x = clustered(600, seed=5)
        index = search_index.new_index(x, len(x))
        chunks = [Codes.of(np.arange(600, dtype=np.int64), x)]
        found = cell_pairs(chunks, 600, search_index.parts(index), 0.5, lambda _: None, True)
        assert calls and faiss_gpu.use_gpu(True) and not faiss_gpu.use_gpu(False)
        calls.clear()
        cpu = cell_pairs(chunks, 600, search_index.parts(index), 0.5, lambda _: None, False)
        assert not calls
        assert all(np.array_equal(g, c) for g, c in zip(found, cpu, strict=True))
    finally:
        faiss_gpu._gpus.cache_clear()
        faiss_gpu._resources.cache_clear()


def test_a_library_keeps_its_index_and_finds_a_photo_by_its_album_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's idle step builds the file, then leaves it until photos arrive; `similar`
    takes a link in the album tree as its photo, without embedding anything."""
    monkeypatch.setattr(search_index, "INDEX_FROM", 1)
    monkeypatch.setattr(search_index, "REFRESH_ROWS", 2)
    colour_photos(tmp_path)
    embedder = ColourEmbedder()
    with open_library(tmp_path, embedder) as library:
        library.index_files()
        library.write_tree()
        assert library.search_index_due(time.time())
        refresh_search_index(tmp_path / "state")  # as the daemon's thread does
        assert not library.search_index_due(time.time())
        photo(tmp_path / "photos" / "red-new.png", "red", 50)
        photo(tmp_path / "photos" / "red-newer.png", "red", 51)
        library.index_files()
        assert library.search_index_due(time.time())
        refresh_search_index(tmp_path / "state")
        assert _meta(tmp_path / "state").count == 14
        link = next(p for p in (tmp_path / "albums").rglob("red0.png") if p.is_symlink())
        seen = embedder.images_seen
        found = library.similar(link, n=3)
    assert embedder.images_seen == seen
    assert all(n.path.name.startswith("red") for n in found) and len(found) == 3
    assert "red0.png" not in {n.path.name for n in found}


def test_status_tells_what_the_search_index_holds(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    add_rows(state, clustered(PHOTOS))
    config = config_file(tmp_path)
    assert "search index: none yet" in library_status(config)
    with Catalog(state / "catalog.sqlite") as catalog:
        SearchIndex(catalog, state).refresh()
    add_rows(state, clustered(5, seed=9))
    shown = library_status(config)
    assert f"search index: {PHOTOS:,} photos, written " in shown
    assert "5 newer photos scanned until it is next written" in shown


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux's SCHED_IDLE")
def test_the_daemons_index_process_yields_the_cpu_to_everything_else() -> None:
    """The process that brings the search index up to date runs every thread at SCHED_IDLE,
    numpy's BLAS threads (started on import) too; the daemon keeps its priority."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        before, after = pool.apply(_idle_policies)
    assert len(after) >= 2 and set(after) == {os.SCHED_IDLE} and os.SCHED_IDLE not in before
    assert os.SCHED_IDLE not in search_refresh._policies()  # this process, untouched


def _idle_policies() -> tuple[list[int], list[int]]:
    """In a spawned child: its threads' policies, then after idle_priority."""
    import numpy  # noqa: F401  (its BLAS threads)

    before = search_refresh._policies()
    search_refresh.idle_priority()
    return before, search_refresh._policies()


def test_an_index_of_another_catalog_is_rebuilt(tmp_path: Path) -> None:
    """A catalog copy put back (autoalbum restore) gives the ids past its end to other photos:
    an index made before, whose watermark those ids reach again, is not used."""
    state = tmp_path / "state"
    state.mkdir()
    add_rows(state, clustered(2_000))
    shutil.copy(state / "catalog.sqlite", tmp_path / "kept.sqlite")
    add_rows(state, clustered(400, seed=1))
    with Catalog(state / "catalog.sqlite") as catalog:
        SearchIndex(catalog, state).refresh()
    for name in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (state / name).unlink(missing_ok=True)
    shutil.copy(tmp_path / "kept.sqlite", state / "catalog.sqlite")
    add_rows(state, clustered(405, seed=2), source="other")  # under ids 2,001 to 2,405
    with Catalog(state / "catalog.sqlite") as catalog:
        with pytest.raises(IndexUnusable, match="another catalog"):
            SearchIndex(catalog, state).read(mapped=True)
        assert SearchIndex(catalog, state).for_search() is not None  # built anew
    assert _meta(state).watermark == 2_405 and _meta(state).count == 2_405


def test_a_vector_embedded_again_after_the_index_was_made_gets_it_rebuilt(
    library_state: tuple[Path, NDArray[np.float32]],
) -> None:
    """A restored catalog embeds again the photos whose vectors the damaged one lost, under
    their old ids, below the watermark: an index made before they were back lacks them."""
    state, vectors = library_state
    with Catalog(state / "catalog.sqlite") as catalog:
        catalog.db.execute("DELETE FROM vectors WHERE content_id = 7")  # lost with the damage
        SearchIndex(catalog, state).refresh()
        catalog.refill_vector(7, vectors[6])
        with pytest.raises(IndexUnusable, match="embedded again"):
            SearchIndex(catalog, state).read(mapped=True)
    near = normalise((vectors[6] + 0.01 * np.abs(vectors[7])).astype(np.float32)[None, :])
    (arrived,) = add_rows(state, near)
    with Catalog(state / "catalog.sqlite") as catalog:
        assert SearchIndex(catalog, state).for_search() is not None  # built anew
    assert _meta(state).count == PHOTOS + 1
    assert 7 in _similar(state, arrived)[:1]
