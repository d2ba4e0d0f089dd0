"""After a recluster the album tree is updated in place while few links change (moved photos,
renamed albums, albums that come and go) and rebuilt when most do; either way it ends as a
rebuild would."""

from __future__ import annotations

import os
from pathlib import Path

from autoalbum.albums.tree import Album, Member, write_albums
from autoalbum.albums.update import RECLUSTER_MAX_CHANGED, rows, update_albums
from colour_library import colour_photos, open_library
from tree_index import fake_photo, images, index_files


def _album(number: int, photos: list[Path], label: str = "") -> Album:
    return Album(number, label or f"album {number}", tuple(Member(p, 0.25) for p in photos))


def _recluster(out: Path, albums: list[Album]) -> tuple[int, int] | None:
    """update_albums as the tree writer calls it after a recluster: every album compared."""
    photos = {a.number: rows(a) for a in albums}
    return update_albums(out, albums, photos, max_changed=RECLUSTER_MAX_CHANGED)


def _inodes(out: Path) -> dict[str, int]:
    """Every symlink's inode by its photo (the photo's path, resolved)."""
    return {str(p.resolve()): os.lstat(p).st_ino for p in out.rglob("*") if p.is_symlink()}


def _view(out: Path) -> tuple[list[tuple[int, str, str, int]], set[tuple[str, str]]]:
    """What a reader of the index files sees, link names aside: the albums (number, folder,
    label, size) and each photo's (folder, link target resolved), checked against the disk."""
    index, _ = index_files(out)
    albums = [(a["number"], a["name"], a["label"], a["size"]) for a in index["albums"]]
    listed = {(i["album"], str((out / i["link"]).resolve())) for i in images(out)}
    on_disk = {
        (p.parent.name, str(p.resolve())) for p in out.rglob("*") if p.is_symlink()
    }  # fmt: skip
    assert listed == on_disk
    assert all((out / i["link"]).resolve() == Path(i["path"]).resolve() for i in images(out))
    return albums, listed


def _photos(tmp_path: Path, count: int) -> list[Path]:
    """Photos in three folders whose names clash across them."""
    return [fake_photo(tmp_path / "p" / f"f{i % 3}", f"IMG_{i // 3:04d}.JPG") for i in range(count)]


def test_a_recluster_moving_a_few_photos_updates_in_place(tmp_path: Path) -> None:
    photos = _photos(tmp_path, 60)
    out = write_albums(tmp_path / "albums", [_album(1, photos[:30]), _album(2, photos[30:])])
    top, links = os.lstat(out).st_ino, _inodes(out)
    # five photos move from album 1 to a new album 3
    after = [_album(1, photos[5:30]), _album(2, photos[30:]), _album(3, photos[:5], "new")]
    assert _recluster(out, after) == (5, 5)
    assert os.lstat(out).st_ino == top, "updated in place, not swapped"
    now = _inodes(out)
    assert all(now[str(p.resolve())] == links[str(p.resolve())] for p in photos[5:])
    assert _view(out) == _view(write_albums(tmp_path / "rebuilt", after))


def test_a_recluster_changing_most_links_is_left_to_a_rebuild(tmp_path: Path) -> None:
    photos = _photos(tmp_path, 40)
    out = write_albums(tmp_path / "albums", [_album(1, photos[:20]), _album(2, photos[20:])])
    before = _view(out)
    swapped = [_album(1, photos[20:]), _album(2, photos[:20])]
    assert _recluster(out, swapped) is None, "all 40 links would change: rebuild"
    assert _view(out) == before, "nothing was changed"
    assert update_albums(out, swapped, {a.number: rows(a) for a in swapped}) == (40, 40)


def test_a_new_label_renames_the_folder_in_place(tmp_path: Path) -> None:
    photos = _photos(tmp_path, 10)
    out = write_albums(tmp_path / "albums", [_album(1, photos[:6]), _album(2, photos[6:])])
    folder, links = os.lstat(out / "01-album_1").st_ino, _inodes(out)
    after = [_album(1, photos[:5], "Espresso"), _album(2, photos[5:])]
    assert _recluster(out, after) == (1, 1)
    assert not (out / "01-album_1").exists()
    assert os.lstat(out / "01-espresso").st_ino == folder, "renamed, not made anew"
    assert all(_inodes(out)[p] == inode for p, inode in links.items() if p != str(photos[5]))
    assert _view(out) == _view(write_albums(tmp_path / "rebuilt", after))


def test_a_rename_onto_another_albums_folder_is_left_to_a_rebuild(tmp_path: Path) -> None:
    photos = _photos(tmp_path, 4)
    albums = [Album(1, "a", (Member(photos[0], 0.1),), "x"), _album(2, photos[1:])]
    out = write_albums(tmp_path / "albums", albums)
    after = [Album(1, "a", (Member(photos[0], 0.1),), "02-album_2"), _album(3, photos[1:])]
    assert _recluster(out, after) is None


def test_the_library_updates_in_place_after_a_quiet_recluster(tmp_path: Path) -> None:
    root = colour_photos(tmp_path)
    with open_library(root) as library:
        library.index_files()
        tree = root / "albums"
        top, links = os.lstat(tree).st_ino, _inodes(tree)
        library.recluster()  # the same photos: the same albums
        assert os.lstat(tree).st_ino == top and _inodes(tree) == links
        with library.catalog.transaction():  # every photo in another album: rebuilt
            ids = [a.id for a in library.catalog.albums()]
            library.catalog.db.execute(
                "UPDATE contents SET album_id = CASE album_id WHEN ? THEN ? ELSE ? END",
                (ids[0], ids[1], ids[0]),
            )
        library.write_tree(rebuild=True)
        assert os.lstat(tree).st_ino != top
        view = _view(tree)
        library.write_tree(rebuild=True)  # nothing changed: in place
        assert _view(tree) == view
