"""Looking for the user's gestures costs what changed (library/gesture_watch.py): a write after
one arrival reads no other album's members file and lists no other album folder, a user's
change made while autoalbum writes is still taken, and a changed top level is read whole.
Real library, real tree; which files and folders are read is seen through audit hooks."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from autoalbum.albums import sidecar
from autoalbum.library import gesture_watch, tree_writer
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
    return str(out / sidecar.members_file(number, 0))


def _stop(*args: object, **kwargs: object) -> None:
    """Stands in for a step autoalbum is killed in."""
    raise KeyboardInterrupt


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
    update_albums = tree_writer.update_albums

    def moving_first(*args: object, **kwargs: object) -> object:
        move[0].rename(move[1])
        time.sleep(0.1)
        return update_albums(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tree_writer, "update_albums", moving_first)


@pytest.mark.parametrize("source", ["green", "red"])
def test_a_move_made_during_a_write_is_taken_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """A red and a blue photo arrive, so autoalbum writes the red and blue albums' folders;
    meanwhile the user moves a link into the blue one: from green (a folder autoalbum doesn't
    write) or red. Each look verifies one folder autoalbum wrote, and reads all it wrote
    once one of them differs."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        blue, origin = folder_of(out, "blue0.png"), folder_of(out, f"{source}1.png")
        name = f"{source}1.png"
        late = [photo(tmp_path / "photos" / f"late-{c}.png", c, 77) for c in ("red", "blue")]
        _move_while_writing(monkeypatch, (out / origin / name, out / blue / name))
        library.ingest(late)
        monkeypatch.undo()
        monkeypatch.setattr(gesture_watch, "VERIFY_PHOTOS", 1)
        assert library.corrections() == [], "taken by the look before the write: too soon"
        deadline = time.monotonic() + 5
        while not library.album_folder_changed:  # once the mtimes can be trusted
            assert time.monotonic() < deadline, "the idle check never noticed the move"
            time.sleep(0.01)
        assert library.take_gestures() == 1
        assert [c.kind.value for c in library.corrections()] == ["pin"]
        assert folder_of(out, name) == blue
        assert not (out / origin / name).exists()


