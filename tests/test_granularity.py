"""choose_albums on synthetic data: separated blobs each get an album, one diffuse blob stays
whole, and the granularity knob only ever adds albums."""

from __future__ import annotations

import numpy as np
import pytest

from autoalbum.clustering.granularity import choose_albums, parse_granularity, threshold
from autoalbum.embedding.embedder import normalise


def _blobs(sizes: list[int], spreads: list[float], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs around random directions in 1280-d, projected onto the sphere."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for label, (size, spread) in enumerate(zip(sizes, spreads, strict=True)):
        centre = normalise(rng.standard_normal((1, 1280)).astype(np.float32))
        noise = rng.standard_normal((size, 1280)).astype(np.float32) * spread / np.sqrt(1280)
        rows.append(normalise(centre + noise))
        labels += [label] * size
    return np.concatenate(rows), np.array(labels)


def test_separated_blobs_of_unequal_density_each_get_an_album() -> None:
    vectors, truth = _blobs([400, 250, 120, 80], [0.4, 0.7, 0.5, 0.9])
    clustering, choice = choose_albums(vectors, k_range=(1, 60))
    assert clustering.k == 4 and choice.k == 4
    for label in range(4):
        assert len(np.unique(clustering.labels[truth == label])) == 1


def test_one_diffuse_blob_is_not_split() -> None:
    vectors, _ = _blobs([800], [1.5])
    clustering, _ = choose_albums(vectors, k_range=(1, 60))
    assert clustering.k == 1


def test_k_range_is_respected() -> None:
    vectors, _ = _blobs([100] * 6, [0.5] * 6, seed=1)
    assert choose_albums(vectors, k_range=(1, 3))[0].k == 3
    assert choose_albums(_blobs([600], [1.5])[0], k_range=(2, 60))[0].k == 2


def test_granularity_is_monotone() -> None:
    vectors, _ = _blobs([300, 300, 150, 150, 100], [0.9, 1.1, 1.0, 1.3, 1.2], seed=2)
    ks = [choose_albums(vectors, granularity=g, k_range=(1, 60))[0].k for g in (-2, -1, 0, 1, 2)]
    assert ks == sorted(ks)
    assert threshold(-1) < threshold(0) < threshold(1)


@pytest.mark.parametrize(("value", "expected"), [("coarser", -1.0), ("auto", 0.0), ("0.5", 0.5)])
def test_named_granularity(value: str, expected: float) -> None:
    assert parse_granularity(value) == expected
