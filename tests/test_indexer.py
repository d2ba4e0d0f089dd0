"""Incremental indexing: unchanged, moved, deleted, symlinked, modified and unreadable files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autoalbum.library.library import Library
from autoalbum.library.records import Status
from colour_library import ColourEmbedder, colour_photos, config, links, open_library, photo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def test_unchanged_library_does_no_model_work(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    loads: list[int] = []

    def factory() -> ColourEmbedder:
        loads.append(1)
        return ColourEmbedder()

    with Library(config(root), factory) as library:  # type: ignore[arg-type]
        report = library.index_files()
    assert loads == [], "the model must not even be loaded"
    assert (report.unchanged, report.embedded, report.relinked) == (12, 0, 0)


def test_move_keeps_vector_and_updates_link(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    (root / "photos" / "moved").mkdir()
    os.rename(root / "photos" / "red0.png", root / "photos" / "moved" / "renamed.png")
    embedder = ColourEmbedder()
    with open_library(root, embedder) as library:
        report = library.index_files()
        assert library.catalog.file(root / "photos" / "red0.png").status is Status.MISSING  # type: ignore[union-attr]
    assert (report.embedded, report.relinked, report.missing) == (0, 1, 1)
    assert embedder.images_seen == 0
    red_album = next(names for names in links(root).values() if "red1.png" in names)
    assert "renamed.png" in red_album and "red0.png" not in red_album


def test_deleted_photo_leaves_album_and_symlink(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    (root / "photos" / "blue" / "blue3.png").unlink()
    with open_library(root) as library:
        report = library.index_files()
        members = [m for album in library.catalog.members().values() for m in album]
        assert all(m.path.name != "blue3.png" for m in members)
    assert report.missing == 1
    assert all("blue3.png" not in names for names in links(root).values())


def test_symlinked_photos_are_indexed_when_followed(root: Path) -> None:
    outside = photo(root / "elsewhere" / "red-outside.png", "red", 41)
    link = root / "photos" / "linked.png"
    link.symlink_to(outside)
    with open_library(root, follow_symlinks=True) as library:
        assert library.index_files().found == 13
        assert library.index_files().missing == 0
        assert library.catalog.file(link).status is Status.OK  # type: ignore[union-attr]


def test_modified_file_is_embedded_again(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    photo(root / "photos" / "red1.png", "blue", 999)  # same name, new content
    with open_library(root) as library:
        report = library.index_files()
    assert report.embedded == 1
    blue_album = next(names for names in links(root).values() if "blue1.png" in names)
    assert "red1.png" in blue_album


def test_bad_files_are_recorded_and_retried_when_fixed(root: Path) -> None:
    (root / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "photos" / "empty.png").write_bytes(b"")
    with open_library(root) as library:
        report = library.index_files()
        failed = {f.path.name: f.reason for f in library.catalog.files(Status.FAILED)}
    assert sorted(f.path.name for f in report.failed) == ["broken.jpg", "empty.png"]
    assert failed["empty.png"] and failed["broken.jpg"]
    index = json.loads((root / "albums" / "index.json").read_text())
    assert len(index["failures"]) == 2
    photo(root / "photos" / "empty.png", "red", 77)
    with open_library(root) as library:
        report = library.index_files()
        assert library.catalog.file(root / "photos" / "empty.png").status is Status.OK  # type: ignore[union-attr]
    assert report.embedded == 1
