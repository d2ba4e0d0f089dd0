"""Looking for the user's gestures costs what changed (library/gesture_watch.py): a write after
one arrival reads no other album's members file and lists no other album folder, a user's
change made while autoalbum writes is still taken, and a changed top level is read whole.
Real library, real tree; which files and folders are read is seen through audit hooks."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from autoalbum.albums import sidecar
from autoalbum.library import keeper
from autoalbum.library.library import Library
from colour_library import colour_photos, open_library, photo

_reads: list[tuple[str, str]] | None = None  # (event, path) while `reading` records them


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _reads is not None and event in ("open", "os.scandir", "os.listdir") and args:
        path = args[0]
        if isinstance(path, (str, bytes, os.PathLike)):
            _reads.append((event, os.path.abspath(os.fsdecode(path))))


sys.addaudithook(_audit)  # for the whole test run: a hook can't be removed; idle when off


@contextmanager
def reading() -> Iterator[list[tuple[str, str]]]:
    """The files opened and the folders listed meanwhile."""
    global _reads
    _reads = []
    try:
        yield _reads
    finally:
        _reads = None


def _library(root: Path) -> Library:
    """Red, blue and green photos in three albums, the tree written and looked at since."""
    colour_photos(root)
    for i in range(4):
        photo(root / "photos" / "green" / f"green{i}.png", "green", 200 + i)
    library = open_library(root, k=3)
    library.index_files()
    _settle(library, root / "albums")
    return library


def _settle(library: Library, out: Path) -> None:
    """Album folders older than any write, and a look made since: nothing is left unsure,
    whatever the file system's timestamp granularity."""
    old = time.time() - 60
    for folder in out.iterdir():
        if folder.is_dir():
            os.utime(folder, (old, old))
    assert library.take_gestures() == 0
    assert not library.album_folder_changed


def folder_of(out: Path, name: str) -> str:
    (folder,) = [f.name for f in out.iterdir() if (f / name).is_symlink()]
    return folder


def members_file(out: Path, folder: str) -> str:
    index = sidecar.read_index(out)
    assert index is not None
    (number,) = [s.number for s in index.albums if s.folder == folder]
    return str(out / sidecar.members_file(number))


def test_one_arrival_reads_only_its_album(tmp_path: Path) -> None:
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red = folder_of(out, "red0.png")
        late = photo(tmp_path / "photos" / "late-red.png", "red", 77)
        with reading() as reads:
            library.ingest([late])  # as the daemon takes an arrival in
        assert folder_of(out, "late-red.png") == red
    members = {p for _, p in reads if sidecar.MEMBERS_FOLDER in p and p.endswith(".json")}
    assert members == {members_file(out, red)}, "read or wrote another album's members file"
    listed = {p for event, p in reads if event != "open" and p.startswith(str(out))}
    assert listed <= {str(out), str(out / red)}, "listed another album folder"
    assert str(out / red) in listed


def _move_while_writing(monkeypatch: pytest.MonkeyPatch, move: tuple[Path, Path]) -> None:
    """The user moves a link while autoalbum updates the tree in place (after it stamped the
    album folders and looked at them), a while before the write ends, as in a big library:
    long enough for the folders' mtimes to be trusted again by then."""
    update_albums = keeper.update_albums

    def moving_first(*args: object, **kwargs: object) -> object:
        move[0].rename(move[1])
        time.sleep(0.1)
        return update_albums(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keeper, "update_albums", moving_first)


@pytest.mark.parametrize("source", ["green", "red"])
def test_a_move_made_during_a_write_is_taken_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """A red photo arrives, so autoalbum writes the red album's folder; meanwhile the user
    moves a link into the blue one: from green (a folder autoalbum doesn't write) or red."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        blue, origin = folder_of(out, "blue0.png"), folder_of(out, f"{source}1.png")
        name = f"{source}1.png"
        late = photo(tmp_path / "photos" / "late-red.png", "red", 77)
        _move_while_writing(monkeypatch, (out / origin / name, out / blue / name))
        library.ingest([late])
        monkeypatch.undo()
        assert library.corrections() == [], "taken by the look before the write: too soon"
        deadline = time.monotonic() + 5
        while not library.album_folder_changed:  # once the mtimes can be trusted
            assert time.monotonic() < deadline, "the idle check never noticed the move"
            time.sleep(0.01)
        assert library.take_gestures() == 1
        assert [c.kind.value for c in library.corrections()] == ["pin"]
        assert folder_of(out, name) == blue
        assert not (out / origin / name).exists()


def test_a_changed_top_level_is_read_whole(tmp_path: Path) -> None:
    """A folder renamed and a new folder of moved links: both taken, in one look."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue, green = (folder_of(out, f"{c}0.png") for c in ("red", "blue", "green"))
        every = {members_file(out, f) for f in (red, blue, green)}
        number = blue.split("-")[0]
        (out / blue).rename(out / f"{number}-navy")
        (out / "Mine").mkdir()
        (out / red / "red2.png").rename(out / "Mine" / "red2.png")
        with reading() as reads:
            assert library.take_gestures() == 2
        assert "album" in {c.kind.value for c in library.corrections()}
        assert folder_of(out, "blue0.png") == f"{number}-navy"
        assert folder_of(out, "red2.png").lower().endswith("mine")
    assert every <= {p for event, p in reads if event == "open"}, "not every album was read"


def test_own_index_files_and_stray_files_are_no_album_folders(tmp_path: Path) -> None:
    """The hidden .index folder changing, or a file dropped beside the albums, reads no
    album."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        (out / sidecar.MEMBERS_FOLDER / "album-9999.json").write_text("{}")
        assert not library.album_folder_changed, "the hidden .index folder counted"
        (out / "notes.txt").write_text("mine")
        assert library.album_folder_changed
        with reading() as reads:
            assert library.take_gestures() == 0
        assert not [p for _, p in reads if sidecar.MEMBERS_FOLDER in p]
        assert not library.album_folder_changed


def test_a_deleted_folder_and_a_moved_link_in_one_look(tmp_path: Path) -> None:
    """A top-level change (green's folder deleted) read whole, with a move between two
    other folders made at the same time."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue, green = (folder_of(out, f"{c}0.png") for c in ("red", "blue", "green"))
        shutil.rmtree(out / green)
        (out / red / "red3.png").rename(out / blue / "red3.png")
        assert library.take_gestures() == 2
        assert sorted(c.kind.value for c in library.corrections()) == ["pin", "retire"]
        assert folder_of(out, "red3.png") == blue
