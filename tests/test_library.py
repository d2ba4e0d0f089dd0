"""The persistent library: incremental indexing, moves, deletions, crashes, stable albums."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from autoalbum.config import ClusterConfig, Config, LibraryConfig
from autoalbum.embedding.embedder import Embeddings, OnnxEmbedder, normalise
from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import Status
from autoalbum.library.library import Library
from autoalbum.library.vectors import VECTOR_INDEX_NAME

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 220, 30)}


class ColourEmbedder:
    """A deterministic stand-in model: the vector is the image's 4x4 grid of mean colours."""

    input_size = 16

    def __init__(self) -> None:
        self.images_seen = 0

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        self.images_seen += len(images)
        grid = images.reshape(len(images), 4, 4, 4, 4, 3).mean(axis=(2, 4))
        return Embeddings(
            normalise(grid.reshape(len(images), -1).astype(np.float32) - 127.5), None, None
        )


def _photo(path: Path, colour: str, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 12, (48, 64, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def _config(
    root: Path, k: int | str = 2, unsorted: float = 0.6, follow_symlinks: bool = False
) -> Config:
    return Config(
        library=LibraryConfig(
            folders=(root / "photos",),
            albums=root / "albums",
            state=root / "state",
            follow_symlinks=follow_symlinks,
        ),
        cluster=ClusterConfig(k=k, unsorted_distance=unsorted),  # type: ignore[arg-type]
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for i in range(6):
        _photo(tmp_path / "photos" / f"red{i}.png", "red", i)
        _photo(tmp_path / "photos" / "blue" / f"blue{i}.png", "blue", 100 + i)
    return tmp_path


def _open(root: Path, embedder: ColourEmbedder | None = None, **kwargs: object) -> Library:
    model = embedder or ColourEmbedder()
    return Library(_config(root, **kwargs), lambda: model)  # type: ignore[arg-type]


def _links(root: Path) -> dict[str, str]:
    """Album folder -> sorted link targets, read from the real tree."""
    tree: dict[str, list[str]] = {}
    for link in (root / "albums").rglob("*"):
        if link.is_symlink():
            assert link.exists(), f"dangling symlink {link}"
            tree.setdefault(link.parent.name, []).append(link.resolve().name)
    return {album: " ".join(sorted(names)) for album, names in tree.items()}


def _untouchable(embedder_calls: list[int]) -> ColourEmbedder:
    class Forbidden(ColourEmbedder):
        def embed(self, images: NDArray[np.uint8]) -> Embeddings:
            embedder_calls.append(len(images))
            return super().embed(images)

    return Forbidden()


def test_first_index_embeds_and_files_albums(root: Path) -> None:
    with _open(root) as library:
        report = library.index_files()
    assert (report.found, report.embedded, len(report.failed)) == (12, 12, 0)
    albums = _links(root)
    assert len(albums) == 2
    assert sorted(albums.values()) == [
        " ".join(sorted(f"blue{i}.png" for i in range(6))),
        " ".join(sorted(f"red{i}.png" for i in range(6))),
    ]


def test_unchanged_library_does_no_model_work(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    loads: list[int] = []

    def factory() -> ColourEmbedder:
        loads.append(1)
        return ColourEmbedder()

    with Library(_config(root), factory) as library:  # type: ignore[arg-type]
        report = library.index_files()
    assert loads == [], "the model must not even be loaded"
    assert (report.unchanged, report.embedded, report.relinked) == (12, 0, 0)


def test_move_keeps_vector_and_updates_link(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    (root / "photos" / "moved").mkdir()
    os.rename(root / "photos" / "red0.png", root / "photos" / "moved" / "renamed.png")
    embedder = ColourEmbedder()
    with _open(root, embedder) as library:
        report = library.index_files()
        assert library.catalog.file(root / "photos" / "red0.png").status is Status.MISSING  # type: ignore[union-attr]
    assert (report.embedded, report.relinked, report.missing) == (0, 1, 1)
    assert embedder.images_seen == 0
    red_album = next(names for names in _links(root).values() if "red1.png" in names)
    assert "renamed.png" in red_album and "red0.png" not in red_album


def test_deleted_photo_leaves_album_and_symlink(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    (root / "photos" / "blue" / "blue3.png").unlink()
    with _open(root) as library:
        report = library.index_files()
        assert all(m.path.name != "blue3.png" for m in library.catalog.memberships())
    assert report.missing == 1
    assert all("blue3.png" not in names for names in _links(root).values())


def test_symlinked_photos_are_indexed_when_followed(root: Path) -> None:
    outside = _photo(root / "elsewhere" / "red-outside.png", "red", 41)
    link = root / "photos" / "linked.png"
    link.symlink_to(outside)
    with _open(root, follow_symlinks=True) as library:
        assert library.index_files().found == 13
        assert library.index_files().missing == 0
        assert library.catalog.file(link).status is Status.OK  # type: ignore[union-attr]


def test_modified_file_is_embedded_again(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    _photo(root / "photos" / "red1.png", "blue", 999)  # same name, new content
    with _open(root) as library:
        report = library.index_files()
    assert report.embedded == 1
    blue_album = next(names for names in _links(root).values() if "blue1.png" in names)
    assert "red1.png" in blue_album


def test_identical_copies_are_embedded_once_and_reported(root: Path) -> None:
    shutil.copy(root / "photos" / "red2.png", root / "photos" / "copy-of-red2.png")
    embedder = ColourEmbedder()
    with _open(root, embedder) as library:
        report = library.index_files()
        groups = library.duplicates()
    assert embedder.images_seen == 12 and report.found == 13
    identical = [g for g in groups if g.kind == "identical"]
    assert [sorted(p.name for p in g.paths) for g in identical] == [
        ["copy-of-red2.png", "red2.png"]
    ]


def test_near_duplicates_are_grouped(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "rocket", "astronaut"):
        Image.fromarray(getattr(skimage_data, name)()).save(photos / f"{name}.png")
    cat = Image.open(photos / "chelsea.png")
    cat.resize((cat.width // 2, cat.height // 2)).save(photos / "cat-small.jpg", quality=70)
    w, h = cat.size
    cat.crop((w // 25, h // 25, w - w // 25, h - h // 25)).save(photos / "cat-cropped.jpg")
    with Library(_config(tmp_path), lambda: embedder) as library:
        library.index_files()
        near = [g for g in library.duplicates() if g.kind == "near"]
    assert [sorted(p.name for p in g.paths) for g in near] == [
        ["cat-cropped.jpg", "cat-small.jpg", "chelsea.png"]
    ]


def test_catalog_and_index_agree_after_a_crash(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    saved = (root / "state" / VECTOR_INDEX_NAME).read_bytes()
    for i in range(3):
        _photo(root / "photos" / f"new{i}.png", "red", 50 + i)
    with _open(root) as library:
        library.index_files()
    # The crash: the catalog committed the new photos, the index file never got them.
    (root / "state" / VECTOR_INDEX_NAME).write_bytes(saved)
    with _open(root) as library:
        assert list(library.index.ids()) == list(library.catalog.content_ids())
        assert len(library.index) == 15


def test_lost_index_file_is_rebuilt(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    (root / "state" / VECTOR_INDEX_NAME).write_bytes(b"garbage")
    with _open(root) as library:
        assert len(library.index) == 12
        np.testing.assert_allclose(
            library.index.vectors(library.catalog.content_ids()),
            library.catalog.vectors(library.catalog.content_ids()),
            atol=1e-3,
        )


def test_bad_files_are_recorded_and_retried_when_fixed(root: Path) -> None:
    (root / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "photos" / "empty.png").write_bytes(b"")
    with _open(root) as library:
        report = library.index_files()
        failed = {f.path.name: f.reason for f in library.catalog.files(Status.FAILED)}
    assert sorted(f.path.name for f in report.failed) == ["broken.jpg", "empty.png"]
    assert failed["empty.png"] and failed["broken.jpg"]
    index = json.loads((root / "albums" / "index.json").read_text())
    assert len(index["failures"]) == 2
    _photo(root / "photos" / "empty.png", "red", 77)
    with _open(root) as library:
        report = library.index_files()
        assert library.catalog.file(root / "photos" / "empty.png").status is Status.OK  # type: ignore[union-attr]
    assert report.embedded == 1


def test_new_photo_joins_nearest_album_without_recluster(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
        runs_before = library.catalog.last_run("recluster")
    _photo(root / "photos" / "late-blue.png", "blue", 555)
    with _open(root) as library:
        library.index_files()
        assert library.catalog.last_run("recluster") == runs_before
    blue_album = next(names for names in _links(root).values() if "blue1.png" in names)
    assert "late-blue.png" in blue_album


def test_arrivals_update_the_tree_in_place(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    tree = root / "albums"
    inodes = {p: os.lstat(p).st_ino for p in tree.rglob("*")}
    tree_inode = os.lstat(tree).st_ino
    _photo(root / "photos" / "late-red.png", "red", 556)
    (root / "photos" / "blue" / "blue0.png").unlink()
    with _open(root) as library:
        library.index_files()
    assert os.lstat(tree).st_ino == tree_inode, "the tree was not rebuilt and swapped"
    now = {p: os.lstat(p).st_ino for p in tree.rglob("*")}
    changed = {p.name for p in set(now) ^ set(inodes)}
    assert changed == {"late-red.png", "blue0.png"}, "only the two links came and went"
    assert all(now[p] == inodes[p] for p in now if p.is_symlink() and p in inodes)
    index = json.loads((tree / "index.json").read_text())
    listed = {Path(i["path"]).name for i in index["images"]}
    assert "late-red.png" in listed and "blue0.png" not in listed


def test_far_photo_goes_to_unsorted(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    _photo(root / "photos" / "green.png", "green", 7)
    with _open(root, unsorted=0.3) as library:
        library.index_files()
    assert _links(root).get("_unsorted") == "green.png"


def test_rename_survives_recluster(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
        album = library.catalog.albums()[0]
        library.rename(str(album.number), "Holiday")
        library.recluster()
        renamed = [a for a in library.catalog.albums() if a.name == "Holiday"]
    assert len(renamed) == 1 and renamed[0].number == album.number and renamed[0].user_named
    assert any(folder.endswith("-holiday") for folder in _links(root))


def test_recluster_keeps_numbers_and_names(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
        before = {(a.number, a.name) for a in library.catalog.albums()}
        tree_before = _links(root)
        for i in range(2):
            _photo(root / "photos" / f"extra-red{i}.png", "red", 300 + i)
        library.index_files()
        library.recluster()
        after = {(a.number, a.name) for a in library.catalog.albums()}
    assert before == after
    tree_after = _links(root)
    assert set(tree_before) == set(tree_after)


def test_similar_skips_deleted_photos_and_still_gives_n(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
    for i in (0, 2, 3, 4):
        (root / "photos" / f"red{i}.png").unlink()
    with _open(root) as library:
        library.index_files()
        neighbours = library.similar(root / "photos" / "red1.png", n=7)
    names = [n.path.name for n in neighbours]
    assert names[0] == "red5.png" and len(names) == 7
    assert sorted(names[1:]) == [f"blue{i}.png" for i in range(6)]


def test_rename_by_folder_name_past_99_albums(root: Path) -> None:
    with _open(root) as library:
        library.index_files()
        with library.catalog.transaction():  # as if 97 albums had come and gone
            library.catalog.db.execute("UPDATE albums SET number = 100 WHERE number = 2")
        library.write_tree()
        folders = sorted(_links(root))
        assert [f[:4] for f in folders] == ["001-", "100-"]
        with pytest.raises(AutoalbumError, match=f"albums: {folders[0]}, {folders[1]}$"):
            library.rename("nope", "Holiday")
        library.rename(folders[0], "Holiday")
        assert [a.name for a in library.catalog.albums() if a.number == 1] == ["Holiday"]
    assert sorted(_links(root)) == ["001-holiday", folders[1]]
