"""A full disk, a read-only remount, permission lost: a pause, not a crash (faults.py,
service/pause.py).

Real faults: a small tmpfs filled to the brim or remounted read-only (skipped where mounting is
not allowed), chmod 000 (as root, the daemon runs without the capabilities that override it).
The CLI and the daemon run as subprocesses with the real model. Each test asserts that no
committed work is lost, that nothing leaves the album tree while writes are refused, that the
daemon keeps running, and that it recovers by itself once the fault is gone.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from autoalbum.config import TagsConfig
from autoalbum.faults import Fault, write_folders
from autoalbum.faults import refusal as refusal_of
from autoalbum.library.catalog import CATALOG_NAME, Catalog, Status
from autoalbum.library.library import Library
from autoalbum.library.records import FileRecord
from colour_library import ColourEmbedder, colour_photos, config, photo

NEEDS_MOUNT = "needs to mount a tmpfs (root, or CAP_SYS_ADMIN)"
# Root ignores file permissions by these capabilities: a daemon without them honours chmod.
HONOUR_PERMISSIONS = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")


class Mounts:
    """tmpfs file systems mounted for a test, unmounted after it."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def tmpfs(self, path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            pytest.skip(f"{NEEDS_MOUNT}: {done.stderr.strip()}")
        self.points.append(path)
        return path

    @staticmethod
    def remount(path: Path, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)

    def release(self) -> None:
        for path in reversed(self.points):
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    if shutil.which("mount") is None:
        pytest.skip(f"{NEEDS_MOUNT}: no mount command")
    held = Mounts()
    yield held
    held.release()


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the brim with one ballast file; returns it."""
    ballast = folder / "ballast"
    with ballast.open("wb", buffering=0) as stream:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while stream.write(bytes(size)) == size:
                    pass
            except OSError as error:
                assert error.errno == errno.ENOSPC
    assert shutil.disk_usage(folder).free == 0
    return ballast


def _config_text(root: Path, state: Path, albums: Path) -> str:
    return f"""
library:
  folders: [{root / "photos"}]
  albums: {albums}
  state: {state}
cluster:
  k: 2
recluster:
  after_new_images: 100000
  after_minutes: 600
watch:
  settle_seconds: 0.3
  reconcile_minutes: 0
"""


def _library(root: Path, state: Path, albums: Path) -> Path:
    (root / "photos").mkdir(exist_ok=True)
    (root / "autoalbum.yaml").write_text(_config_text(root, state, albums))
    return root / "autoalbum.yaml"


def _photos(root: Path, start: int, count: int) -> set[str]:
    """`count` new red and blue photos in the library's folder; their names."""
    colours = ("red", "blue")
    made = [
        photo(root / "photos" / f"p{i:03d}.png", colours[i % 2], i)
        for i in range(start, start + count)
    ]
    return {path.name for path in made}


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "AUTOALBUM_CACHE": str(cache)}


def _cli(config: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", *args, "--config", str(config)],
        capture_output=True, text=True, env=_env(cache), timeout=300,
    )  # fmt: skip


def _status(config: Path, cache: Path) -> str:
    done = _cli(config, cache, "status")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _links(albums: Path) -> set[tuple[str, str, str]]:
    """(album folder, link name, target) of every link in the album tree."""
    return {
        (link.parent.name, link.name, os.readlink(link))
        for link in albums.rglob("*")
        if link.is_symlink() and not link.parent.name.startswith(".")
    }


def _linked(albums: Path) -> set[str]:
    """The names of the photos the album tree links to."""
    return {os.path.basename(target) for _, _, target in _links(albums)}


def _intact(state: Path) -> bool:
    """The catalog passes SQLite's integrity check (read only: the daemon may hold it)."""
    with sqlite3.connect(f"file:{state / CATALOG_NAME}?mode=ro", uri=True) as db:
        return bool(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


class Daemon:
    """`autoalbum run` in a subprocess."""

    def __init__(
        self, config: Path, cache: Path, started: bytes = b"watching", *, under: Sequence[str] = ()
    ) -> None:
        self.log_path = config.parent / "daemon.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*under, sys.executable, "-m", "autoalbum.cli", "run", "--config", str(config),
                 "--device", "cpu"],
                stdout=log, stderr=subprocess.STDOUT, env=_env(cache),
            )  # fmt: skip
        self.wait_for(lambda: started in self.output(), what="the daemon to start")

    def output(self) -> bytes:
        return self.log_path.read_bytes()

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            assert self.process.poll() is None, f"daemon died:\n{self.output().decode()}"
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output().decode()[-4000:]}")

    def alive_for(self, seconds: float) -> None:
        """Still running `seconds` from now."""
        time.sleep(seconds)
        assert self.process.poll() is None, f"daemon died:\n{self.output().decode()}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def _each_photo_once(state: Path, names: set[str]) -> None:
    with Catalog(state / CATALOG_NAME) as catalog:
        files = catalog.files(Status.OK)
        assert sorted(f.path.name for f in files) == sorted(names)
        assert len(catalog.content_ids()) == len(names), "one content, embedded once, each"
        assert not catalog.corrections(), "nothing the daemon did was taken for the user's"


