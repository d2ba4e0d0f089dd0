"""The folder watcher on real temp folders with real watchdog observers."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoalbum.watcher import Change, ChangeKind, FolderWatcher

SETTLE = 0.3


@pytest.fixture(params=["native", "polling"])
def watched(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, FolderWatcher]]:
    folder = tmp_path / "photos"
    folder.mkdir()
    polling = request.param == "polling"
    watcher = FolderWatcher(
        [folder], exclude=[folder / "albums"], polling=polling, poll_seconds=0.1,
        settle_seconds=SETTLE,
    )  # fmt: skip
    with watcher:
        yield folder, watcher


def _collect(watcher: FolderWatcher, until: int, timeout: float = 5.0) -> list[Change]:
    found: list[Change] = []
    deadline = time.monotonic() + timeout
    while len(found) < until and time.monotonic() < deadline:
        found += watcher.changes(timeout=0.2)
    found += watcher.changes(timeout=SETTLE + 0.4)  # and nothing more arrives
    return found


def test_new_photo_is_reported_once_settled(watched: tuple[Path, FolderWatcher]) -> None:
    folder, watcher = watched
    started = time.monotonic()
    (folder / "a.jpg").write_bytes(b"x" * 100)
    (folder / "notes.txt").write_text("ignored")
    (folder / ".hidden.jpg").write_bytes(b"ignored")
    changes = _collect(watcher, 1)
    assert changes == [Change(ChangeKind.UPDATED, folder / "a.jpg")]
    assert time.monotonic() - started >= SETTLE


def test_file_written_in_chunks_is_reported_after_the_last(
    watched: tuple[Path, FolderWatcher],
) -> None:
    folder, watcher = watched
    with (folder / "slow.jpg").open("wb") as stream:
        for _ in range(3):
            stream.write(b"y" * 1000)
            stream.flush()
            os.fsync(stream.fileno())
            assert watcher.changes(timeout=0.2) == []
    assert _collect(watcher, 1) == [Change(ChangeKind.UPDATED, folder / "slow.jpg")]


def test_burst_is_batched(watched: tuple[Path, FolderWatcher]) -> None:
    folder, watcher = watched
    for i in range(50):
        (folder / f"{i:02d}.jpg").write_bytes(b"z")
    changes = _collect(watcher, 50)
    assert sorted(c.path.name for c in changes) == [f"{i:02d}.jpg" for i in range(50)]


def test_download_renamed_to_its_final_name(watched: tuple[Path, FolderWatcher]) -> None:
    folder, watcher = watched
    (folder / "photo.jpg.part").write_bytes(b"partial")
    time.sleep(0.1)
    os.rename(folder / "photo.jpg.part", folder / "photo.jpg")
    assert _collect(watcher, 1) == [Change(ChangeKind.UPDATED, folder / "photo.jpg")]


def test_delete_move_and_folder_rename(watched: tuple[Path, FolderWatcher]) -> None:
    folder, watcher = watched
    (folder / "trip").mkdir()
    for name in ("a.jpg", "b.jpg", "trip/c.jpg"):
        (folder / name).write_bytes(name.encode())
    assert len(_collect(watcher, 3)) == 3
    (folder / "a.jpg").unlink()
    os.rename(folder / "b.jpg", folder / "trip" / "b2.jpg")
    os.rename(folder / "trip", folder / "holiday")
    changes = set(_collect(watcher, 3))
    assert Change(ChangeKind.DELETED, folder / "a.jpg") in changes
    moved = {(c.path.name, c.dest) for c in changes if c.kind is ChangeKind.MOVED}
    assert ("c.jpg", folder / "holiday" / "c.jpg") in moved


def test_excluded_folder_is_ignored(watched: tuple[Path, FolderWatcher]) -> None:
    folder, watcher = watched
    (folder / "albums").mkdir()
    (folder / "albums" / "link.jpg").write_bytes(b"x")
    (folder / "kept.jpg").write_bytes(b"x")
    assert _collect(watcher, 1) == [Change(ChangeKind.UPDATED, folder / "kept.jpg")]


def test_inotify_limit_falls_back_to_polling(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Exhausted:
        """A native observer whose watches run out, as inotify's do at the sysctl limit."""

        def schedule(self, *_: object, **__: object) -> None:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        def is_alive(self) -> bool:
            return False

    with (
        caplog.at_level(logging.WARNING),
        FolderWatcher(
            [tmp_path], poll_seconds=0.1, settle_seconds=0.1, native_factory=Exhausted
        ) as watcher,
    ):
        assert watcher.polling
        (tmp_path / "late.jpg").write_bytes(b"x")
        assert _collect(watcher, 1) == [Change(ChangeKind.UPDATED, tmp_path / "late.jpg")]
    assert "fs.inotify.max_user_watches" in caplog.text


def test_stop_wakes_a_waiting_consumer(tmp_path: Path) -> None:
    watcher = FolderWatcher([tmp_path])
    watcher.start()
    threading.Timer(0.2, watcher.stop).start()
    started = time.monotonic()
    assert watcher.changes(timeout=10) == []
    assert time.monotonic() - started < 2
    time.sleep(0.05)  # let the timer thread finish
