"""The folder watcher on real temp folders, with real inotify and polling observers."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from watchdog.events import FileCreatedEvent, FileMovedEvent
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyObserver

from autoalbum.service.settler import (
    CLOSED_SECONDS,
    Change,
    ChangeKind,
    Settler,
    watched_tree,
)
from autoalbum.service.watcher import FolderWatcher

SETTLE = 0.25
POLL = 0.1
QUIET = 0.5  # how long to keep listening for changes that should not come

UPDATED, DELETED, MOVED = ChangeKind.UPDATED, ChangeKind.DELETED, ChangeKind.MOVED


@pytest.fixture(params=["native", "polling"])
def polling(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "polling")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def _watch(
    folder: Path,
    polling: bool,
    *,
    settle: float = SETTLE,
    exclude: Sequence[Path] = (),
    follow_symlinks: bool = False,
    native_factory: Callable[[], BaseObserver] = Observer,
) -> FolderWatcher:
    return FolderWatcher(
        [folder], exclude=exclude, polling=polling, poll_seconds=POLL, settle_seconds=settle,
        follow_symlinks=follow_symlinks, native_factory=native_factory,
    )  # fmt: skip


def _make(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())


def _collect(watcher: FolderWatcher, count: int, timeout: float = 5.0) -> list[Change]:
    """Changes until `count` arrived, then whatever else comes within QUIET seconds."""
    found: list[Change] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found += watcher.changes(timeout=0.1)
    return found + watcher.changes(timeout=QUIET)


def test_new_photo_is_reported_once_settled(photos: Path, polling: bool) -> None:
    with _watch(photos, polling) as watcher:
        _make(photos, "notes.txt", ".hidden.jpg", "clip.mov", "~lock.jpg", "x.jpg.crdownload")
        started = time.monotonic()
        (photos / "a.jpg").write_bytes(b"x" * 100)
        first = watcher.changes(timeout=5)
        latency = time.monotonic() - started
        assert first + _collect(watcher, 0) == [Change(UPDATED, photos / "a.jpg")]
        assert watcher.polling is polling
    if polling:  # no close events: the file must hold still for the settle time
        assert SETTLE <= latency <= SETTLE + 0.5 + POLL
    else:  # closed by its writer: a short wait after the close
        assert CLOSED_SECONDS <= latency < SETTLE


def test_a_file_closed_after_writing_is_taken_well_before_the_settle_time(photos: Path) -> None:
    with _watch(photos, False, settle=2.0) as watcher:
        started = time.monotonic()
        shutil.copyfile(Path(__file__), photos / "a.jpg")
        changes = watcher.changes(timeout=5)
        latency = time.monotonic() - started
    assert changes == [Change(UPDATED, photos / "a.jpg")]
    assert latency < 0.6


def test_file_written_in_chunks_is_reported_once_after_the_last(
    photos: Path, polling: bool
) -> None:
    path = photos / "slow.jpg"
    with _watch(photos, polling, settle=1.0) as watcher, path.open("ab") as stream:
        for _ in range(3):  # a slow download: the file stays open between chunks
            stream.write(b"y" * 4096)
            stream.flush()
            finished = time.monotonic()
            assert watcher.changes(timeout=0.4) == []
        changes = watcher.changes(timeout=3)
        arrived = time.monotonic()
        assert changes + _collect(watcher, 0) == [Change(UPDATED, path)]
    assert arrived - finished >= 0.95


def test_a_file_closed_and_opened_again_is_reported_again_once_done(photos: Path) -> None:
    """A tool that closes the file between chunks: each close may be taken for the end, so
    the file is reported again after the last chunk, and examined again then."""
    path = photos / "reopened.jpg"
    with _watch(photos, False, settle=1.0) as watcher:
        reports: list[tuple[Change, float]] = []
        for _ in range(3):
            with path.open("ab") as stream:
                stream.write(b"y" * 4096)
            finished = time.monotonic()
            reports += [(change, time.monotonic()) for change in watcher.changes(timeout=0.4)]
        reports += [(change, time.monotonic()) for change in _collect(watcher, 0)]
    assert {change for change, _ in reports} == {Change(UPDATED, path)}
    assert max(at for _, at in reports) > finished  # reported after the last chunk too


def test_pending_counts_files_settling_and_changes_not_taken(photos: Path, polling: bool) -> None:
    with _watch(photos, polling) as watcher:
        assert watcher.pending == 0
        _make(photos, "a.jpg", "b.jpg", "notes.txt")
        deadline = time.monotonic() + 5
        while watcher.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watcher.pending == 2  # settling, then settled and waiting to be taken
        assert len(_collect(watcher, 2)) == 2
        assert watcher.pending == 0


def test_burst_is_reported_whole_in_a_few_batches(photos: Path, polling: bool) -> None:
    with _watch(photos, polling) as watcher:
        for i in range(50):
            (photos / f"{i:02d}.jpg").write_bytes(b"z" * 10)
        batches: list[list[Change]] = []
        deadline = time.monotonic() + 5
        while sum(map(len, batches)) < 50 and time.monotonic() < deadline:
            if batch := watcher.changes(timeout=0.2):
                batches.append(batch)
    changes = [change for batch in batches for change in batch]
    assert {change.kind for change in changes} == {UPDATED}
    assert sorted(change.path.name for change in changes) == [f"{i:02d}.jpg" for i in range(50)]
    assert len(batches) <= 3


def test_download_renamed_to_its_final_name(photos: Path, polling: bool) -> None:
    with _watch(photos, polling) as watcher:
        (photos / "photo.jpg.part").write_bytes(b"partial")  # a browser's download
        (photos / ".synced.jpg.Ab12Cd").write_bytes(b"temp")  # rsync's temporary name
        with (photos / "photo.jpg.part").open("ab") as stream:
            stream.write(b" and the rest")
        os.rename(photos / "photo.jpg.part", photos / "photo.jpg")
        os.rename(photos / ".synced.jpg.Ab12Cd", photos / "synced.jpg")
        changes = _collect(watcher, 2)
    assert sorted(changes, key=str) == [
        Change(UPDATED, photos / "photo.jpg"),
        Change(UPDATED, photos / "synced.jpg"),
    ]


def test_files_gone_or_renamed_before_settling(photos: Path, polling: bool) -> None:
    with _watch(photos, polling) as watcher:
        (photos / "brief.jpg").write_bytes(b"soon deleted")
        (photos / "draft.jpg").write_bytes(b"soon renamed")
        (photos / "brief.jpg").unlink()
        os.rename(photos / "draft.jpg", photos / "final.jpg")
        # The deletes come at once and maybe one batch each; the arrival only once settled.
        changes: list[Change] = []
        deadline = time.monotonic() + 5
        while Change(UPDATED, photos / "final.jpg") not in changes and time.monotonic() < deadline:
            changes += watcher.changes(timeout=0.1)
        changes += _collect(watcher, 0)
    assert Change(UPDATED, photos / "final.jpg") in changes
    # Deletes of names never reported are allowed: the consumer ignores unknown paths.
    assert {c.kind for c in changes if c.path != photos / "final.jpg"} <= {DELETED}


def test_rename_seen_after_the_file_vanished_while_settling(photos: Path) -> None:
    """The settle tick may stat a file already renamed before the rename event is applied."""
    settler = Settler(watched_tree([photos], [], lambda p: p.suffix == ".jpg"), SETTLE, False)
    draft, final = photos / "draft.jpg", photos / "final.jpg"
    draft.write_bytes(b"being written")
    assert settler.apply(FileCreatedEvent(str(draft))) == []
    os.rename(draft, final)
    start = time.monotonic()
    assert settler.settle(start) == []  # draft.jpg is gone: its rename is still queued
    # Not a move of a photo the consumer knows: at most a delete of a name never reported.
    assert settler.apply(FileMovedEvent(str(draft), str(final))) == [Change(DELETED, draft)]
    assert settler.settle(start + 0.01) == []  # the new name settles first
    assert settler.settle(start + 2 * SETTLE) == [Change(UPDATED, final)]
    assert settler.pending == {}


def test_delete_rename_and_folder_rename(photos: Path, polling: bool) -> None:
    _make(photos, "a.jpg", "b.jpg", "trip/c.jpg", "trip/day2/d.jpg")
    with _watch(photos, polling) as watcher:
        (photos / "a.jpg").unlink()
        os.rename(photos / "b.jpg", photos / "b2.jpg")
        os.rename(photos / "trip", photos / "holiday")
        changes = _collect(watcher, 4)
    assert sorted(changes, key=str) == [
        Change(DELETED, photos / "a.jpg"),
        Change(MOVED, photos / "b.jpg", photos / "b2.jpg"),
        Change(MOVED, photos / "trip/c.jpg", photos / "holiday/c.jpg"),
        Change(MOVED, photos / "trip/day2/d.jpg", photos / "holiday/day2/d.jpg"),
    ]


def test_folder_deleted_reports_each_file(photos: Path, polling: bool) -> None:
    _make(photos, "old/x.jpg", "old/deep/y.jpg", "kept.jpg")
    with _watch(photos, polling) as watcher:
        shutil.rmtree(photos / "old")
        changes = set(_collect(watcher, 4))
    assert changes == {
        Change(DELETED, photos / "old/x.jpg"),
        Change(DELETED, photos / "old/deep/y.jpg"),
        Change(DELETED, photos / "old/deep"),
        Change(DELETED, photos / "old"),
    }


def test_moves_in_and_out_of_the_watched_folders(
    photos: Path, outside: Path, polling: bool
) -> None:
    _make(outside, "in.jpg", "card/DCIM/1.jpg")
    _make(photos, "out.jpg", "trip/t.jpg")
    with _watch(photos, polling) as watcher:
        os.rename(outside / "in.jpg", photos / "in.jpg")
        os.rename(outside / "card", photos / "card")
        os.rename(photos / "out.jpg", outside / "out.jpg")
        os.rename(photos / "trip", outside / "trip")
        changes = set(_collect(watcher, 4))
    expected = {
        Change(UPDATED, photos / "in.jpg"),
        Change(UPDATED, photos / "card/DCIM/1.jpg"),
        Change(DELETED, photos / "out.jpg"),
        Change(DELETED, photos / "trip"),  # inotify can't list what left: the folder stands for it
    }
    assert expected <= changes <= expected | {Change(DELETED, photos / "trip/t.jpg")}


def test_excluded_and_hidden_folders_are_ignored(photos: Path, polling: bool) -> None:
    _make(photos, "albums/cats/old.jpg", ".thumbnails/old.jpg", "moved.jpg")
    with _watch(photos, polling, exclude=[photos / "albums"]) as watcher:
        _make(photos, "albums/cats/new.jpg", ".thumbnails/new.jpg", ".git/x/y.jpg")
        os.rename(photos / "moved.jpg", photos / ".thumbnails/moved.jpg")
        (photos / "kept.jpg").write_bytes(b"x")
        changes = _collect(watcher, 2)
    assert sorted(changes, key=str) == [
        Change(DELETED, photos / "moved.jpg"),  # hidden away: gone as far as albums go
        Change(UPDATED, photos / "kept.jpg"),
    ]


def test_symlinks_out_of_the_folders_are_not_followed(
    photos: Path, outside: Path, polling: bool
) -> None:
    _make(outside, "ext/e.jpg")
    os.symlink(outside / "ext", photos / "early-link")
    with _watch(photos, polling) as watcher:
        os.symlink(outside / "ext" / "e.jpg", photos / "link.jpg")
        os.symlink(outside / "ext", photos / "late-link")
        _make(outside, "ext/new.jpg")
        (photos / "real.jpg").write_bytes(b"x")
        changes = _collect(watcher, 1)
    assert changes == [Change(UPDATED, photos / "real.jpg")]


def test_symlinks_followed_when_asked(photos: Path, outside: Path, polling: bool) -> None:
    _make(outside, "ext/e.jpg")
    os.symlink(outside / "ext", photos / "link")
    with _watch(photos, polling, follow_symlinks=True) as watcher:
        _make(outside, "ext/new.jpg")
        os.symlink(outside / "ext" / "e.jpg", photos / "e-link.jpg")
        changes = set(_collect(watcher, 2))
    assert changes == {
        Change(UPDATED, photos / "link/new.jpg"),
        Change(UPDATED, photos / "e-link.jpg"),
    }


def test_a_symlinked_watched_folder_reports_its_own_paths(tmp_path: Path, polling: bool) -> None:
    real = tmp_path / "disk"
    real.mkdir()
    (tmp_path / "Pictures").symlink_to(real)
    with _watch(tmp_path / "Pictures", polling) as watcher:
        (real / "a.jpg").write_bytes(b"x")
        changes = _collect(watcher, 1)
    assert changes == [Change(UPDATED, tmp_path / "Pictures/a.jpg")]


@pytest.mark.parametrize(
    ("code", "sysctl"),
    [
        (errno.ENOSPC, "fs.inotify.max_user_watches"),
        (errno.EMFILE, "fs.inotify.max_user_instances"),
    ],
)
def test_inotify_limit_falls_back_to_polling(
    photos: Path, caplog: pytest.LogCaptureFixture, code: int, sysctl: str
) -> None:
    class Exhausted(InotifyObserver):
        """inotify at its limit: scheduling fails as watchdog reports it."""

        def schedule(self, *_: object, **__: object) -> None:  # type: ignore[override]
            raise OSError(code, "inotify watch limit reached")

    with caplog.at_level(logging.WARNING), _watch(photos, False, native_factory=Exhausted) as w:
        assert w.polling
        (photos / "late.jpg").write_bytes(b"x")
        assert _collect(w, 1) == [Change(UPDATED, photos / "late.jpg")]
    assert "falling back to polling every 0.1 s" in caplog.text
    assert f"sudo sysctl {sysctl}=" in caplog.text


def test_other_errors_are_not_hidden_by_polling(tmp_path: Path) -> None:
    class Broken(InotifyObserver):
        def schedule(self, *_: object, **__: object) -> None:  # type: ignore[override]
            raise OSError(errno.EIO, "input/output error")

    with pytest.raises(OSError, match="input/output error"):
        FolderWatcher([tmp_path], native_factory=Broken).start()


_UNDER_LIMIT = """
import logging, sys, time
from pathlib import Path
from autoalbum.service.watcher import FolderWatcher
logging.basicConfig(level=logging.WARNING)
folder = Path(sys.argv[1])
with FolderWatcher([folder], poll_seconds=0.1, settle_seconds=0.1) as watcher:
    (folder / "d29" / "late.jpg").write_bytes(b"x")
    found = []
    deadline = time.monotonic() + 5
    while not found and time.monotonic() < deadline:
        found = watcher.changes(timeout=0.2)
    print(watcher.polling, [str(change.path.relative_to(folder)) for change in found])