def test_folders_written_are_verified_a_share_at_a_time_after_the_burst(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look before a write lists no folder it wrote before; the idle looks list them
    again, VERIFY_PHOTOS photos' worth each, until none is left unsure."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        late = [photo(tmp_path / "photos" / f"late-{c}.png", c, 77) for c in ("red", "blue")]
        library.ingest(late[:1])
        with reading() as reads:
            library.ingest(late[1:])  # the red folder, written just before, is not listed
        assert folder_of(out, "late-red.png") not in {Path(p).name for _, p in reads}
        monkeypatch.setattr(gesture_watch, "VERIFY_PHOTOS", 1)
        listed: list[set[str]] = []
        deadline = time.monotonic() + 10
        while library.album_folder_changed or not listed:
            assert time.monotonic() < deadline, "the written folders stayed unsure"
            with reading() as reads:
                assert library.take_gestures() == 0
            listed.append(_album_reads(out, reads)[1])
            time.sleep(0.05)
    assert all(len(folders) <= 1 for folders in listed), listed
    verified = {Path(p).name for folders in listed for p in folders}
    assert verified == {folder_of(out, "late-red.png"), folder_of(out, "late-blue.png")}


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


# links moved or deleted are adopted: the tree is updated in place, never swapped


def where(out: Path, original: str) -> str:
    """The album folder holding the one link to the original named `original`."""
    (folder,) = [
        f.name for f in out.iterdir() if f.is_dir() and not f.name.startswith(".")
        for link in f.iterdir() if link.is_symlink() and os.readlink(link).endswith(original)
    ]  # fmt: skip
    return folder


def _members_files(out: Path) -> dict[str, tuple[int, int]]:
    """Each members file's inode and mtime: a rewrite replaces the file."""
    files = (out / sidecar.MEMBERS_FOLDER).iterdir()
    return {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in files}


def _holds_after_reclusters(root: Path, original: str, folder_of_photo: str) -> None:
    """`original` stays in the album of `folder_of_photo` through two reclusters and after the
    library is opened again."""
    out = root / "albums"
    with open_library(root, k=3) as library:
        for _ in range(2):
            library.recluster()
            assert where(out, original) == where(out, folder_of_photo)
    with open_library(root, k=3) as library:
        library.index_files()
        assert library.take_gestures() == 0
    assert where(out, original) == where(out, folder_of_photo)


def test_a_moved_link_stays_as_dropped_and_the_tree_is_not_swapped(tmp_path: Path) -> None:
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue, green = (folder_of(out, f"{c}0.png") for c in ("red", "blue", "green"))
        top = out.stat().st_ino
        files = _members_files(out)
        dropped = out / blue / "mine red1.png"  # renamed as it was dropped
        (out / red / "red1.png").rename(dropped)
        inode = dropped.lstat().st_ino
        assert library.take_gestures() == 1
        assert [c.kind.value for c in library.corrections()] == ["pin"]
        assert out.stat().st_ino == top, "the tree was swapped"
        assert dropped.lstat().st_ino == inode, "the user's link was replaced"
        assert where(out, "red1.png") == blue, "a second link to the photo"
        assert {p.link for p in sidecar.written_links(out).values()} >= {"mine red1.png"}
        now = _members_files(out)
        changed = {name for name in files if now[name] != files[name]}
        assert changed <= {members_file(out, f).rsplit("/", 1)[1] for f in (red, blue)}
        assert not library.album_folder_changed
        assert library.take_gestures() == 0
        library.write_tree()
        assert dropped.lstat().st_ino == inode and out.stat().st_ino == top
        assert folder_of(out, "green0.png") == green
    _holds_after_reclusters(tmp_path, "red1.png", "blue0.png")


def test_a_deleted_link_moves_its_photo_in_place(tmp_path: Path) -> None:
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red = folder_of(out, "red0.png")
        top = out.stat().st_ino
        others = {link.name: link.lstat().st_ino for link in (out / red).iterdir()}
        (out / red / "red3.png").unlink()
        del others["red3.png"]
        assert library.take_gestures() == 1
        assert [c.kind.value for c in library.corrections()] == ["exclude"]
        assert out.stat().st_ino == top, "the tree was swapped"
        assert where(out, "red3.png") != red, "not placed again"
        assert {link.name: link.lstat().st_ino for link in (out / red).iterdir()} == others
        assert library.take_gestures() == 0
    with open_library(tmp_path, k=3) as library:
        for _ in range(2):
            library.recluster()
            assert where(out, "red3.png") != where(out, "red0.png")


def test_a_move_with_a_renamed_folder_rebuilds(tmp_path: Path) -> None:
    """A folder-level gesture with a move: both taken, the tree rebuilt as before."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue = folder_of(out, "red0.png"), folder_of(out, "blue0.png")
        top = out.stat().st_ino
        (out / red / "red1.png").rename(out / blue / "red1.png")
        (out / blue).rename(out / "Navy")
        assert library.take_gestures() == 2
        assert out.stat().st_ino != top
        assert where(out, "red1.png") == "Navy" == where(out, "blue0.png")


def test_a_stop_between_adopting_and_updating_takes_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """autoalbum stops after it recorded the user's move as its own, before the update (or
    after members files, before index.json): no gesture is taken again nor invented."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue = folder_of(out, "red0.png"), folder_of(out, "blue0.png")
        (out / red / "red1.png").rename(out / blue / "red1.png")
        (out / red / "red2.png").unlink()

        monkeypatch.setattr(tree_writer, "update_albums", _stop)
        with pytest.raises(KeyboardInterrupt):
            library.take_gestures()
        monkeypatch.undo()
    with open_library(tmp_path, k=3) as library:
        library.index_files()
        assert library.take_gestures() == 0
        assert sorted(c.kind.value for c in library.corrections()) == ["exclude", "pin"]
        library.write_tree()  # as the daemon does when it starts
        assert library.take_gestures() == 0
    assert where(out, "red1.png") == blue and where(out, "red2.png") != red


