"""Telling a refused write from other errors, and naming the folder that refused it."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from autoalbum.faults import Blocked, Fault, Folder, Probe, Refusal, refusal, refused_write
from autoalbum.library.catalog import CatalogError


def _folders(root: Path) -> tuple[Folder, ...]:
    return (
        Folder("state folder", root / "state"),
        Folder("album folder", root / "albums"),
        Folder("sidecar folder", root / "photos"),
    )


@pytest.mark.parametrize(
    ("code", "fault"),
    [(errno.ENOSPC, Fault.FULL), (errno.EDQUOT, Fault.FULL), (errno.EROFS, Fault.READ_ONLY),
     (errno.EACCES, Fault.DENIED)],
)  # fmt: skip
def test_an_os_error_is_placed_by_its_path(tmp_path: Path, code: int, fault: Fault) -> None:
    error = OSError(code, "refused", str(tmp_path / "albums" / "07-cats" / ".index.tmp"))
    found = refusal(error, _folders(tmp_path))
    assert found is not None
    assert (found.folder.role, found.fault) == ("album folder", fault)
    assert found.free is not None and found.free > 0  # as the file system says


def test_an_album_folder_inside_a_photo_folder_is_the_album_folder(tmp_path: Path) -> None:
    folders = (*_folders(tmp_path), Folder("album folder", tmp_path / "photos" / "Albums"))
    error = OSError(errno.ENOSPC, "full", str(tmp_path / "photos" / "Albums" / "index.json"))
    found = refusal(error, folders)
    assert found is not None and found.folder.path == tmp_path / "photos" / "Albums"


def test_sqlite_refusals_are_the_state_folders_even_when_wrapped(tmp_path: Path) -> None:
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.Error as exc:
            raise CatalogError("cannot open the catalog") from exc
    except CatalogError as error:
        found = refusal(error, _folders(tmp_path))
    assert found is not None
    assert (found.folder.role, found.fault) == ("state folder", Fault.FULL)
    assert refused_write(sqlite3.OperationalError("attempt to write a readonly database"))


def test_other_errors_are_no_refusals(tmp_path: Path) -> None:
    folders = _folders(tmp_path)
    unreadable_photo = OSError(errno.EACCES, "denied", "/elsewhere/IMG_1.jpg")
    assert refusal(unreadable_photo, folders) is None
    assert refusal(OSError(errno.ENOENT, "gone", str(tmp_path / "state")), folders) is None
    assert refusal(sqlite3.OperationalError("no such table: files"), folders) is None
    assert refusal(ValueError("no"), folders) is None
    assert not refused_write(ValueError("no"))


def test_a_path_outside_the_library_is_named_as_it_is(tmp_path: Path) -> None:
    error = OSError(errno.ENOSPC, "full", str(tmp_path / "cache" / "model.onnx"))
    found = refusal(error, _folders(tmp_path))
    assert found is not None and found.folder == Folder("folder", tmp_path / "cache")


def test_the_message_names_the_folder_what_is_kept_and_what_to_do() -> None:
    full = Refusal(Folder("state folder", Path("/x")), Fault.FULL, Probe(0, False, True))
    assert str(Blocked(full, "768 photos indexed")) == (
        "state folder /x is full (0 bytes free): committed work is kept (768 photos indexed); "
        "free some space on the disk of /x and run the command again"
    )
    read_only = Refusal(Folder("album folder", Path("/a")), Fault.READ_ONLY, None)
    assert read_only.describe() == "album folder read-only"
    assert "remount the file system of /a read-write" in str(Blocked(read_only))
    assert Refusal.from_dict(full.as_dict()).describe() == "state folder full (0 bytes free)"


def test_a_folder_looks_better_once_space_is_freed_or_it_is_writable_again() -> None:
    before = Probe(free=0, read_only=True, writable=False)
    assert not Probe(4096, True, False).better_than(before)
    assert Probe(2 << 20, True, False).better_than(before)
    assert Probe(0, False, False).better_than(before)
    assert Probe(0, True, True).better_than(before)