"""


def _unshare(limit: int, *command: str) -> subprocess.CompletedProcess[str]:
    """Run `command` in a user namespace whose inotify watch limit is `limit`."""
    set_limit = f'echo {limit} > /proc/sys/user/max_inotify_watches && exec "$@"'
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", set_limit, "sh", *command],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(("limit", "polls"), [(0, True), (10, True), (1000, False)])
def test_real_inotify_limit(tmp_path: Path, limit: int, polls: bool) -> None:
    """A limit too low for the root or only for sub-folders (watchdog skips those silently)."""
    if shutil.which("unshare") is None or _unshare(limit, "true").returncode != 0:
        pytest.skip("needs unprivileged user namespaces to lower the inotify limit")
    for i in range(30):
        (tmp_path / f"d{i:02d}").mkdir()
    result = _unshare(limit, sys.executable, "-c", _UNDER_LIMIT, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(polls), "['d29/late.jpg']"]
    assert ("fs.inotify.max_user_watches" in result.stderr) is polls


def test_stop_wakes_a_waiting_consumer(photos: Path) -> None:
    watcher = FolderWatcher([photos])
    watcher.start()
    timer = threading.Timer(0.2, watcher.stop)
    timer.start()
    started = time.monotonic()
    assert watcher.changes(timeout=10) == []
    assert time.monotonic() - started < 1.0
    timer.join()
    watcher.stop()  # again: nothing happens
    assert watcher.changes(timeout=10) == []  # stopped: returns at once


def test_a_missing_folder_is_not_watched_and_the_others_are(tmp_path: Path) -> None:
    """An offline folder (an unplugged drive) must not stop the watch over the others."""
    (tmp_path / "here").mkdir()
    with FolderWatcher([tmp_path / "gone", tmp_path / "here"], settle_seconds=0.1) as watcher:
        (tmp_path / "here" / "new.jpg").write_bytes(b"x" * 10)
        deadline = time.monotonic() + 10
        changes: list[Change] = []
        while time.monotonic() < deadline and not changes:
            changes = watcher.changes(timeout=0.2)
    assert [c.path.name for c in changes] == ["new.jpg"]
