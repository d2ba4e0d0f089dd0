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
    PreviousAlbum(10, 1, "tabby", False, CENTRES[0]),
    PreviousAlbum(11, 2, "espresso", False, CENTRES[1]),
    PreviousAlbum(12, 3, "Holiday", True, CENTRES[2]),
]
VOTES = [Counter({"tabby": 5}), Counter({"espresso": 5}), Counter({"seashore": 5})]


def test_same_centres_keep_everything() -> None:
    plans = plan_albums(OLD, CENTRES, VOTES, sizes=[5, 5, 5], next_number=4)
    assert [(p.album_id, p.number, p.name) for p in plans] == [
        (10, 1, "tabby"),
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
        (10, 1, "tabby"),
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
    # A new album of these votes would be "cat" (tabby has less than 2/3), but "tabby" still
    # holds half of them: no flapping on near ties.
    tied = [Counter({"tabby": 6, "tiger cat": 5}), VOTES[1], VOTES[2]]
    plans = plan_albums(OLD, CENTRES, tied, sizes=[11, 5, 5], next_number=4)
    assert plans[0].name == "tabby" and plans[0].renamed_from is None, "no flapping on ties"
    drifted = [Counter({"tabby": 4, "tiger cat": 3, "Egyptian cat": 3}), VOTES[1], VOTES[2]]
    plans = plan_albums(OLD, CENTRES, drifted, sizes=[10, 5, 5], next_number=4)
    assert (plans[0].name, plans[0].renamed_from, plans[0].number) == ("cat", "tabby", 1)
    lost = [Counter({"tabby": 1, "tiger cat": 9}), VOTES[1], VOTES[2]]
    plans = plan_albums(OLD, CENTRES, lost, sizes=[10, 5, 5], next_number=4)
    assert (plans[0].name, plans[0].renamed_from, plans[0].number) == ("tiger cat", "tabby", 1)


def test_a_broader_name_stays_while_it_covers_the_album() -> None:
    old = [PreviousAlbum(10, 1, "dog", False, CENTRES[0])]
    beagles = [Counter({"beagle": 8, "tabby": 2})]
    plans = plan_albums(old, CENTRES[:1], beagles, sizes=[10], next_number=2)
    assert (plans[0].name, plans[0].renamed_from) == ("dog", None)
    cats = [Counter({"beagle": 2, "tabby": 8})]
    plans = plan_albums(old, CENTRES[:1], cats, sizes=[10], next_number=2)
    assert (plans[0].name, plans[0].renamed_from) == ("tabby", "dog")


def test_names_are_unique_across_kept_and_new_albums() -> None:
    old = [
        PreviousAlbum(10, 1, "dog", False, CENTRES[0]),
        PreviousAlbum(11, 2, "cat", True, CENTRES[1]),
    ]
    terriers = Counter({"Norfolk terrier": 3, "cairn": 2, "golden retriever": 2, "pug": 2})
    retrievers = Counter({"golden retriever": 3, "Labrador retriever": 2, "cairn": 2, "pug": 2})
    votes = [retrievers, Counter({"espresso": 5}), terriers]
    far = _unit([1, 0, 0], [0, 1, 0], [0, -1, -1])
    plans = plan_albums(old, far, votes, sizes=[9, 5, 9], next_number=3)
    assert [(p.number, p.name) for p in plans] == [(1, "dog"), (2, "cat"), (3, "dog (terrier)")]
    cats = [retrievers, Counter({"espresso": 5}), Counter({"tabby": 3, "tiger cat": 2})]
    plans = plan_albums(old, far, cats, sizes=[9, 5, 5], next_number=3)
    assert plans[2].name == "cat (tabby)", "the user's name is taken"


def test_two_old_albums_of_one_name_part() -> None:
    old = [
        PreviousAlbum(10, 1, "tench", False, CENTRES[0]),
        PreviousAlbum(11, 2, "tench", False, CENTRES[1]),
    ]
    votes = [Counter({"tench": 5}), Counter({"tench": 6, "goldfish": 2})]
    plans = plan_albums(old, CENTRES[:2], votes, sizes=[5, 8], next_number=3)
    assert [(p.album_id, p.name) for p in plans] == [(10, "tench"), (11, "tench (goldfish)")]


def test_dissimilar_centre_is_a_new_album() -> None:
    far = _unit([1, 0, 0], [0, 1, 0], [0, -1, -1])
    plans = plan_albums(OLD, far, VOTES, sizes=[5, 5, 5], next_number=4, min_similarity=0.5)
    assert (plans[2].album_id, plans[2].number, plans[2].name) == (None, 4, "seashore")
