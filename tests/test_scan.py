"""Scanning finds photos, skips hidden, temporary and autoalbum's own folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoalbum.embedding.scan import SourceError, find_images


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_finds_images_recursively_and_sorted(tmp_path: Path) -> None:
    b = _touch(tmp_path / "b" / "IMG_2.JPG")
    a = _touch(tmp_path / "a.png")
    _touch(tmp_path / "notes.txt")
    _touch(tmp_path / ".hidden.jpg")
    _touch(tmp_path / "copying.jpg.part")
    _touch(tmp_path / ".thumbnails" / "t.jpg")
    assert find_images([tmp_path]) == sorted([a, b])


def test_skips_album_folder_inside_source(tmp_path: Path) -> None:
    photo = _touch(tmp_path / "photo.jpg")
    _touch(tmp_path / "albums" / "01-cat" / "photo.jpg")
    assert find_images([tmp_path], exclude=[tmp_path / "albums"]) == [photo]


def test_source_inside_album_folder_is_skipped(tmp_path: Path) -> None:
    _touch(tmp_path / "albums" / "x.jpg")
    assert find_images([tmp_path / "albums"], exclude=[tmp_path / "albums"]) == []


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    photo = _touch(tmp_path / "src" / "photo.jpg")
    (tmp_path / "src" / "link.jpg").symlink_to(photo)
    (tmp_path / "src" / "linked-dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    _touch(tmp_path / "elsewhere" / "other.jpg")
    assert find_images([tmp_path / "src"]) == [photo]


def test_overlapping_sources_give_each_file_once(tmp_path: Path) -> None:
    photo = _touch(tmp_path / "a" / "b" / "photo.jpg")
    assert find_images([tmp_path / "a", tmp_path / "a" / "b"]) == [photo]


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        find_images([tmp_path / "nope"])


def test_symlinks_are_followed_when_asked(tmp_path: Path) -> None:
    src = tmp_path / "src"
    photo = _touch(src / "photo.jpg")
    (src / "link.jpg").symlink_to(photo)
    (src / "linked-dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    other = _touch(tmp_path / "elsewhere" / "other.jpg")
    (src / "loop").symlink_to(src, target_is_directory=True)  # would be walked forever
    (tmp_path / "elsewhere" / "back").symlink_to(src, target_is_directory=True)  # so would this
    (src / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    assert other.exists()
    found = find_images([src], follow_symlinks=True)
    assert found == [src / "link.jpg", src / "linked-dir" / "other.jpg", photo]
