"""A damaged catalog is refused, and its kept copy (library/backup.py) put back by `autoalbum
restore` (library/restore.py): real SQLite files cut short or overwritten, the real CLI, the
real daemon in a subprocess, a real full disk (tmpfs, where this machine lets a test mount one)
and a real failing write (a file-size limit)."""

from __future__ import annotations

import gzip
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from autoalbum.cli import main
from autoalbum.library.backup import BACKUP_NAME, WHOLE_NAME, kept_copy
from autoalbum.library.catalog import CATALOG_NAME, Catalog, CatalogDamagedError, Status
from autoalbum.library.lock import LibraryLock
from autoalbum.library.schema import PAGE_SIZE
from colour_library import ColourEmbedder, colour_photos, links, open_library, photo

DAEMON_TIMEOUT = 60  # seconds for `autoalbum run` to refuse: it stops before loading a model


def _config_file(root: Path) -> Path:
    """colour_library's config, as a file for the CLI and the daemon."""
    config = root / "autoalbum.yaml"
    config.write_text(
        textwrap.dedent(f"""\
            library:
              folders: [{root / "photos"}]
              albums: {root / "albums"}
              state: {root / "state"}
            cluster:
              k: 2
              unsorted_distance: 0.6
            watch:
              settle_seconds: 0.3
              reconcile_minutes: 0
            """)
    )
    return config


def _library(root: Path) -> Path:
    """Twelve photos indexed (the first index clusters them: a copy is kept); returns the
    config file."""
    colour_photos(root)
    with open_library(root) as library:
        library.index_files()
    return _config_file(root)


def _catalog(root: Path) -> Path:
    return root / "state" / CATALOG_NAME


def _garbage(root: Path) -> bytes:
    data = os.urandom(64 * 1024)
    _catalog(root).write_bytes(data)
    return data


def _cut_in_half(root: Path) -> bytes:
    with _catalog(root).open("r+b") as catalog:
        catalog.truncate(_catalog(root).stat().st_size // 2)
    return _catalog(root).read_bytes()


def _page_overwritten(root: Path) -> bytes:
    """A page in the middle of the file turned to noise, as bit rot or a torn write leaves it:
    the file opens, and only the check finds it."""
    size = _catalog(root).stat().st_size
    with _catalog(root).open("r+b") as catalog:
        catalog.seek(size // 2 // PAGE_SIZE * PAGE_SIZE)
        catalog.write(random.Random(0).randbytes(PAGE_SIZE))
    return _catalog(root).read_bytes()


def _index_page_overwritten(root: Path) -> bytes:
    """The page of one index (files by status) turned to noise: every vector is still there."""
    db = sqlite3.connect(_catalog(root))
    page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'files_status'").fetchone()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with _catalog(root).open("r+b") as catalog:
        catalog.seek((page[0] - 1) * PAGE_SIZE)
        catalog.write(random.Random(0).randbytes(PAGE_SIZE))
    return _catalog(root).read_bytes()


def _schema(catalog: Catalog) -> list[tuple[str, str]]:
    return catalog.db.execute(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
    ).fetchall()


@contextmanager
def _kept(state: Path, tmp: Path) -> Iterator[Catalog]:
    """The kept copy, unpacked into `tmp` and opened (checked as it opens)."""
    unpacked = tmp / "kept.sqlite"
    unpacked.write_bytes(gzip.decompress((state / BACKUP_NAME).read_bytes()))
    with Catalog(unpacked) as kept:
        yield kept


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_refused(err: str, root: Path, problem: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert f"cannot open the catalog {_catalog(root)}" in err
    assert problem in err
    assert "autoalbum restore" in err and "autoalbum index" in err
    assert "Traceback" not in err


def _run_daemon(config: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", "run", "--config", str(config), "--device", "cpu"],
        env={**os.environ, "AUTOALBUM_CACHE": str(cache)}, capture_output=True, text=True,
        timeout=DAEMON_TIMEOUT, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_garbage, "it is damaged (file is not a database)"),
        (_cut_in_half, "it is damaged (database disk image is malformed)"),
        (_page_overwritten, "it is damaged (Page "),
    ],
    ids=["garbage", "truncated", "page-overwritten"],
)
def test_a_damaged_catalog_is_refused_by_every_command_and_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_cache: Path, damage: object,
    problem: str,
) -> None:  # fmt: skip
    config = _library(tmp_path)
    copy = (tmp_path / "state" / BACKUP_NAME).read_bytes()
    damaged = damage(tmp_path)  # type: ignore[operator]
    for command in ("index", "status", "recluster"):
        code, _, err = _cli(capsys, command, "--config", str(config))
        assert code == 1, command
        _assert_refused(err, tmp_path, problem)
    daemon = _run_daemon(config, model_cache)
    assert daemon.returncode == 1
    error_lines = [line for line in daemon.stderr.splitlines() if not line.startswith("INFO")]
    assert len(error_lines) == 1, daemon.stderr
    _assert_refused(error_lines[0] + "\n", tmp_path, problem)
    assert "taken after the last recluster" in daemon.stderr  # names the copy and its time
    assert _catalog(tmp_path).read_bytes() == damaged  # nothing written over what is left
    assert (tmp_path / "state" / BACKUP_NAME).read_bytes() == copy


