"""The top level of the albums at any size, and sub-albums: synthetic kinds with fainter
subkinds, and a library grown tenfold (clustering/granularity.py, clustering/nesting.py)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from album_tags import exiftool, tags_config
from autoalbum.albums.sidecar import read_tree
from autoalbum.albums.sorter import SortOptions, sort_photos
from autoalbum.albums.update import rename_album
from autoalbum.clustering import granularity
from autoalbum.clustering.granularity import choose_albums
from autoalbum.clustering.nesting import (
    IN_PARENT,
    Nest,
    album_paths,
    leaf_labels,
    nest,
    nest_album,
)
from autoalbum.clustering.rows import Dense, Subset
from autoalbum.config import ClusterConfig, Config, EventsConfig, LibraryConfig, PeopleConfig
from autoalbum.errors import AutoalbumError
from autoalbum.evaluation.evaluate import evaluate, format_table
from autoalbum.library.catalog import Catalog
from autoalbum.library.library import Library
from autoalbum.library.sub_albums import SubAlbums
from autoalbum.report.build import write_report
from autoalbum.report.collection import from_sort_output, nested_order
from blobs import kinds_with_subkinds, sphere_blobs, unit
from indexed_photos import IndexedEmbedder, indexed_photos


def test_the_top_level_stays_when_the_library_grows_tenfold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small, small_kinds, _ = kinds_with_subkinds(50)
    big, big_kinds, _ = kinds_with_subkinds(500)
    at_600, _ = choose_albums(small, k_range=(1, 60))
    at_6000, _ = choose_albums(big, k_range=(1, 60))
    # /tmp measurements, seeds 0-2: 3, 3, 3 albums at 600 photos; 3, 4, 4 at 6,000 (NMI >= 0.9)
    assert at_600.k == 3
    assert normalized_mutual_info_score(small_kinds, at_600.labels) > 0.95
    assert at_6000.k in (3, 4)
    assert normalized_mutual_info_score(big_kinds, at_6000.labels) > 0.85
    # Graphs of a fixed 10 neighbours (before) see the subkinds at 6,000: 10-11 albums
    monkeypatch.setattr(granularity, "NEIGHBOUR_SHARE", 10**12)
    assert choose_albums(big, k_range=(1, 60))[0].k >= 8


def test_neighbours_grow_with_the_photos_from_ten() -> None:
    assert granularity.neighbours(300) == 10
    assert granularity.neighbours(600) == 10
    assert granularity.neighbours(6000) == 100


def _two_blobs_and_between() -> tuple[np.ndarray, np.ndarray]:
    """Two blobs of 150 and 100 photos, and 6 photos halfway between them."""
    blobs, truth = sphere_blobs((150, 100), dim=128, spread=0.6, seed=3)
    centres = unit(np.stack([blobs[truth == i].mean(axis=0) for i in range(2)]))
    between = unit(np.repeat(centres.sum(axis=0, keepdims=True), 6, axis=0))
    return np.concatenate([blobs, between]), np.concatenate([truth, np.full(6, -1)])


def test_an_album_of_two_kinds_gets_two_sub_albums_and_keeps_what_lies_between() -> None:
    vectors, truth = _two_blobs_and_between()
    found = nest_album(Dense(vectors))
    assert found is not None and found.k == 2
    assert np.bincount(found.labels[truth >= 0]).tolist() == [150, 100], "by size, each whole"
    assert (found.labels[truth == -1] == IN_PARENT).all()
    assert found.children == (None, None)  # each blob divides no further


def test_an_album_of_one_kind_or_too_few_photos_has_no_sub_albums() -> None:
    one, _ = sphere_blobs((300,), dim=128, spread=1.5, seed=1)
    assert nest_album(Dense(one)) is None
    few, _ = sphere_blobs((30, 25), dim=128, spread=0.6, seed=3)
    assert nest_album(Dense(few)) is None


def test_paths_and_leaves_follow_the_nesting() -> None:
    labels = np.array([0, 1, 0, 0, 1])
    inner = Nest(
        np.array([0, IN_PARENT, 1]), np.zeros((2, 4), np.float32), np.zeros(3, np.float32),
        (None, None),
    )  # fmt: skip
    nests = (inner, None)
    assert album_paths(labels, nests) == [(0, 0), (1,), (0,), (0, 1), (1,)]
    assert leaf_labels(labels, nests).tolist() == [0, 1, 2, 3, 1]


def test_nest_reads_each_album_through_its_rows() -> None:
    vectors, _ = _two_blobs_and_between()
    other, _ = sphere_blobs((40,), dim=128, spread=1.0, seed=9)
    library = np.concatenate([other, vectors])
    labels = np.array([1] * 40 + [0] * len(vectors))
    clustering = choose_albums(library, k_range=(2, 2))[0]
    clustering = type(clustering)(labels, clustering.centroids, clustering.distances, 2, 0.0)
    nests = nest(library, clustering)
    assert nests[1] is None and nests[0] is not None and nests[0].k == 2
    subset = Subset(Dense(library), np.arange(40, len(library)))
    np.testing.assert_array_equal(subset.take(np.array([0, 5])), vectors[[0, 5]])
    assert np.vstack([chunk for _, chunk in subset.chunks()]).shape == vectors.shape


def _nested_photos(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """Photos whose stand-in vectors are one far blob of 60 and two near blobs of 150 and 100
    with 6 photos between them."""
    far, _ = sphere_blobs((60,), dim=128, spread=0.6, seed=11)
    vectors, _ = _two_blobs_and_between()
    return indexed_photos(tmp_path / "photos", 316), np.concatenate([vectors, far])


def test_sort_files_sub_albums_inside_their_album(tmp_path: Path) -> None:
    photos, vectors = _nested_photos(tmp_path)
    out = tmp_path / "albums"
    summary = sort_photos([photos], out, IndexedEmbedder(vectors), SortOptions(k=2, faces=False))
    tops = [a for a in summary.albums if a.parent is None]
    subs = [a for a in summary.albums if a.parent is not None]
    assert [len(a.members) for a in tops] == [6, 60], "the big album keeps what lies between"
    assert [len(a.members) for a in subs] == [150, 100] and {a.parent for a in subs} == {1}
    index, members = read_tree(out)
    folder = {shelf.number: shelf.folder for shelf in index.albums}
    assert (folder[1], folder[3], folder[4]) == (
        "01-album",
        "01-album/03-album",
        "01-album/04-album_2",
    )
    assert [shelf.parent for shelf in index.albums] == [None, None, 1, 1]
    for shelf in index.albums:
        for photo in members[shelf.number]:
            link = out / shelf.folder / photo.link
            assert link.is_symlink() and link.resolve() == Path(photo.path).resolve()
    inside = sorted(entry.name for entry in (out / folder[1]).iterdir() if entry.is_dir())
    assert inside == sorted(folder[n].rsplit("/", 1)[1] for n in (3, 4))
    flat = sort_photos(
        [photos], tmp_path / "flat", IndexedEmbedder(vectors),
        SortOptions(k=2, faces=False, nested=False),
    )  # fmt: skip
    assert [len(a.members) for a in flat.albums] == [256, 60]


def test_renaming_an_album_moves_its_sub_albums(tmp_path: Path) -> None:
    photos, vectors = _nested_photos(tmp_path)
    out = tmp_path / "albums"
    sort_photos([photos], out, IndexedEmbedder(vectors), SortOptions(k=2, faces=False))
    assert rename_album(out, 1, "blobs", "my blobs")
    index, members = read_tree(out)
    folders = {shelf.number: shelf.folder for shelf in index.albums}
    assert folders[1] == "my blobs"
    assert folders[3].startswith("my blobs/") and folders[4].startswith("my blobs/")
    for shelf in index.albums:
        for photo in members[shelf.number]:
            assert (out / shelf.folder / photo.link).resolve() == Path(photo.path).resolve()


def test_index_json_gives_each_album_its_parent(tmp_path: Path) -> None:
    photos, vectors = _nested_photos(tmp_path)
    out = tmp_path / "albums"
    sort_photos([photos], out, IndexedEmbedder(vectors), SortOptions(k=2, faces=False))
    raw = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [a["parent"] for a in raw["albums"]] == [None, None, 1, 1]
    assert all(a["name"].startswith(raw["albums"][0]["name"] + "/") for a in raw["albums"][2:])


def test_evaluate_scores_the_top_level_or_the_leaves(tmp_path: Path) -> None:
    far, _ = sphere_blobs((60,), dim=128, spread=0.6, seed=11)
    blobs, truth = sphere_blobs((150, 100), dim=128, spread=0.6, seed=3)
    classes = ["a" if t == 0 else "b" for t in truth] + ["c"] * 60
    folder = indexed_photos(tmp_path / "labelled", 310, classes)
    model = IndexedEmbedder(np.concatenate([blobs, far]))
    top = evaluate(folder, model, k=2)
    leaves = evaluate(folder, model, k=2, leaves=True)
    assert (top.k, top.level, top.leaves) == (2, "albums", None)
    assert (leaves.k, leaves.level, leaves.leaves) == (2, "leaves", 3)
    assert leaves.nmi == pytest.approx(1.0) and top.nmi < 0.8
    assert "3 leaves" in format_table(leaves)
    with pytest.raises(AutoalbumError, match="--leaves needs"):
        evaluate(folder, model, k=None, method="hdbscan", leaves=True)


def test_the_report_shows_sub_albums_after_their_album(tmp_path: Path) -> None:
    photos, vectors = _nested_photos(tmp_path)
    out = tmp_path / "albums"
    sort_photos([photos], out, IndexedEmbedder(vectors), SortOptions(k=2, faces=False))
    collection = from_sort_output(out)
    shown = [(a.folder, a.parents) for a in collection.albums]
    assert shown == [
        ("01-album", ()),
        ("01-album/03-album", ("album",)),
        ("01-album/04-album_2", ("album",)),
        ("02-album_2", ()),
    ]
    write_report(collection, tmp_path / "report")
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert '<span class="parent">album &rsaquo;</span> album 2' in page


def test_nested_order_puts_each_album_before_its_own() -> None:
    assert nested_order([None, None, 0, 2, 1, 0]) == [0, 2, 3, 5, 1, 4]
    assert nested_order([None, 7]) == [0, 1], "a parent that is not listed: a top album"


def _library_config(tmp_path: Path, photos: Path) -> Config:
    return Config(
        LibraryConfig((photos,), tmp_path / "albums", tmp_path / "state"),
        cluster=ClusterConfig(k=2),
        people=PeopleConfig(enabled=False),
        events=EventsConfig(enabled=False),
    )


def _shelves(out: Path) -> dict[int, tuple[str, int | None, int]]:
    """Album number -> (folder, parent, size), as index.json gives them; every link checked."""
    index, members = read_tree(out)
    for shelf in index.albums:
        for photo in members[shelf.number]:
            assert (out / shelf.folder / photo.link).resolve() == Path(photo.path).resolve()
    return {s.number: (s.folder, s.parent, s.size) for s in index.albums}


def test_a_library_keeps_sub_albums_through_arrivals_and_reclusters(tmp_path: Path) -> None:
    photos, vectors = _nested_photos(tmp_path)
    first = int(np.flatnonzero(_two_blobs_and_between()[1] == 0)[0])
    held_back = photos / f"photo{first:03d}.png"  # one of the bigger blob's, to arrive later
    arriving = held_back.read_bytes()
    held_back.unlink()
    model = IndexedEmbedder(vectors)
    config = _library_config(tmp_path, photos)
    out = config.library.albums
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        library.index_files()
        shelves = _shelves(out)
        assert [(parent, size) for _, parent, size in shelves.values()] == [
            (None, 6), (None, 60), (1, 149), (1, 100)
        ]  # fmt: skip
        assert shelves[3][0] == "01-album/03-album"
        held_back.write_bytes(arriving)
        library.ingest([held_back])
        assert _shelves(out)[3][2] == 150, "an arrival files into the sub-album it fits"
        library.rename("3", "first blob")
        library.recluster()
        after = _shelves(out)
        assert after[3] == ("01-album/03-first_blob", 1, 150)
        assert {n: (p, s) for n, (_, p, s) in after.items()} == {
            1: (None, 6), 2: (None, 60), 3: (1, 150), 4: (1, 100)
        }, "a recluster keeps the sub-albums' numbers"  # fmt: skip
        records = {a.number: a for a in library.catalog.albums()}
        assert records[3].parent_id == records[1].id and records[4].parent_id == records[1].id


def test_a_flat_library_has_no_sub_albums(tmp_path: Path) -> None:
    photos, vectors = _nested_photos(tmp_path)
    config = _library_config(tmp_path, photos)
    # The blobs' farthest photos lie 0.650 from their centre, on the default unsorted line:
    # kept clear of it, as this is about nesting.
    flat = replace(config.cluster, nested=False, unsorted_distance=0.8)
    config = replace(config, cluster=flat)
    model = IndexedEmbedder(vectors)
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        library.index_files()
    assert [(p, s) for _, p, s in _shelves(config.library.albums).values()] == [
        (None, 256), (None, 60)
    ]  # fmt: skip


def test_sidecars_carry_the_sub_album_path_for_exiftool(tmp_path: Path) -> None:
    photos, vectors = _nested_photos(tmp_path)
    config = replace(_library_config(tmp_path, photos), tags=tags_config(tmp_path))
    model = IndexedEmbedder(vectors)
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        library.index_files()
        library.rename("1", "blobs")
        library.rename("4", "small blob")
    _index, members = read_tree(config.library.albums)
    photo = Path(members[4][0].path)
    (record,) = exiftool(
        "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-digiKam:TagsList",
        str(photo) + ".xmp",
    )  # fmt: skip
    assert record["HierarchicalSubject"] == "autoalbum|blobs|small blob"
    assert record["TagsList"] == "autoalbum/blobs/small blob"
    assert sorted(record["Subject"]) == ["blobs", "small blob"]
    top = Path(members[2][0].path)
    (flat,) = exiftool("-XMP-lr:HierarchicalSubject", str(top) + ".xmp")
    assert flat["HierarchicalSubject"] == "autoalbum|album 2"


def _indexed_library(tmp_path: Path) -> tuple[Config, IndexedEmbedder]:
    photos, vectors = _nested_photos(tmp_path)
    config = _library_config(tmp_path, photos)
    model = IndexedEmbedder(vectors)
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        library.index_files()
    return config, model


def test_a_link_moved_between_sub_albums_is_pinned_there(tmp_path: Path) -> None:
    config, model = _indexed_library(tmp_path)
    out = config.library.albums
    index, members = read_tree(out)
    folder = {s.number: s.folder for s in index.albums}
    moved = members[3][0]
    os.rename(out / folder[3] / moved.link, out / folder[4] / moved.link)
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        assert library.take_gestures() == 1
        library.recluster()
    index, members = read_tree(out)
    assert moved.path in {p.path for p in members[4]} and _shelves(out)[4][2] == 101


def test_a_sub_album_folder_renamed_keeps_its_name(tmp_path: Path) -> None:
    config, model = _indexed_library(tmp_path)
    out = config.library.albums
    os.rename(out / "01-album" / "04-album_2", out / "01-album" / "Second blob")
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        assert library.take_gestures() == 1
        library.recluster()
        records = {a.number: a for a in library.catalog.albums()}
    assert _shelves(out)[4] == ("01-album/Second blob", 1, 100)
    assert (records[4].name, records[4].user_named) == ("Second blob", True)


def test_renaming_an_album_folder_keeps_its_sub_albums(tmp_path: Path) -> None:
    config, model = _indexed_library(tmp_path)
    out = config.library.albums
    os.rename(out / "01-album", out / "Blobs")
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        assert library.take_gestures() == 1
        library.recluster()
    shelves = _shelves(out)
    assert [shelves[n][0] for n in (1, 3, 4)] == ["Blobs", "Blobs/03-album", "Blobs/04-album_2"]


def test_a_sub_album_dragged_out_to_the_top_becomes_an_album(tmp_path: Path) -> None:
    config, model = _indexed_library(tmp_path)
    out = config.library.albums
    os.rename(out / "01-album" / "04-album_2", out / "Small blob")
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        assert library.take_gestures() >= 1
        library.recluster()
        records = {a.number: a for a in library.catalog.albums()}
    shown = _shelves(out)
    shelves = {folder: (parent, size) for folder, parent, size in shown.values()}
    assert shelves["Small blob"] == (None, 100)
    made = next(a for a in records.values() if a.folder == "Small blob")
    assert made.user_made and made.parent_id is None
    assert 4 not in shown, "the sub-album it was is retired"


def test_sub_albums_of_sub_albums_get_numbers_of_their_own(tmp_path: Path) -> None:
    leaf = Nest(
        np.array([0] * 6 + [1] * 4), unit(np.eye(64)[:2] + 0.1), np.zeros(10, np.float32),
        (None, None),
    )  # fmt: skip
    inner = Nest(
        np.array([0] * 10 + [1] * 20 + [IN_PARENT] * 10), unit(np.eye(64)[2:4] + 0.1),
        np.zeros(40, np.float32), (leaf, None),
    )  # fmt: skip
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        top = catalog.add_album(1, "top", unit(np.ones((1, 64)))[0], False)
        subs = SubAlbums(catalog, lambda rows, labels, k: [{}] * k, (), ())
        filed = subs.file(np.zeros(40, np.int64), {0: top}, np.zeros(40, np.float32), [inner])
        albums = {a.id: a for a in catalog.albums()}
    numbers = [a.number for a in albums.values()]
    assert len(numbers) == len(set(numbers)) == 5
    parents = sorted((albums[a].number, albums[a].parent_id) for a in filed.kept)
    assert [p for _, p in parents].count(top) == 2, "two sub-albums of the album"
    assert len(set(filed.album_ids)) == 4, "the album's own photos, two subs, two of a sub's"


def test_a_folder_made_inside_an_album_is_a_sub_album_of_the_users(tmp_path: Path) -> None:
    config, model = _indexed_library(tmp_path)
    out = config.library.albums
    _index, members = read_tree(out)
    (out / "01-album" / "Mine").mkdir()
    for photo in members[3][:3]:
        os.rename(out / "01-album/03-album" / photo.link, out / "01-album/Mine" / photo.link)
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        assert library.take_gestures() >= 1
        library.recluster()
        made = next(a for a in library.catalog.albums() if a.folder == "Mine")
    assert made.user_made and _shelves(out)[made.number] == ("01-album/Mine", 1, 3)


def test_the_sub_albums_of_an_album_retired_or_merged_move_with_its_photos(
    tmp_path: Path,
) -> None:
    config, model = _indexed_library(tmp_path)
    out = config.library.albums
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        library.merge("1", "2")
        merged = _shelves(out)
        library.undo(library.corrections()[-1].id)
        library.retire("1")
        retired = _shelves(out)
    assert 1 not in merged and merged[3][:2] == ("02-album_2/03-album", 2)
    assert 1 not in retired and retired[3][:2] == ("03-album", None)
