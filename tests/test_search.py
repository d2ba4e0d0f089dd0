"""Search: duplicates, identical and near, and the photos most like a given one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from autoalbum.embedding.embedder import OnnxEmbedder
from autoalbum.library import search_index
from autoalbum.library.library import Library
from colour_library import ColourEmbedder, colour_photos, config, open_library


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def test_identical_copies_are_embedded_once_and_reported(root: Path) -> None:
    shutil.copy(root / "photos" / "red2.png", root / "photos" / "copy-of-red2.png")
    embedder = ColourEmbedder()
    with open_library(root, embedder) as library:
        report = library.index_files()
        groups = library.duplicates()
    assert embedder.images_seen == 12 and report.found == 13
    identical = [g for g in groups if g.kind == "identical"]
    assert [sorted(p.name for p in g.paths) for g in identical] == [
        ["copy-of-red2.png", "red2.png"]
    ]


@pytest.mark.parametrize("through_index", [False, True])
def test_near_duplicates_are_grouped(
    tmp_path: Path, embedder: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch, through_index: bool
) -> None:
    """Resized, re-encoded and cropped copies of a real photo, through the real model: by the
    exhaustive search of a small library, and through the search index (search_index.py)."""
    skimage_data = pytest.importorskip("skimage.data")
    if through_index:
        monkeypatch.setattr(search_index, "INDEX_FROM", 1)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "rocket", "astronaut"):
        Image.fromarray(getattr(skimage_data, name)()).save(photos / f"{name}.png")
    cat = Image.open(photos / "chelsea.png")
    cat.resize((cat.width // 2, cat.height // 2)).save(photos / "cat-small.jpg", quality=70)
    w, h = cat.size
    cat.crop((w // 25, h // 25, w - w // 25, h - h // 25)).save(photos / "cat-cropped.jpg")
    with Library(config(tmp_path), lambda: embedder) as library:
        library.index_files()
        near = [g for g in library.duplicates() if g.kind == "near"]
        similar = library.similar(photos / "cat-small.jpg", n=2)
    assert [sorted(p.name for p in g.paths) for g in near] == [
        ["cat-cropped.jpg", "cat-small.jpg", "chelsea.png"]
    ]
    assert sorted(n.path.name for n in similar) == ["cat-cropped.jpg", "chelsea.png"]
    assert (tmp_path / "state" / search_index.META_NAME).exists() == through_index


def test_similar_skips_deleted_photos_and_still_gives_n(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    for i in (0, 2, 3, 4):
        (root / "photos" / f"red{i}.png").unlink()
    with open_library(root) as library:
        library.index_files()
        neighbours = library.similar(root / "photos" / "red1.png", n=7)
    names = [n.path.name for n in neighbours]
    assert names[0] == "red5.png" and len(names) == 7
    assert sorted(names[1:]) == [f"blue{i}.png" for i in range(6)]
