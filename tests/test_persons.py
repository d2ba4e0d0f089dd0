"""Faces into persons, on synthetic 128-d descriptors at dlib's scales."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
from numpy.typing import NDArray

from autoalbum.faces.persons import (
    CLUSTER_DISTANCE,
    MATCH_DISTANCE,
    MIN_FACES,
    cluster_faces,
    nearest_person,
    nearest_persons,
)

DIM = 128
CENTRE_SCALE = 1.0 / np.sqrt(2 * DIM)  # two random centres lie about 1.0 apart (dlib: > 0.8)
FACE_SPREAD = 0.3  # a face lies about this far from its person's centre


def centres(count: int, seed: int = 0) -> NDArray[np.float64]:
    return np.random.default_rng(seed).normal(0, CENTRE_SCALE, (count, DIM))


def faces_around(
    centre: NDArray[np.float64], count: int, seed: int, spread: float = FACE_SPREAD
) -> NDArray[np.float32]:
    noise = np.random.default_rng(seed).normal(0, spread / np.sqrt(DIM), (count, DIM))
    return (centre + noise).astype(np.float32)


def at_distance(centre: NDArray[np.float64], distance: float, seed: int) -> NDArray[np.float64]:
    step = np.random.default_rng(seed).normal(size=DIM)
    return centre + distance * step / np.linalg.norm(step)


def library(
    persons: int, faces: int, outliers: int, seed: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """persons x faces descriptors, then outliers far from all; truth -1 for the outliers."""
    points = centres(persons + outliers, seed)
    parts = [faces_around(points[p], faces, seed * 1000 + p) for p in range(persons)]
    parts.append(points[persons:].astype(np.float32))
    truth = np.concatenate([np.repeat(np.arange(persons), faces), np.full(outliers, -1)])
    return np.concatenate(parts), truth.astype(np.int64)


def same_partition(labels: NDArray[np.int64], truth: NDArray[np.int64]) -> bool:
    """Labels equal truth up to renaming (-1 must stay -1)."""
    if not np.array_equal(labels < 0, truth < 0):
        return False
    pairs = set(zip(labels[truth >= 0].tolist(), truth[truth >= 0].tolist(), strict=True))
    return len(pairs) == len(set(labels[truth >= 0].tolist())) == len(set(truth[truth >= 0]))


def test_persons_recovered_and_outliers_left_out() -> None:
    descriptors, truth = library(persons=12, faces=15, outliers=20)
    labels = cluster_faces(descriptors)
    assert labels.dtype == np.int64 and labels.shape == truth.shape
    assert same_partition(labels, truth)
    # Numbered by first face: the persons come in order here.
    assert labels[::15][:12].tolist() == list(range(12))


def test_close_siblings_stay_two_persons() -> None:
    first = centres(1, seed=3)[0]
    second = at_distance(first, 0.55, seed=4)
    descriptors = np.concatenate([faces_around(first, 25, 5), faces_around(second, 25, 6)])
    labels = cluster_faces(descriptors)
    assert set(labels[:25].tolist()) == {0} and set(labels[25:].tolist()) == {1}


def test_one_person_is_not_split_by_its_size() -> None:
    centre = centres(1, seed=8)[0]
    for count in (3, 40, 400):
        assert set(cluster_faces(faces_around(centre, count, 9)).tolist()) == {0}


def test_fewer_than_min_faces_stay_unassigned() -> None:
    points = centres(2, seed=11)
    pair = faces_around(points[0], MIN_FACES - 1, 12)
    trio = faces_around(points[1], MIN_FACES, 13)
    labels = cluster_faces(np.concatenate([pair, trio]))
    assert labels.tolist() == [-1] * (MIN_FACES - 1) + [0] * MIN_FACES


def test_a_face_near_a_centre_joins_but_one_beyond_does_not() -> None:
    person = faces_around(centres(1, seed=14)[0], 30, 15).astype(np.float64)
    mean = person.mean(axis=0)
    # Off the faces' own span, so its squared distance to any of them, or to any group of them,
    # is at least 0.47^2 plus their spread: too far to merge, but near the centre.
    basis = np.linalg.svd(person - mean, full_matrices=False)[2]
    step = np.random.default_rng(16).normal(size=DIM)
    step -= basis.T @ (basis @ step)
    step /= np.linalg.norm(step)
    near, far = mean + 0.47 * step, mean - 0.53 * step
    assert 0.47**2 + ((person - mean) ** 2).sum(axis=1).min() > CLUSTER_DISTANCE**2
    descriptors = np.vstack([person, near, far]).astype(np.float32)
    labels = cluster_faces(descriptors, match_distance=0.5)
    assert labels.tolist() == [0] * 31 + [-1]
    assert cluster_faces(descriptors, match_distance=0.46)[30] == -1


def test_deterministic_and_independent_of_face_order() -> None:
    descriptors, _ = library(persons=15, faces=12, outliers=30, seed=2)
    labels = cluster_faces(descriptors)
    np.testing.assert_array_equal(labels, cluster_faces(descriptors))
    order = np.random.default_rng(0).permutation(len(descriptors))
    shuffled = cluster_faces(descriptors[order])
    assert same_partition(shuffled, labels[order])


def test_empty_and_single_inputs() -> None:
    assert cluster_faces(np.zeros((0, DIM), np.float32)).shape == (0,)
    assert cluster_faces(centres(1).astype(np.float32)).tolist() == [-1]


def test_nearest_person_within_and_beyond_the_match_distance() -> None:
    points = centres(2, seed=20)
    known = np.concatenate([faces_around(points[0], 10, 21), faces_around(points[1], 10, 22)])
    ids = np.array([7] * 10 + [9] * 10, dtype=np.int64)
    centre = known[10:].astype(np.float64).mean(axis=0)
    near = at_distance(centre, MATCH_DISTANCE - 0.02, 23).astype(np.float32)
    far = at_distance(centre, MATCH_DISTANCE + 0.02, 24).astype(np.float32)
    assert nearest_person(near, known, ids) == 9
    assert nearest_person(far, known, ids) is None
    assert nearest_person(near, known, ids, match_distance=0.3) is None
    assert nearest_person(near, known[:0], ids[:0]) is None
    batch = nearest_persons(np.stack([near, far, known[0]]), known, ids)
    assert batch.tolist() == [9, -1, 7]
    # Unassigned faces (id -1) are no person and do not pull a centre.
    assert nearest_persons(known[:1], known, np.where(ids == 7, -1, ids)).tolist() == [-1]


def test_must_link_joins_two_persons_and_keeps_a_small_group() -> None:
    descriptors, truth = library(persons=4, faces=10, outliers=4, seed=30)
    # The user says persons 0 and 1 are one; and two far outliers are one person.
    labels = cluster_faces(descriptors, must_link=[list(range(20)), [40, 41]])
    assert len(set(labels[:20].tolist())) == 1
    assert labels[40] == labels[41] >= 0 and labels[42] == labels[43] == -1
    assert same_partition(labels[20:40], truth[20:40])
    assert not set(labels[:20].tolist()) & set(labels[20:40].tolist())


def test_two_must_link_groups_stay_two_persons() -> None:
    descriptors, _ = library(persons=1, faces=20, outliers=0, seed=31)
    labels = cluster_faces(descriptors, must_link=[[0, 1], [2, 3]])
    assert labels[0] == labels[1] != labels[2] == labels[3]
    assert (labels[4:] >= 0).all()


def test_cannot_link_splits_one_person() -> None:
    descriptors, _ = library(persons=2, faces=20, outliers=0, seed=32)
    labels = cluster_faces(descriptors, cannot_link=[(0, 1), (2, 3)])
    assert labels[0] != labels[1] and labels[2] != labels[3]
    assert len(set(labels[20:].tolist())) == 1 and labels[20] >= 0
    assert not set(labels[:20].tolist()) & set(labels[20:].tolist())


def test_constraints_that_contradict_or_name_no_face_are_refused() -> None:
    descriptors, _ = library(persons=2, faces=5, outliers=0)
    with pytest.raises(ValueError, match="inside one must_link group"):
        cluster_faces(descriptors, must_link=[[0, 1, 2]], cannot_link=[(0, 2)])
    with pytest.raises(ValueError, match="outside"):
        cluster_faces(descriptors, cannot_link=[(0, 10)])
    with pytest.raises(ValueError, match="outside"):
        cluster_faces(descriptors, must_link=[[-1, 3]])


def test_fifty_thousand_faces_in_bounded_time_and_memory() -> None:
    descriptors, truth = library(persons=2_000, faces=20, outliers=10_000, seed=40)
    tracemalloc.start()
    started = time.perf_counter()
    labels = cluster_faces(descriptors)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # About 5 s on 2 slow cores; a dense 50,000^2 float32 matrix alone would be 10 GB.
    assert seconds < 60
    assert peak < 1_000_000_000
    assert (labels[truth < 0] == -1).mean() > 0.99
    found = labels[truth >= 0]
    assert (found >= 0).mean() > 0.99
    assert same_partition(labels[truth >= 0][found >= 0], truth[truth >= 0][found >= 0])