def test_a_stop_inside_adopting_takes_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue = folder_of(out, "red0.png"), folder_of(out, "blue0.png")
        (out / red / "red1.png").rename(out / blue / "red1.png")

        monkeypatch.setattr(sidecar, "write_index", _stop)  # the members files are written
        with pytest.raises(KeyboardInterrupt):
            library.take_gestures()
        monkeypatch.undo()
    with open_library(tmp_path, k=3) as library:
        library.index_files()
        assert library.take_gestures() == 0
        assert [c.kind.value for c in library.corrections()] == ["pin"]
        library.write_tree()
        assert library.take_gestures() == 0
    assert where(out, "red1.png") == blue


def test_a_moved_link_with_an_undecodable_name_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue = folder_of(out, "red0.png"), folder_of(out, "blue0.png")
        name = os.fsdecode(b"caf\xe9 \xff.png")
        os.rename(out / red / "red1.png", out / blue / name)
        inode = (out / blue / name).lstat().st_ino
        assert library.take_gestures() == 1
        assert (out / blue / name).lstat().st_ino == inode
    with open_library(tmp_path, k=3) as library:
        library.index_files()
        assert library.take_gestures() == 0, "the name did not come back from index files"
        assert (out / blue / name).lstat().st_ino == inode


def test_a_link_dropped_over_one_of_the_same_name(tmp_path: Path) -> None:
    """The user's link replaces the link of another photo of the same name in the album it
    is dropped in: that photo was deleted from there, and is placed again beside it."""
    out = tmp_path / "albums"
    photo(tmp_path / "photos" / "other" / "red1.png", "blue", 91)
    with _library(tmp_path) as library:
        red, blue = folder_of(out, "red0.png"), where(out, "other/red1.png")
        assert red != blue
        (clash,) = [n for n, w in _by_name(out, blue).items() if w.endswith("other/red1.png")]
        os.rename(out / red / "red1.png", out / blue / clash)
        inode = (out / blue / clash).lstat().st_ino
        assert library.take_gestures() == 2
        assert sorted(c.kind.value for c in library.corrections()) == ["exclude", "pin"]
        assert (out / blue / clash).lstat().st_ino == inode
        assert os.readlink(out / blue / clash).endswith("photos/red1.png")
        assert where(out, "other/red1.png") != blue
        assert library.take_gestures() == 0


def _by_name(out: Path, folder: str) -> dict[str, str]:
    return {link.name: os.readlink(link) for link in (out / folder).iterdir()}


# the stamps outlast the process: a new one's first look costs what changed too


