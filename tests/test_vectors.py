"""The float16 FAISS vector index: search, replace, remove, persistence, repair, memory."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from autoalbum.library import vectors as vectors_module
from autoalbum.library.vectors import Repair, VectorIndex

DIM = 64
FP16_TOLERANCE = 1e-3


def _unit(rows: NDArray[np.float64]) -> NDArray[np.float32]:
    unit: NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return unit


def _random(n: int, dim: int = DIM, seed: int = 0) -> NDArray[np.float32]:
    return _unit(np.random.default_rng(seed).standard_normal((n, dim)))


def _filled(
    n: int = 300, seed: int = 0
) -> tuple[VectorIndex, NDArray[np.int64], NDArray[np.float32]]:
    """An index holding `n` random vectors under ids 1000, 1003, 1006, ..."""
    index = VectorIndex(DIM)
    ids = 1000 + 3 * np.arange(n, dtype=np.int64)
    rows = _random(n, seed=seed)
    index.add(ids, rows)
    return index, ids, rows


def test_search_finds_exact_neighbours_with_fp16_similarities() -> None:
    index, ids, rows = _filled()
    queries = _random(5, seed=1)
    similarities, found = index.search(queries, 10)
    assert similarities.shape == found.shape == (5, 10)
    exact = queries @ rows.T
    best = -np.sort(-exact, axis=1)[:, :10]
    np.testing.assert_allclose(similarities, best, atol=FP16_TOLERANCE)
    by_id = dict(zip(ids.tolist(), range(len(ids)), strict=True))
    for q, (sims, keys) in enumerate(zip(similarities, found, strict=True)):
        true = exact[q, [by_id[int(key)] for key in keys]]
        np.testing.assert_allclose(sims, true, atol=FP16_TOLERANCE)
        assert np.all(np.diff(sims) <= 0)


def test_stored_vector_finds_itself_first() -> None:
    index, ids, rows = _filled()
    similarities, found = index.search(rows[:20], 1)
    np.testing.assert_array_equal(found[:, 0], ids[:20])
    np.testing.assert_allclose(similarities[:, 0], 1.0, atol=FP16_TOLERANCE)


def test_search_pads_with_minus_one_when_too_few() -> None:
    index, ids, rows = _filled(3)
    similarities, found = index.search(rows[:1], 5)
    assert sorted(found[0, :3].tolist()) == sorted(ids.tolist())
    assert found[0, 3:].tolist() == [-1, -1]
    assert np.isneginf(similarities[0, 3:]).all()
    _, nothing = VectorIndex(DIM).search(rows[:1], 2)
    assert nothing.tolist() == [[-1, -1]]


def test_adding_a_present_id_replaces_its_vector() -> None:
    index, ids, _ = _filled(10)
    replacement = _random(1, seed=9)
    index.add(ids[[4]], replacement)
    assert len(index) == 10
    np.testing.assert_allclose(index.vectors(ids[[4]]), replacement, atol=FP16_TOLERANCE)
    _, found = index.search(replacement, 1)
    assert found[0, 0] == ids[4]
    assert index.ids().tolist() == ids.tolist()


def test_remove_drops_ids_and_ignores_unknown_ones() -> None:
    index, ids, rows = _filled(20)
    assert index.remove(np.array([ids[2], ids[5], 7, ids[2]], dtype=np.int64)) == 2
    assert len(index) == 18
    assert int(ids[2]) not in index
    assert int(ids[3]) in index
    assert np.int64(ids[3]) in index
    assert "1009" not in index
    _, found = index.search(rows, 18)
    assert not np.isin(found, ids[[2, 5]]).any()
    assert index.remove(np.array([], dtype=np.int64)) == 0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index, ids, _ = _filled()
    path = tmp_path / "vectors.faiss"
    index.save(path)
    index.save(path)  # overwriting works too
    loaded = VectorIndex.load(path, DIM)
    np.testing.assert_array_equal(loaded.ids(), ids)
    queries = _random(4, seed=2)
    for before, after in zip(index.search(queries, 7), loaded.search(queries, 7), strict=True):
        np.testing.assert_array_equal(before, after)
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.faiss"]


def test_missing_file_loads_empty(tmp_path: Path) -> None:
    assert len(VectorIndex.load(tmp_path / "absent.faiss", DIM)) == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_loads_empty_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    path = tmp_path / "vectors.faiss"
    _filled()[0].save(path)
    data = path.read_bytes()
    path.write_bytes(b"not an index at all" if damage == "garbage" else data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="autoalbum.library.vectors"):
        loaded = VectorIndex.load(path, DIM)
    assert len(loaded) == 0
    assert "ignoring vector index" in caplog.text
    assert str(path) in caplog.text


def test_wrong_dim_loads_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "vectors.faiss"
    _filled()[0].save(path)
    with caplog.at_level(logging.WARNING, logger="autoalbum.library.vectors"):
        loaded = VectorIndex.load(path, DIM * 2)
    assert len(loaded) == 0
    assert loaded.dim == DIM * 2
    assert "64-d" in caplog.text


def test_repair_adds_missing_and_removes_extras_in_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vectors_module, "REPAIR_CHUNK", 3)
    truth = np.arange(5, 16, dtype=np.int64)
    catalog = dict(zip(truth.tolist(), _random(len(truth), seed=3), strict=True))
    index = VectorIndex(DIM)
    index.add(np.arange(1, 11, dtype=np.int64), _random(10, seed=4))
    calls: list[list[int]] = []

    def fetch(ids: NDArray[np.int64]) -> NDArray[np.float32]:
        calls.append(ids.tolist())
        return np.stack([catalog[int(i)] for i in ids])

    assert index.repair(truth, fetch) == Repair(added=5, removed=4)
    np.testing.assert_array_equal(index.ids(), truth)
    assert sorted(i for call in calls for i in call) == [11, 12, 13, 14, 15]
    assert max(len(call) for call in calls) == 3
    np.testing.assert_allclose(
        index.vectors(np.array([12], dtype=np.int64))[0], catalog[12], atol=FP16_TOLERANCE
    )
    assert index.repair(truth, fetch) == Repair(added=0, removed=0)


def test_repair_rejects_a_fetch_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="one 64-d vector per id"):
        VectorIndex(DIM).repair(np.arange(3, dtype=np.int64), lambda ids: _random(2))


def test_within_keeps_similarities_at_or_above_the_threshold() -> None:
    query = np.zeros((1, DIM), dtype=np.float32)
    query[0, 0] = 1.0
    cosines = np.array([0.5, 0.95, 0.2, 0.8])  # 0.5 is exact in float16: tests the boundary
    rows = np.zeros((4, DIM), dtype=np.float32)
    rows[:, 0], rows[:, 1] = cosines, np.sqrt(1 - cosines**2)
    index = VectorIndex(DIM)
    index.add(np.array([10, 11, 12, 13], dtype=np.int64), rows)
    [(ids, sims)] = index.within(query, 0.5)
    assert ids.tolist() == [11, 13, 10]
    np.testing.assert_allclose(sims, [0.95, 0.8, 0.5], atol=FP16_TOLERANCE)
    [(ids, _)] = index.within(query, 0.9)
    assert ids.tolist() == [11]
    both = index.within(np.concatenate([query, -query]), 0.99)
    assert [len(found) for found, _ in both] == [0, 0]


def test_vectors_and_all_vectors_round_trip() -> None:
    index, ids, rows = _filled()
    picked = ids[[7, 0, 42]]
    np.testing.assert_allclose(index.vectors(picked), rows[[7, 0, 42]], atol=FP16_TOLERANCE)
    all_ids, all_rows = index.all_vectors()
    order = np.argsort(all_ids)
    np.testing.assert_array_equal(all_ids[order], ids)
    np.testing.assert_allclose(all_rows[order], rows, atol=FP16_TOLERANCE)
    with pytest.raises(KeyError, match="id 999 is not in the vector index"):
        index.vectors(np.array([ids[0], 999], dtype=np.int64))
    empty_ids, empty_rows = VectorIndex(DIM).all_vectors()
    assert empty_ids.shape == (0,) and empty_rows.shape == (0, DIM)


def test_memory_per_vector_is_float16(tmp_path: Path) -> None:
    dim, n = 1280, 2000
    index = VectorIndex(dim)
    index.add(np.arange(n, dtype=np.int64), _random(n, dim))
    path = tmp_path / "vectors.faiss"
    index.save(path)  # the file is faiss.serialize_index's bytes
    per_vector = path.stat().st_size / n
    assert per_vector <= 2700, f"{per_vector:.0f} bytes per vector; expected ~2 * {dim} + 8"


@pytest.mark.parametrize(
    ("ids", "rows", "message"),
    [
        ([1, 2], _random(3), "got 2 ids for 3 vectors"),
        ([1, 1], _random(2), "ids repeat"),
        ([-5], _random(1), "must be >= 0"),
        ([1.5], _random(1), "integer array"),
        ([1], _random(1, DIM + 1), r"\(n, 64\) array"),
        ([1], 2 * _random(1), "L2-normalised"),
        ([1], np.full((1, DIM), np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_add_rejects_bad_input(ids: list[float], rows: NDArray[np.float32], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VectorIndex(DIM).add(np.array(ids), rows)


def test_search_rejects_a_single_flat_vector() -> None:
    with pytest.raises(ValueError, match=r"vector\[None, :\]"):
        _filled(5)[0].search(_random(1)[0], 1)


def test_searches_while_another_thread_adds() -> None:
    index, _, _ = _filled(50)
    queries = _random(3, seed=5)
    errors: list[BaseException] = []

    def add_more() -> None:
        try:
            for batch in range(20):
                ids = 10_000 + 10 * batch + np.arange(10, dtype=np.int64)
                index.add(ids, _random(10, seed=100 + batch))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    writer = threading.Thread(target=add_more)
    writer.start()
    for _ in range(50):
        _, found = index.search(queries, 5)
        assert (found >= 0).all()
    writer.join()
    assert not errors
    assert len(index) == 250
