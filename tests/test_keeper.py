"""The album keeper: new photos join albums, reclusters keep numbers and names, renames."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoalbum.errors import AutoalbumError
from colour_library import colour_photos, links, open_library, photo
from tree_index import images


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def test_new_photo_joins_nearest_album_without_recluster(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
        runs_before = library.catalog.last_run("recluster")
    photo(root / "photos" / "late-blue.png", "blue", 555)
    with open_library(root) as library:
        library.index_files()
        assert library.catalog.last_run("recluster") == runs_before
    blue_album = next(names for names in links(root).values() if "blue1.png" in names)
    assert "late-blue.png" in blue_album


def test_arrivals_update_the_tree_in_place(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    tree = root / "albums"
    inodes = {p: os.lstat(p).st_ino for p in tree.rglob("*")}
    tree_inode = os.lstat(tree).st_ino
    photo(root / "photos" / "late-red.png", "red", 556)
    (root / "photos" / "blue" / "blue0.png").unlink()
    with open_library(root) as library:
        library.index_files()
    assert os.lstat(tree).st_ino == tree_inode, "the tree was not rebuilt and swapped"
    now = {p: os.lstat(p).st_ino for p in tree.rglob("*")}
    changed = {p.name for p in set(now) ^ set(inodes)}
    assert changed == {"late-red.png", "blue0.png"}, "only the two links came and went"
    assert all(now[p] == inodes[p] for p in now if p.is_symlink() and p in inodes)
    listed = {Path(i["path"]).name for i in images(tree)}
    assert "late-red.png" in listed and "blue0.png" not in listed


def test_far_photo_goes_to_unsorted(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    photo(root / "photos" / "green.png", "green", 7)
    with open_library(root, unsorted=0.3) as library:
        library.index_files()
    assert links(root).get("_unsorted") == "green.png"


def test_rename_survives_recluster(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
        album = library.catalog.albums()[0]
        library.rename(str(album.number), "Holiday")
        library.recluster()
        renamed = [a for a in library.catalog.albums() if a.name == "Holiday"]
    assert len(renamed) == 1 and renamed[0].number == album.number and renamed[0].user_named
    assert any(folder.endswith("-holiday") for folder in links(root))


def test_recluster_keeps_numbers_and_names(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
        before = {(a.number, a.name) for a in library.catalog.albums()}
        tree_before = links(root)
        for i in range(2):
            photo(root / "photos" / f"extra-red{i}.png", "red", 300 + i)
        library.index_files()
        library.recluster()
        after = {(a.number, a.name) for a in library.catalog.albums()}
    assert before == after
    tree_after = links(root)
    assert set(tree_before) == set(tree_after)


def test_rename_by_folder_name_past_99_albums(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
        with library.catalog.transaction():  # as if 97 albums had come and gone
            library.catalog.db.execute("UPDATE albums SET number = 100 WHERE number = 2")
        library.write_tree()
        folders = sorted(links(root))
        assert [f[:4] for f in folders] == ["001-", "100-"]
        with pytest.raises(AutoalbumError, match=f"albums: {folders[0]}, {folders[1]}$"):
            library.rename("nope", "Holiday")
        library.rename(folders[0], "Holiday")
        assert [a.name for a in library.catalog.albums() if a.number == 1] == ["Holiday"]
    assert sorted(links(root)) == ["001-holiday", folders[1]]