def test_index_on_a_full_state_folder_says_so_in_one_line_and_resumes(
    tmp_path: Path, mounts: Mounts, model_cache: Path
) -> None:
    state = mounts.tmpfs(tmp_path / "state", "1536k")
    config = _library(tmp_path, state, tmp_path / "albums")
    names = _photos(tmp_path, 0, 300)
    first = _cli(config, model_cache, "index")
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    last = first.stderr.strip().splitlines()[-1]
    with Catalog(state / CATALOG_NAME) as catalog:
        committed = catalog.count_files()[Status.OK]
    assert 0 < committed < len(names), "the disk filled in the middle"
    assert last == (
        f"error: state folder {state} is full (0 bytes free): committed work is kept "
        f"({committed} photos indexed); free some space on the disk of {state} and run the "
        "command again"
    )
    assert _intact(state)
    subprocess.run(["mount", "-o", "remount,size=8m", str(state)], check=True)
    second = _cli(config, model_cache, "index")
    assert second.returncode == 0, second.stderr
    assert f"{len(names) - committed} embedded" in second.stdout, "nothing embedded twice"
    assert _intact(state)
    with Catalog(state / CATALOG_NAME) as catalog:
        assert catalog.count_files()[Status.OK] == len(names)
        assert len(catalog.content_ids()) == len(names)
    assert _linked(tmp_path / "albums") == names


def test_daemon_pauses_while_the_state_folder_is_full_and_resumes_by_itself(
    tmp_path: Path, mounts: Mounts, model_cache: Path
) -> None:
    state = mounts.tmpfs(tmp_path / "state", "4m")
    albums = tmp_path / "albums"
    config = _library(tmp_path, state, albums)
    daemon = Daemon(config, model_cache)
    try:
        first = _photos(tmp_path, 0, 6)
        daemon.wait_for(lambda: _linked(albums) == first, what="the first photos in albums")
        before = _links(albums)
        ballast = fill(state)
        late = _photos(tmp_path, 6, 6)
        daemon.wait_for(
            lambda: "paused: state folder full (0 bytes free)" in _status(config, model_cache),
            what="autoalbum status to say the daemon is paused",
        )
        daemon.alive_for(3)  # backoff: it tries again after 5 s, and stays paused
        assert _links(albums) == before, "nothing left the album tree"
        assert _intact(state)
        ballast.unlink()
        daemon.wait_for(lambda: _linked(albums) == first | late, what="the late photos filed")
        daemon.wait_for(
            lambda: "paused" not in _status(config, model_cache), what="the pause to be over"
        )
    finally:
        assert daemon.stop() == 0
    assert b"Traceback" not in daemon.output()
    _each_photo_once(state, first | late)


def test_daemon_starts_on_a_full_state_folder_and_waits_for_space(
    tmp_path: Path, mounts: Mounts, model_cache: Path
) -> None:
    state = mounts.tmpfs(tmp_path / "state", "2m")
    albums = tmp_path / "albums"
    config = _library(tmp_path, state, albums)
    names = _photos(tmp_path, 0, 6)
    ballast = fill(state)
    daemon = Daemon(config, model_cache, started=b"paused: state folder")
    try:
        daemon.alive_for(3)  # no crash, no restart loop for systemd
        assert "daemon: running" in _status(config, model_cache)
        ballast.unlink()
        daemon.wait_for(lambda: _linked(albums) == names, what="the photos filed")
    finally:
        assert daemon.stop() == 0
    _each_photo_once(state, names)


def _album_fault_test(
    tmp_path: Path,
    model_cache: Path,
    albums: Path,
    fault: Callable[[bool], None],
    says: str,
    under: Sequence[str] = (),
) -> None:
    """The daemon files photos, the album folder refuses writes (`fault(True)`), more photos
    arrive; then the fault goes (`fault(False)`)."""
    state = tmp_path / "state"
    config = _library(tmp_path, state, albums)
    daemon = Daemon(config, model_cache, under=under)
    try:
        first = _photos(tmp_path, 0, 6)
        daemon.wait_for(lambda: _linked(albums) == first, what="the first photos in albums")
        before = _links(albums)
        fault(True)
        late = _photos(tmp_path, 6, 6)
        daemon.wait_for(
            lambda: f"paused: album folder {says}" in _status(config, model_cache),
            what="autoalbum status to say the daemon is paused",
        )
        daemon.alive_for(3)
        assert _links(albums) == before, "nothing left the album tree, nothing half-written"
        fault(False)
        daemon.wait_for(lambda: _linked(albums) == first | late, what="the late photos filed")
        daemon.wait_for(
            lambda: "paused" not in _status(config, model_cache), what="the pause to be over"
        )
    finally:
        fault(False)
        assert daemon.stop() == 0
    assert b"Traceback" not in daemon.output()
    _each_photo_once(state, first | late)