def _album_reads(out: Path, reads: list[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """The members files opened and the album folders listed (the top folder aside)."""
    members = {p for _, p in reads if sidecar.MEMBERS_FOLDER in p and p.endswith(".json")}
    listed = {p for e, p in reads if e != "open" and p.startswith(str(out)) and p != str(out)}
    return members, listed


def _every_members_file(out: Path) -> set[str]:
    index = sidecar.read_index(out)
    assert index is not None
    return {str(out / page) for s in index.albums for page in s.members}


def test_a_new_process_with_nothing_changed_reads_no_album(tmp_path: Path) -> None:
    out = tmp_path / "albums"
    _library(tmp_path).close()
    assert (tmp_path / "state" / gesture_watch.STAMPS_NAME).is_file()
    assert not [p for p in out.rglob("*") if "stamps" in p.name], "stamps in the album folder"
    with open_library(tmp_path, k=3) as library, reading() as reads:
        assert not library.album_folder_changed
        assert library.take_gestures() == 0
    assert _album_reads(out, reads) == (set(), set())


@pytest.mark.parametrize("gesture", ["moved", "deleted", "renamed"])
def test_a_gesture_made_while_no_process_ran_is_taken(tmp_path: Path, gesture: str) -> None:
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        red, blue = folder_of(out, "red0.png"), folder_of(out, "blue0.png")
        green = folder_of(out, "green0.png")
    if gesture == "moved":
        (out / red / "red1.png").rename(out / blue / "red1.png")
    elif gesture == "deleted":
        (out / red / "red1.png").unlink()
    else:
        (out / blue).rename(out / "Navy")
    with open_library(tmp_path, k=3) as library:
        assert library.album_folder_changed
        assert library.take_gestures() == 1
        kinds = [c.kind.value for c in library.corrections()]
        assert kinds == {"moved": ["pin"], "deleted": ["exclude"], "renamed": []}[gesture]
        if gesture == "renamed":  # a rename is the album's name, no correction
            assert "Navy" in {a.name for a in library.catalog.albums()}
        assert library.take_gestures() == 0
    assert where(out, "green0.png") == green
    assert where(out, "red1.png") == {"moved": blue, "deleted": where(out, "red1.png"),
                                      "renamed": red}[gesture]  # fmt: skip
    if gesture == "deleted":
        assert where(out, "red1.png") != red
    if gesture == "renamed":
        assert where(out, "blue0.png") == "Navy"


def _older_generation(path: Path) -> None:
    raw = json.loads(path.read_text())
    raw["generation"] -= 1
    path.write_text(json.dumps(raw))


def _another_file_system(out: Path) -> None:
    """The album folder copied elsewhere and back, as a move to another disk does: mtimes
    kept, every inode new."""
    copy = out.with_name("albums-copy")
    shutil.copytree(out, copy, symlinks=True)
    for folder in [copy, *(f for f in copy.rglob("*") if f.is_dir() and not f.is_symlink())]:
        original = out / folder.relative_to(copy)
        times = original.stat()
        os.utime(folder, ns=(times.st_atime_ns, times.st_mtime_ns))
    shutil.rmtree(out)
    copy.rename(out)


@pytest.mark.parametrize("spoil", ["older generation", "damaged", "not JSON", "another disk"])
def test_stamps_that_cant_be_trusted_mean_a_full_look(tmp_path: Path, spoil: str) -> None:
    out = tmp_path / "albums"
    _library(tmp_path).close()
    path = tmp_path / "state" / gesture_watch.STAMPS_NAME
    if spoil == "older generation":
        _older_generation(path)
    elif spoil == "damaged":
        path.write_text('{"version": 1, "folders": [1, 2]}')
    elif spoil == "not JSON":
        path.write_bytes(b"\xff{")
    else:
        _another_file_system(out)
    every = _every_members_file(out)
    with open_library(tmp_path, k=3) as library, reading() as reads:
        assert library.take_gestures() == 0
        assert library.corrections() == []
        with reading() as later:
            assert library.take_gestures() == 0  # the stamps are good again
    assert _album_reads(out, reads)[0] == every, "not every album was read"
    assert _album_reads(out, later) == (set(), set())


def test_a_stop_after_a_write_before_the_stamps_are_saved_takes_no_gesture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """autoalbum writes a new photo's album, then stops before it saves the stamps: the ones
    saved before are a generation behind, and the next process reads every album, finding
    nothing the user did."""
    out = tmp_path / "albums"
    with _library(tmp_path) as library:
        late = photo(tmp_path / "photos" / "late-red.png", "red", 77)

        monkeypatch.setattr(gesture_watch, "write_json_atomically", _stop)
        with pytest.raises(KeyboardInterrupt):
            library.ingest([late])
        monkeypatch.undo()
    assert folder_of(out, "late-red.png") == folder_of(out, "red0.png"), "not written"
    every = _every_members_file(out)
    with open_library(tmp_path, k=3) as library, reading() as reads:
        library.index_files()
        assert library.take_gestures() == 0
        assert library.corrections() == []
    assert _album_reads(out, reads)[0] == every
    assert folder_of(out, "late-red.png") == folder_of(out, "red0.png")
