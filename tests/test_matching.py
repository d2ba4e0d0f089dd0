"""Album identities survive reclusters: Hungarian matching and the naming rule."""

from __future__ import annotations

from collections import Counter

import numpy as np

from autoalbum.albums.matching import PreviousAlbum, plan_albums


def _unit(*rows: list[float]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


CENTRES = _unit([1, 0, 0], [0, 1, 0], [0, 0, 1])
OLD = [
    PreviousAlbum(10, 1, "tabby cat", False, CENTRES[0]),
    PreviousAlbum(11, 2, "espresso", False, CENTRES[1]),
    PreviousAlbum(12, 3, "Holiday", True, CENTRES[2]),
]
VOTES = [Counter({"tabby cat": 5}), Counter({"espresso": 5}), Counter({"seashore": 5})]


def test_same_centres_keep_everything() -> None:
    plans = plan_albums(OLD, CENTRES, VOTES, sizes=[5, 5, 5], next_number=4)
    assert [(p.album_id, p.number, p.name) for p in plans] == [
        (10, 1, "tabby cat"),
        (11, 2, "espresso"),
        (12, 3, "Holiday"),
    ]


def test_permuted_clusters_map_back() -> None:
    order = [2, 0, 1]
    plans = plan_albums(
        OLD, CENTRES[order], [VOTES[i] for i in order], sizes=[5, 5, 5], next_number=4
    )
    assert [(p.cluster, p.album_id) for p in plans] == [(0, 12), (1, 10), (2, 11)]


def test_new_cluster_gets_a_fresh_number_and_vanished_numbers_retire() -> None:
    centres = _unit([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1])[[0, 1, 3]]
    centres[2] = _unit([-1, -1, -1])[0]
    votes = [VOTES[0], VOTES[1], Counter({"daisy": 9})]
    plans = plan_albums(OLD, centres, votes, sizes=[5, 5, 9], next_number=7)
    assert [(p.album_id, p.number, p.name) for p in plans] == [
        (10, 1, "tabby cat"),
        (11, 2, "espresso"),
        (None, 7, "daisy"),
    ]


def test_new_albums_are_numbered_by_size() -> None:
    plans = plan_albums([], CENTRES, VOTES, sizes=[2, 9, 5], next_number=1)
    assert [(p.cluster, p.number) for p in plans] == [(0, 3), (1, 1), (2, 2)]
    assert all(p.album_id is None for p in plans)


def test_user_name_survives_any_content_change() -> None:
    votes = [VOTES[0], VOTES[1], Counter({"volcano": 50})]
    plans = plan_albums(OLD, CENTRES, votes, sizes=[5, 5, 50], next_number=4)
    assert plans[2].name == "Holiday" and plans[2].user_named


def test_automatic_rename_only_when_the_name_lost_its_votes() -> None:
    tied = [Counter({"tabby cat": 5, "tiger cat": 6}), VOTES[1], VOTES[2]]
    plans = plan_albums(OLD, CENTRES, tied, sizes=[11, 5, 5], next_number=4)
    assert plans[0].name == "tabby cat" and plans[0].renamed_from is None, "no flapping on ties"
    lost = [Counter({"tabby cat": 1, "tiger cat": 9}), VOTES[1], VOTES[2]]
    plans = plan_albums(OLD, CENTRES, lost, sizes=[10, 5, 5], next_number=4)
    assert (plans[0].name, plans[0].renamed_from, plans[0].number) == ("tiger cat", "tabby cat", 1)


def test_dissimilar_centre_is_a_new_album() -> None:
    far = _unit([1, 0, 0], [0, 1, 0], [0, -1, -1])
    plans = plan_albums(OLD, far, VOTES, sizes=[5, 5, 5], next_number=4, min_similarity=0.5)
    assert (plans[2].album_id, plans[2].number, plans[2].name) == (None, 4, "seashore")