def test_daemon_pauses_while_the_album_folder_is_read_only(
    tmp_path: Path, mounts: Mounts, model_cache: Path
) -> None:
    disk = mounts.tmpfs(tmp_path / "disk", "16m")

    def read_only(on: bool) -> None:
        mounts.remount(disk, "ro" if on else "rw")

    _album_fault_test(tmp_path, model_cache, disk / "albums", read_only, "read-only")


def test_daemon_pauses_while_the_album_folder_is_not_writable(
    tmp_path: Path, model_cache: Path
) -> None:
    under = HONOUR_PERMISSIONS if os.geteuid() == 0 else ()
    if under and shutil.which(under[0]) is None:
        pytest.skip("root writes into folders without permission; needs setpriv to drop that")
    albums = tmp_path / "albums"

    def denied(on: bool) -> None:
        if albums.exists():
            albums.chmod(0 if on else 0o755)

    _album_fault_test(tmp_path, model_cache, albums, denied, "not writable", under)


def test_a_refused_tree_update_leaves_the_album_folder_as_it_was(
    tmp_path: Path, mounts: Mounts
) -> None:
    """In place, links come before the index files that name them: a full disk in between
    takes them back, so that no half-written album reads as links the user moved or deleted."""
    disk = mounts.tmpfs(tmp_path / "disk", "1m")
    plain = config(colour_photos(tmp_path))
    settings = dataclasses.replace(
        plain, library=dataclasses.replace(plain.library, albums=disk / "albums")
    )
    model = ColourEmbedder()
    with Library(settings, lambda: model) as library:
        library.index_files()
        before = _links(disk / "albums")
        ballast = fill(disk)
        arrivals = [photo(tmp_path / "photos" / f"new{i}.png", "red", 50 + i) for i in range(3)]
        with pytest.raises(OSError) as refused:
            library.ingest(arrivals)
        found = refusal_of(refused.value, write_folders(settings))
        assert found is not None and found.fault is Fault.FULL
        assert found.folder.role == "album folder"
        assert _links(disk / "albums") == before
        ballast.unlink()
        assert library.take_gestures() == 0
        library.write_tree()
        assert not library.corrections(), "nothing autoalbum did was taken for the user's"
        assert {a.name for a in arrivals} <= _linked(disk / "albums")
        assert len(_links(disk / "albums")) == len(before) + len(arrivals)


def test_a_full_sidecar_mirror_is_a_refused_write_and_its_sidecars_wait(
    tmp_path: Path, mounts: Mounts
) -> None:
    """Tags are a courtesy, but a full disk is no one sidecar's fault: the write is refused (the
    daemon pauses, a command says so), the sidecars written stay, and the rest follow later."""
    disk = mounts.tmpfs(tmp_path / "disk", "1m")
    plain = config(colour_photos(tmp_path))
    tags = TagsConfig(enabled=True, location="mirror", mirror=disk / "xmp")
    settings = dataclasses.replace(plain, tags=tags)
    model = ColourEmbedder()
    with Library(settings, lambda: model) as library:
        library.index_files()
        sidecars = {p: p.read_bytes() for p in (disk / "xmp").rglob("*.xmp")}
        assert len(sidecars) == 12
        ballast = fill(disk)
        arrivals = [photo(tmp_path / "photos" / f"new{i}.png", "red", 50 + i) for i in range(3)]
        with pytest.raises(OSError) as refused:
            library.ingest(arrivals)
        found = refusal_of(refused.value, write_folders(settings))
        assert found is not None and found.describe() == "sidecar folder full (0 bytes free)"
        assert {a.name for a in arrivals} <= _linked(tmp_path / "albums"), "the albums go on"
        assert {p: p.read_bytes() for p in (disk / "xmp").rglob("*.xmp")} == sidecars
        ballast.unlink()
        assert library.take_gestures() == 0
        library.write_tree()
        assert len(list((disk / "xmp").rglob("*.xmp"))) == 15
        assert not library.corrections()


def test_an_older_catalog_short_of_room_for_its_rewrite_opens_as_it_is(
    tmp_path: Path, mounts: Mounts, caplog: pytest.LogCaptureFixture
) -> None:
    """The one-time rewrite of an older catalog (catalog.py) needs twice its size free: short
    of that, the catalog opens and works in its old pages, and says so."""
    state = mounts.tmpfs(tmp_path / "state", "8m")
    with Catalog(state / CATALOG_NAME) as catalog, catalog.transaction():
        catalog.put_file(FileRecord(Path("/p/a.jpg"), 1, 1, None, Status.FAILED, "bad", None))
    db = sqlite3.connect(state / CATALOG_NAME, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA page_size=4096")  # as autoalbum made catalogs before
    db.execute("VACUUM")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    with caplog.at_level(logging.WARNING), Catalog(state / CATALOG_NAME) as catalog:
        assert catalog.db.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with catalog.transaction():
            catalog.put_file(FileRecord(Path("/p/b.jpg"), 1, 1, None, Status.FAILED, "bad", None))
        assert len(catalog.files(Status.FAILED)) == 2
    assert "not rewriting catalog" in caplog.text and "twice the catalog" in caplog.text
