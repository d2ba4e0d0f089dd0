"""Incremental indexing: unchanged, moved, deleted, symlinked, modified and unreadable files,
and how often each file is read."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from autoalbum.embedding.fingerprint import QUICK_SPAN, fingerprint_file
from autoalbum.library.library import Library
from autoalbum.library.records import Status
from autoalbum.library.tables import digest_of
from colour_library import ColourEmbedder, colour_photos, config, links, open_library, photo
from old_catalog import as_schema_5

_WATCHED: list[Path] = []  # folders whose files' opens are noted in _OPENED
_OPENED: list[Path] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _WATCHED or not args:
        return
    if isinstance(args[0], str | bytes | os.PathLike):
        path = Path(os.fsdecode(args[0]))
        if any(folder in path.parents for folder in _WATCHED):
            _OPENED.append(path)


sys.addaudithook(_audit)  # cannot be removed; it notes nothing outside `_reads`


def _rchar() -> int:
    """Bytes this process has read through system calls so far, page cache or not."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"])


@contextmanager
def _reads(folder: Path) -> Iterator[tuple[list[Path], Callable[[], int]]]:
    """The files opened below `folder`, and the bytes read by the whole process, meanwhile."""
    _OPENED.clear()
    _WATCHED.append(folder)
    start = _rchar()
    read: list[int] = []
    try:
        yield _OPENED, lambda: read[0]
    finally:
        read.append(_rchar() - start)
        _WATCHED.remove(folder)


def _grainy_jpeg(path: Path, seed: int) -> Path:
    """A photo of about a megabyte: noise keeps JPEG from shrinking it."""
    pixels = np.random.default_rng(seed).integers(0, 256, (750, 1000, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def _banded_bmp(path: Path, middle: tuple[int, int, int]) -> Path:
    """An uncompressed photo whose first and last 64 KiB hold only its grey top and bottom
    bands: photos that differ in `middle` alone share their quick key."""
    pixels = np.full((400, 256, 3), 128, np.uint8)
    pixels[100:300] = middle
    Image.fromarray(pixels).save(path)
    return path


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


def test_new_photos_are_read_once(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()  # imports everything the timed run needs
    new = [_grainy_jpeg(root / "photos" / f"new{i}.jpg", i) for i in range(3)]
    size = sum(path.stat().st_size for path in new)
    with open_library(root) as library, _reads(root / "photos") as (opened, read):
        report = library.index_files()
    assert (report.embedded, report.relinked) == (3, 0)
    # Each is opened for its quick key (two 64 KiB reads) and once to decode: never hashed
    # whole before that. The unchanged photos are not opened at all. (These have no date in
    # their EXIF, so their XMP sidecars are looked for: there are none.)
    photos = Counter(path for path in opened if path.suffix != ".xmp")
    assert photos == dict.fromkeys(new, 2)
    assert size < read() < size + len(new) * 2 * QUICK_SPAN + 512 * 1024


def test_identical_new_files_become_one_content(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    first = photo(root / "photos" / "green.png", "green", 7)
    copy = shutil.copy(first, root / "photos" / "blue" / "green-copy.png")
    embedder = ColourEmbedder()
    with open_library(root, embedder) as library:
        report = library.index_files()
        ids = {library.catalog.file(p).content_id for p in (first, Path(copy))}  # type: ignore[union-attr]
        assert library.catalog.duplicate_groups() == [sorted([Path(copy), first])]
    assert (report.embedded, report.relinked) == (1, 1)
    assert embedder.images_seen == 1 and len(ids) == 1


@pytest.mark.parametrize("together", [True, False])
def test_same_ends_different_middle_is_no_duplicate(tmp_path: Path, together: bool) -> None:
    (tmp_path / "photos").mkdir()
    red = _banded_bmp(tmp_path / "photos" / "red.bmp", (220, 30, 30))
    if not together:
        with open_library(tmp_path, k=1) as library:
            library.index_files()
    blue = _banded_bmp(tmp_path / "photos" / "blue.bmp", (30, 30, 220))
    assert fingerprint_file(red).quick == fingerprint_file(blue).quick
    with open_library(tmp_path, k=1) as library:
        report = library.index_files()
        records = [library.catalog.file(p) for p in (red, blue)]
        vectors = library.catalog.vectors([r.content_id for r in records])  # type: ignore[union-attr,misc]
    assert (report.embedded, report.relinked) == (2 if together else 1, 0)
    assert records[0].hash != records[1].hash  # type: ignore[union-attr]
    assert not np.allclose(vectors[0], vectors[1])


def test_catalog_from_before_quick_keys_still_relinks_moves(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
    as_schema_5(root / "state" / "catalog.sqlite")
    db = sqlite3.connect(root / "state" / "catalog.sqlite")
    db.executescript(
        "DROP INDEX contents_quick; ALTER TABLE contents DROP COLUMN quick; DROP TABLE tagged; "
        "ALTER TABLE contents DROP COLUMN next_vector; PRAGMA user_version=2;"
    )
    db.close()
    moved = root / "photos" / "renamed.png"
    os.rename(root / "photos" / "red0.png", moved)
    photo(root / "photos" / "green.png", "green", 7)
    embedder = ColourEmbedder()
    with open_library(root, embedder) as library:
        report = library.index_files()
        content = library.catalog.file(moved).content_id  # type: ignore[union-attr]
        query = "SELECT quick FROM contents WHERE id = ?"
        quick = library.catalog.db.execute(query, (content,)).fetchone()[0]
    assert (report.embedded, report.relinked, report.missing) == (1, 1, 1)
    assert embedder.images_seen == 1
    assert digest_of(quick) == fingerprint_file(moved).quick  # the old content got its key