def test_the_daemon_keeps_a_copy_after_its_recluster(tmp_path: Path, embedder: object) -> None:
    colour_photos(tmp_path)
    config, log = _config_file(tmp_path), (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "autoalbum.cli", "run", "--config", str(config), "--device", "cpu"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DAEMON_TIMEOUT
        while kept_copy(tmp_path / "state") is None and time.monotonic() < deadline:
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        log.close()
    assert "kept a copy of the catalog" in (tmp_path / "daemon.log").read_text()
    with _kept(tmp_path / "state", tmp_path) as kept:
        assert kept.count_files()[Status.OK] == 12 and kept.albums_with_members()


def test_a_recluster_keeps_a_checked_copy_of_all_but_the_vectors(tmp_path: Path) -> None:
    colour_photos(tmp_path)
    with open_library(tmp_path) as library:
        library.index_files()
        library.recluster()
        expected = {f.path for f in library.catalog.files(Status.OK)}
        albums = {a.number: a.name for a in library.catalog.albums()}
    state = tmp_path / "state"
    with _kept(state, tmp_path) as kept:
        assert kept.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {f.path for f in kept.files(Status.OK)} == expected and len(expected) == 12
        assert {a.number: a.name for a in kept.albums()} == albums
        assert kept.last_run("recluster") is not None
        assert kept.vector_count() == 0  # the photos give them again
        assert kept.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    assert (state / BACKUP_NAME).stat().st_size < _catalog(tmp_path).stat().st_size / 4
    assert not [p for p in state.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize(
    ("damage", "salvaged"),
    [(_index_page_overwritten, 12), (_garbage, 0)],
    ids=["index-page-overwritten", "garbage"],
)
def test_restore_brings_the_albums_back_and_index_embeds_only_what_it_must(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: object, salvaged: int
) -> None:
    """Photos indexed after the copy are taken in again; the copy's photos keep their albums,
    embedded again only where the damaged catalog lost their vectors."""
    config = _library(tmp_path)
    at_copy = links(tmp_path)
    for i in range(3):  # photos indexed after the copy: lost with the catalog, taken in again
        photo(tmp_path / "photos" / f"late-red{i}.png", "red", 200 + i)
    with open_library(tmp_path) as library:
        assert library.index_files().embedded == 3
        at_copy_schema = _schema(library.catalog)
    damaged = damage(tmp_path)  # type: ignore[operator]

    code, out, err = _cli(capsys, "restore", "--config", str(config))
    assert code == 0, err
    assert "restored the catalog from the copy taken" in out and "12 photos in 2 albums" in out
    assert ("embeds them again" in out) == (salvaged < 12)
    aside = next((tmp_path / "state").glob("catalog.damaged-*.sqlite"))
    assert aside.read_bytes() == damaged and str(aside) in out  # not written to
    with Catalog(_catalog(tmp_path)) as catalog:
        assert catalog.count_files()[Status.OK] == 12
        assert catalog.vector_count() == salvaged
        assert _schema(catalog) == at_copy_schema  # the copy's index statements made again

    model = ColourEmbedder()
    with open_library(tmp_path, model) as library:
        report = library.index_files()
        assert library.catalog.vector_count() == 15
    again = 12 - salvaged
    assert (report.embedded, model.images_seen) == (3 + again, 3 + again)
    after = links(tmp_path)
    reds = next(album for album, names in at_copy.items() if "red0.png" in names)
    assert all(f"late-red{i}.png" in after[reds] for i in range(3))
    assert {album: names for album, names in after.items() if album != reds} == {
        album: names for album, names in at_copy.items() if album != reds
    }
    assert set(at_copy[reds].split()) <= set(after[reds].split())


def test_a_library_missing_vectors_after_a_restore_reclusters_searches_and_fills_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Until the next index embeds them again, the photos whose vectors were lost keep their
    albums and stay out of what reads vectors: a recluster, `similar`, `duplicates`."""
    config = _library(tmp_path)
    at_copy = links(tmp_path)
    with Catalog(_catalog(tmp_path)) as catalog:  # the damaged catalog still gives one vector
        kept = int(catalog.vector_ids()[0])
    db = sqlite3.connect(_catalog(tmp_path))
    db.execute("DELETE FROM vectors WHERE content_id != ?", (kept,))
    db.commit()
    db.close()
    _index_page_overwritten(tmp_path)
    code, out, err = _cli(capsys, "restore", "--config", str(config))
    assert code == 0 and "11 photos' vectors were lost" in out, out + err
    with Catalog(_catalog(tmp_path)) as catalog:
        kept_photo, lost_photo = (catalog.paths_of(content)[0] for content in (kept, kept + 1))
    for command in (["recluster"], ["similar", str(kept_photo)], ["duplicates"]):
        code, out, err = _cli(capsys, *command, "--config", str(config))
        assert code == 0, (command, err)
    model = ColourEmbedder()
    with open_library(tmp_path, model) as library:
        found = library.similar(lost_photo, 3)  # embedded for the search, itself left out
        assert model.images_seen == 1 and lost_photo not in {f.path for f in found}
        assert library.index_files().embedded == 11 and model.images_seen == 12
        assert library.catalog.vector_count() == 12
        assert not len(library.catalog.unassigned_ids())
        library.recluster()
    assert sorted(" ".join(links(tmp_path).values()).split()) == sorted(
        " ".join(at_copy.values()).split()
    )


def test_an_old_whole_copy_is_put_back_vectors_and_all_then_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _library(tmp_path)
    state = tmp_path / "state"
    catalog, whole = sqlite3.connect(_catalog(tmp_path)), sqlite3.connect(state / WHOLE_NAME)
    catalog.backup(whole)  # what an older autoalbum kept: the whole catalog
    catalog.close()
    whole.close()
    (state / BACKUP_NAME).unlink()
    _garbage(tmp_path)
    code, out, err = _cli(capsys, "restore", "--config", str(config))
    assert code == 0, err
    assert "12 photos in 2 albums" in out and "embeds them again" not in out
    model = ColourEmbedder()
    with open_library(tmp_path, model) as library:
        assert library.index_files().embedded == 0 and model.images_seen == 0
        library.recluster()
    assert (state / BACKUP_NAME).exists() and not (state / WHOLE_NAME).exists()


def test_restore_refuses_while_a_daemon_holds_the_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _library(tmp_path)
    damaged = _garbage(tmp_path)
    with LibraryLock(tmp_path / "state"):
        code, _, err = _cli(capsys, "restore", "--config", str(config))
    assert code == 1 and "stop it first" in err
    assert _catalog(tmp_path).read_bytes() == damaged


def test_restore_keeps_a_healthy_catalog_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _library(tmp_path)
    code, _, err = _cli(capsys, "restore", "--config", str(config))
    assert code == 1 and "passes its check" in err and "--force" in err
    assert not list((tmp_path / "state").glob("catalog.*-*.sqlite"))
    code, out, _ = _cli(capsys, "restore", "--config", str(config), "--force")
    assert code == 0 and "catalog.replaced-" in out
    assert len(list((tmp_path / "state").glob("catalog.replaced-*.sqlite"))) == 1


def test_without_a_copy_the_way_out_is_to_rebuild(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _library(tmp_path)
    (tmp_path / "state" / BACKUP_NAME).unlink()
    _garbage(tmp_path)
    code, _, err = _cli(capsys, "status", "--config", str(config))
    assert code == 1 and "No copy of it is kept yet" in err and "state folder" in err
    code, _, err = _cli(capsys, "restore", "--config", str(config))
    assert code == 1 and "no copy of the catalog is kept" in err


@pytest.mark.parametrize("fault", ["emptied", "deleted"])
def test_a_catalog_lost_while_its_copy_is_kept_is_not_taken_for_a_new_library(
    tmp_path: Path, fault: str
) -> None:
    _library(tmp_path)
    if fault == "emptied":
        _catalog(tmp_path).write_bytes(b"")
    else:
        _catalog(tmp_path).unlink()
    with pytest.raises(CatalogDamagedError, match="autoalbum restore"):
        open_library(tmp_path)
    assert _catalog(tmp_path).exists() == (fault == "emptied")  # no new catalog made


def test_status_says_when_the_copy_was_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _library(tmp_path)
    code, out, _ = _cli(capsys, "status", "--config", str(config))
    assert code == 0 and "catalog copy: taken " in out and "min ago" in out


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 72 MiB tmpfs: room for a small library and its copy, with the copy's reserve."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=72m", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_keeps_the_old_copy_and_the_recluster(
    full_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _library(full_disk)
    state = full_disk / "state"
    copy = (state / BACKUP_NAME).read_bytes()
    with (full_disk / "filler").open("wb") as filler:  # leaves less than the copy's reserve
        filler.write(b"\0" * (32 * 1024 * 1024))
    photo(full_disk / "photos" / "late-blue.png", "blue", 300)
    with open_library(full_disk) as library, caplog.at_level(logging.WARNING):
        library.index_files()
        report = library.recluster()
    assert report.images == 13  # the recluster stands
    assert "could not take a copy of the catalog" in caplog.text
    assert "free some space" in caplog.text
    assert (state / BACKUP_NAME).read_bytes() == copy
    assert not [p for p in state.iterdir() if ".tmp" in p.name]


FAILING_WRITE = """
import logging, resource, sys
from pathlib import Path
from autoalbum.library.stores import Stores
logging.basicConfig(level=logging.INFO)
stores = Stores(Path(sys.argv[1]))
limit = stores.catalog.path.stat().st_size // 2
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes past it fail (EFBIG)
print("kept" if stores.keep_copy() else "failed")
"""


def test_a_write_failing_halfway_leaves_no_half_copy(tmp_path: Path) -> None:
    _library(tmp_path)
    state = tmp_path / "state"
    copy = (state / BACKUP_NAME).read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", FAILING_WRITE, str(state)], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "failed"
    assert "could not take a copy of the catalog" in done.stderr
    assert "kept the copy of" in done.stderr
    assert (state / BACKUP_NAME).read_bytes() == copy
    assert not [p for p in state.iterdir() if ".tmp" in p.name]


def test_a_copy_left_unfinished_by_a_dead_process_is_removed(tmp_path: Path) -> None:
    _library(tmp_path)
    state = tmp_path / "state"
    stale, fresh = state / f".{BACKUP_NAME}.dead0001.tmp", state / f".{BACKUP_NAME}.busy0002.tmp"
    for temp in (stale, fresh):
        temp.write_bytes(b"half a copy")
    os.utime(stale, (1, 1))
    open_library(tmp_path).close()
    assert not stale.exists() and fresh.exists()  # another process may be writing that one
