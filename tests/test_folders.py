"""An unmounted drive is not a deletion: offline folders keep their photos, links and albums,
and a mass deletion is held back; each folder comes back with nothing re-embedded."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autoalbum.cli import main
from autoalbum.library.folders import MARKER, Folders
from autoalbum.library.library import Library
from autoalbum.service.status import library_status
from colour_library import ColourEmbedder, colour_photos, config, photo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def _tree(root: Path) -> dict[str, list[str]]:
    """Album folder -> the names its links point at, dangling or not."""
    tree: dict[str, list[str]] = {}
    for link in (root / "albums").rglob("*"):
        if link.is_symlink():
            tree.setdefault(link.parent.name, []).append(os.path.basename(os.readlink(link)))
    return {album: sorted(names) for album, names in tree.items()}


def _indexed(root: Path, model: ColourEmbedder, **options: bool) -> tuple[int, int, list[str]]:
    """Index once: (embedded, missing, reasons of the folders offline)."""
    with Library(config(root), lambda: model) as library:  # type: ignore[arg-type]
        report = library.index_files(**options)
        return report.embedded, report.missing, [o.reason for o in library.folders.offline()]


def _away_and_back(root: Path, make_away: str) -> None:
    """Index, take the folder away as `make_away` says, index, bring it back, index."""
    model = ColourEmbedder()
    assert _indexed(root, model)[:2] == (12, 0)
    before = _tree(root)
    photos = root / "photos"
    photos.rename(root / "unmounted")
    if make_away == "empty":
        photos.mkdir()
    _, missing, offline = _indexed(root, model)
    assert (missing, offline) == (0, [make_away])
    assert _tree(root) == before, "the links stay, dangling"
    if photos.exists():
        photos.rmdir()
    (root / "unmounted").rename(photos)
    seen = model.images_seen
    assert _indexed(root, model) == (0, 0, [])
    assert model.images_seen == seen, "nothing embedded again"
    assert _tree(root) == before, "the same albums, numbers and names"


def test_an_emptied_folder_is_offline_and_comes_back_as_it_was(root: Path) -> None:
    _away_and_back(root, "empty")


def test_a_missing_folder_is_offline_and_comes_back_as_it_was(root: Path) -> None:
    _away_and_back(root, "missing")


def test_status_says_which_folder_is_offline_and_since_when(root: Path) -> None:
    model = ColourEmbedder()
    _indexed(root, model)
    shutil.move(root / "photos", root / "unmounted")
    (root / "photos").mkdir()
    _indexed(root, model)
    file = root / "autoalbum.yaml"
    file.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\n"
    )
    shown = library_status(file)
    assert f"{root / 'photos'} (empty): its photos are kept in their albums" in shown
    assert "offline since 20" in shown


def test_a_missing_marker_means_offline_even_with_files_there(root: Path) -> None:
    model = ColourEmbedder()
    (root / "photos" / MARKER).touch()
    _indexed(root, model)
    before = _tree(root)
    (root / "photos").rename(root / "unmounted")
    photo(root / "photos" / "written-while-unmounted.png", "green", 7)
    assert _indexed(root, model) == (0, 0, [f"its {MARKER} marker is missing"])
    assert _tree(root) == before, "nothing removed, the stray photo not taken in"
    shutil.rmtree(root / "photos")
    (root / "unmounted").rename(root / "photos")
    assert _indexed(root, model) == (0, 0, [])
    assert _tree(root) == before


def test_another_device_with_none_of_the_photos_is_offline(root: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == root.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    drive = root / "drive"
    (root / "photos").rename(drive)
    (root / "photos").symlink_to(drive)  # the config's folder, as a mount point
    model = ColourEmbedder()
    _indexed(root, model)
    before = _tree(root)
    elsewhere = Path(tempfile.mkdtemp(dir=shm))
    try:
        photo(elsewhere / "stray.png", "green", 3)
        (root / "photos").unlink()
        (root / "photos").symlink_to(elsewhere)
        reasons = _indexed(root, model)[2]
        assert reasons == ["on another device, and none of its photos is there"]
        assert _tree(root) == before
    finally:
        shutil.rmtree(elsewhere)


def _many(root: Path, count: int) -> list[Path]:
    return [
        photo(root / "photos" / "many" / f"red{i:03d}.png", "red", 1000 + i) for i in range(count)
    ]


def test_a_mass_deletion_is_held_back_until_accepted(root: Path) -> None:
    many = _many(root, 110)
    model = ColourEmbedder()
    assert _indexed(root, model)[:2] == (122, 0)
    for path in many[:100]:
        path.unlink()
    (root / "photos" / "blue" / "blue0.png").unlink()
    before = _tree(root)
    assert _indexed(root, model)[1] == 0, "101 of 122 photos vanished: held back"
    assert _tree(root) == before
    with Library(config(root), lambda: model) as library:  # type: ignore[arg-type]
        assert [count for count, _ in library.folders.held().values()] == [101]
    file = root / "autoalbum.yaml"
    file.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 2\n"
    )
    assert "the removal of 101 photos that vanished at once" in library_status(file)
    assert main(["index", "--config", str(file), "--accept-deletions"]) == 0
    assert sum(len(names) for names in _tree(root).values()) == 21
    assert "held back" not in library_status(file)


def test_ordinary_deletions_go_through_at_once(root: Path) -> None:
    many = _many(root, 110)
    model = ColourEmbedder()
    _indexed(root, model)
    for path in many[:40]:
        path.unlink()
    assert _indexed(root, model)[1] == 40


def test_a_held_deletion_goes_through_after_the_grace_period(root: Path) -> None:
    _many(root, 110)
    now = [1000.0]
    with Library(config(root), ColourEmbedder) as library:  # type: ignore[arg-type]
        library.index_files()
        folders = Folders((root / "photos",), library.catalog, 1.0, clock=lambda: now[0])
        gone = sorted((root / "photos" / "many").iterdir())
        assert folders.screen(gone) == []
        now[0] += 3599
        assert folders.screen(gone) == []
        now[0] += 2
        assert folders.screen(gone) == gone
        assert folders.held() == {}


def test_no_hold_when_the_grace_period_is_zero(root: Path) -> None:
    many = _many(root, 110)
    settings = config(root)
    settings = dataclasses.replace(
        settings, library=dataclasses.replace(settings.library, hold_deletions_hours=0.0)
    )
    with Library(settings, ColourEmbedder) as library:  # type: ignore[arg-type]
        library.index_files()
        for path in many:
            path.unlink()
        assert library.index_files().missing == 110


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read folders without read permission")
def test_an_unreadable_folder_is_offline_and_an_unreadable_subfolder_keeps_its_photos(
    root: Path,
) -> None:
    model = ColourEmbedder()
    _indexed(root, model)
    before = _tree(root)
    (root / "photos" / "blue").chmod(0)
    try:
        assert _indexed(root, model)[:2] == (0, 0)
        assert _tree(root) == before
    finally:
        (root / "photos" / "blue").chmod(0o755)
    (root / "photos").chmod(0)
    try:
        assert _indexed(root, model) == (0, 0, ["unreadable (Permission denied)"])
        assert _tree(root) == before
    finally:
        (root / "photos").chmod(0o755)
