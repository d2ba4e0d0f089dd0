"""Spherical k-means and the choice of k, on synthetic blobs and sklearn's digits."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_digits
from sklearn.metrics import silhouette_score

from autoalbum.clustering.clusters import (
    SPECTRAL_MIN_IMAGES,
    ClusterError,
    Method,
    choose_k,
    cluster,
    kmeans,
    silhouette,
    spectral,
)

SIZES = (40, 30, 20, 10)


def _unit(rows: NDArray[np.float64]) -> NDArray[np.float32]:
    unit: NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return unit


def _blobs(
    sizes: tuple[int, ...], dim: int = 1280, spread: float = 1.0, seed: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Shuffled, well-separated blobs on the unit sphere; truth is the blob's index in `sizes`."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((len(sizes), dim)))
    truth = np.repeat(np.arange(len(sizes)), sizes)
    noise = spread * rng.standard_normal((len(truth), dim)) / np.sqrt(dim)
    order = rng.permutation(len(truth))
    return _unit(centres[truth] + noise)[order], truth[order]


@pytest.fixture(scope="module")
def blobs() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    return _blobs(SIZES)


def test_kmeans_recovers_blobs_numbered_by_size(
    blobs: tuple[NDArray[np.float32], NDArray[np.int64]],
) -> None:
    vectors, truth = blobs
    result = kmeans(vectors, 4)
    assert result.k == 4
    # Blob sizes are distinct and in descending order, so album i must be exactly blob i.
    np.testing.assert_array_equal(result.labels, truth)
    assert result.labels.dtype == np.int64
    assert np.bincount(result.labels).tolist() == list(SIZES)


def test_kmeans_geometry_matches_numpy(
    blobs: tuple[NDArray[np.float32], NDArray[np.int64]],
) -> None:
    vectors, _ = blobs
    result = kmeans(vectors, 4)
    assert result.centroids.shape == (4, 1280) and result.centroids.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.centroids, axis=1), 1.0, atol=1e-5)
    similarity = vectors.astype(np.float64) @ result.centroids.T.astype(np.float64)
    np.testing.assert_array_equal(similarity.argmax(axis=1), result.labels)
    own = similarity[np.arange(len(vectors)), result.labels]
    np.testing.assert_allclose(result.distances, 1.0 - own, atol=1e-5)
    assert result.distances.dtype == np.float32
    squared = ((vectors - result.centroids[result.labels]) ** 2).sum()
    assert result.inertia == pytest.approx(float(squared), rel=1e-4)


def test_kmeans_is_deterministic_for_a_seed(
    blobs: tuple[NDArray[np.float32], NDArray[np.int64]],
) -> None:
    noisy, _ = _blobs(SIZES, spread=4.0, seed=1)
    first, second = kmeans(noisy, 6, seed=7), kmeans(noisy, 6, seed=7)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.centroids, second.centroids)
    assert first.inertia == second.inertia


def test_use_gpu_falls_back_to_the_cpu_build(
    blobs: tuple[NDArray[np.float32], NDArray[np.int64]],
) -> None:
    vectors, truth = blobs
    np.testing.assert_array_equal(kmeans(vectors, 4, use_gpu=True).labels, truth)


def test_equal_sizes_number_albums_by_first_member() -> None:
    vectors, truth = _blobs((15, 15, 15), seed=3)
    result = kmeans(vectors, 3)
    first_seen = list(dict.fromkeys(truth.tolist()))
    expected = np.array([first_seen.index(t) for t in truth])
    np.testing.assert_array_equal(result.labels, expected)


def test_kmeans_on_few_points_prints_no_faiss_warning(capfd: pytest.CaptureFixture[str]) -> None:
    vectors, _ = _blobs((3, 3, 2), dim=64)
    result = kmeans(vectors, 3)
    assert sorted(np.bincount(result.labels).tolist()) == [2, 3, 3]
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("k", "message"),
    [(5, "cannot make 5 albums from 3 images; use --k 3 or fewer"), (0, "use --k 1 or more")],
)
def test_kmeans_rejects_impossible_k(k: int, message: str) -> None:
    vectors, _ = _blobs((2, 1), dim=16)
    with pytest.raises(ValueError, match=message) as caught:
        kmeans(vectors, k)
    assert isinstance(caught.value, ClusterError)


def test_duplicate_photos_drop_empty_clusters() -> None:
    vectors = np.tile(_unit(np.eye(8)[:2]), (3, 1))
    result = kmeans(vectors, 4)
    assert result.k == 2 and result.centroids.shape == (2, 8)
    assert set(result.labels.tolist()) == {0, 1}


def test_choose_k_finds_four_blobs(blobs: tuple[NDArray[np.float32], NDArray[np.int64]]) -> None:
    vectors, _ = blobs
    choice = choose_k(vectors)
    assert choice.k == 4
    assert sorted(choice.scores) == list(range(2, 21))
    assert choice.score == choice.scores[4]
    assert choice.method == "silhouette gap"


def test_choose_k_bounds_k_by_the_number_of_images() -> None:
    vectors, _ = _blobs((3, 2), dim=32)
    choice = choose_k(vectors, 2, 20)
    assert sorted(choice.scores) == [2, 3, 4]
    assert (choice.k, choice.method) == (2, "silhouette")  # too few for the reference


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_sets_make_one_album(n: int) -> None:
    vectors = _unit(np.eye(4)[:n])
    choice = choose_k(vectors)
    assert (choice.k, choice.scores, choice.method) == (1, {}, "too few images")
    clustering, chosen = cluster(vectors, None)
    assert chosen == choice
    assert clustering.k == 1 and clustering.labels.tolist() == [0] * n


def test_identical_photos_make_one_album() -> None:
    clustering, choice = cluster(np.tile(_unit(np.eye(4)[:1]), (6, 1)), None)
    assert choice is not None and choice.k == 1
    assert clustering.k == 1 and clustering.distances == pytest.approx(0.0, abs=1e-6)


def test_cluster_reuses_the_chosen_fit(
    blobs: tuple[NDArray[np.float32], NDArray[np.int64]],
) -> None:
    vectors, truth = blobs
    clustering, choice = cluster(vectors, None, k_range=(2, 8), method=Method.KMEANS)
    assert choice is not None and choice.k == clustering.k == 4
    np.testing.assert_array_equal(clustering.labels, truth)
    given, none = cluster(vectors, 3)
    assert none is None and given.k == 3


def test_cluster_rejects_a_bad_range(blobs: tuple[NDArray[np.float32], NDArray[np.int64]]) -> None:
    with pytest.raises(ValueError, match="2 <= MIN <= MAX"):
        cluster(blobs[0], None, k_range=(5, 3))


def test_silhouette_matches_sklearn() -> None:
    vectors, _ = _blobs((12, 9, 1, 6), dim=24, spread=3.0)
    labels = kmeans(vectors, 4, seed=2).labels
    distances = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    expected = silhouette_score(vectors, labels, metric="cosine")
    assert silhouette(distances.astype(np.float32), labels) == pytest.approx(expected, abs=1e-5)


def test_choose_k_on_digits_is_near_ten_classes() -> None:
    digits = load_digits()
    vectors = _unit(digits.data.astype(np.float64))
    choice = choose_k(vectors)
    assert 5 <= choice.k <= 20, choice


def test_spectral_recovers_blobs_with_centres_in_embedding_space() -> None:
    vectors, truth = _blobs((150, 120, 90), dim=256, spread=1.2, seed=3)
    found = spectral(vectors, 3)
    mapping = {int(t): int(found.labels[truth == t][0]) for t in range(3)}
    np.testing.assert_array_equal(found.labels, [mapping[int(t)] for t in truth])
    np.testing.assert_allclose(np.linalg.norm(found.centroids, axis=1), 1.0, rtol=1e-5)
    own = found.centroids[found.labels]
    np.testing.assert_allclose(found.distances, 1 - np.sum(vectors * own, axis=1), atol=1e-5)
    assert np.bincount(found.labels).tolist() == [150, 120, 90], "numbered by size"


def test_spectral_falls_back_to_kmeans_on_small_sets() -> None:
    vectors, _ = _blobs((20, 20), dim=64)
    assert len(vectors) < SPECTRAL_MIN_IMAGES
    small = spectral(vectors, 2)
    np.testing.assert_array_equal(small.labels, kmeans(vectors, 2).labels)
