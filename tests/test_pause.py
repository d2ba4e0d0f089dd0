"""The daemon's pause: refused writes hold the work that writes back, with backoff."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import pytest

from autoalbum.faults import Fault, Folder, Probe, Refusal
from autoalbum.service.pause import (
    FIRST_TRY_SECONDS,
    LAST_TRY_SECONDS,
    ROOM_BYTES,
    Pauser,
    Room,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refused(path: Path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path / "catalog.sqlite-wal"))


def test_a_refused_write_pauses_and_backs_off_until_one_goes_through(tmp_path: Path) -> None:
    clock = Clock()
    pauser = Pauser(lambda: [Folder("state folder", tmp_path)], clock)
    waits = []
    for _ in range(9):
        with pauser.guard():
            raise _refused(tmp_path)
        assert pauser.pause is not None and pauser.held(), "tmp_path did not get roomier"
        waits.append(pauser.pause.delay)
        clock.now = pauser.pause.retry_at
        assert not pauser.held()
    assert waits[:3] == [FIRST_TRY_SECONDS, 2 * FIRST_TRY_SECONDS, 4 * FIRST_TRY_SECONDS]
    assert waits[-1] == LAST_TRY_SECONDS
    assert pauser.pause.describe().startswith("paused: state folder full (")
    with pauser.guard():
        pass
    assert pauser.pause is None and not pauser.held()


def test_other_errors_pass_through(tmp_path: Path) -> None:
    pauser = Pauser(lambda: [Folder("state folder", tmp_path)], Clock())
    with pytest.raises(ValueError), pauser.guard():
        raise ValueError("a bug")
    assert pauser.pause is None


def test_a_folder_that_looks_writable_again_is_tried_at_once(tmp_path: Path) -> None:
    pauser = Pauser(lambda: [Folder("album folder", tmp_path)], Clock())
    with pauser.guard():
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "index.json"))
    assert pauser.pause is not None and pauser.held()
    # As when it refused: read-only. tmp_path is writable now, as after `mount -o remount,rw`.
    was = pauser.pause.refusal
    then = Refusal(was.folder, Fault.READ_ONLY, Probe(was.free or 0, True, True))
    pauser.pause = dataclasses.replace(pauser.pause, refusal=then)
    assert not pauser.held()


def test_the_room_is_kept_and_given_up(tmp_path: Path) -> None:
    room = Room(tmp_path)
    room.keep()
    assert room.path.stat().st_size == ROOM_BYTES
    assert room.give_up() and not room.path.exists()
    assert not room.give_up()
    room.keep()
    assert not room.path.exists(), "tried again only after a while"
