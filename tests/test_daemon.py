"""The daemon's policies, step by step on a real temp library (real SQLite, real album tree):
when it reclusters, when it rescans, how it reloads its config, what daemon.json says.

A scripted watcher stands in for folder events and a fake clock for time; the model is a small
deterministic fake. tests/test_service.py runs the real daemon in a subprocess.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from autoalbum.config import Config, load_config
from autoalbum.library.catalog import Status
from autoalbum.library.library import Library
from autoalbum.library.lock import LibraryLock
from autoalbum.notify import Notifier
from autoalbum.service.daemon import Service
from autoalbum.service.reclusters import GROWTH_MINIMUM
from autoalbum.service.settler import Change, ChangeKind, split_changes
from colour_library import ColourEmbedder, photo

NEVER = 10**6  # a recluster setting that never triggers within a test


class ScriptedWatcher:
    """Stands in for a FolderWatcher: hands over the batches a test queued, one per call."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.polling = False
        self.pending = 0
        self.batches: list[list[Change]] = []
        self.running = False

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def changes(self, timeout: float) -> list[Change]:
        if self.batches:
            return self.batches.pop(0)
        time.sleep(min(timeout, 0.005))
        return []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _config_text(
    root: Path,
    *,
    after_new_images: int = NEVER,
    after_minutes: float = NEVER,
    reconcile_minutes: float = 0,
    folders: tuple[str, ...] = ("photos",),
) -> str:
    return f"""
library:
  folders: [{", ".join(str(root / folder) for folder in folders)}]
  albums: {root / "albums"}
  state: {root / "state"}
cluster:
  k: 2
recluster:
  after_new_images: {after_new_images}
  after_minutes: {after_minutes}
watch:
  reconcile_minutes: {reconcile_minutes}
"""


class Rig:
    """A service on a library that already holds `initial` photos, half red, half blue."""

    def __init__(self, root: Path, initial: int, **settings: Any) -> None:
        self.root = root
        self.made = 0
        self.clock = Clock()
        self.watchers: list[ScriptedWatcher] = []
        (root / "photos").mkdir(parents=True, exist_ok=True)
        for i in range(initial):
            photo(root / "photos" / f"old{i}.png", ("red", "blue")[i % 2], i)
        (root / "autoalbum.yaml").write_text(_config_text(root, **settings))
        config = load_config(root / "autoalbum.yaml")
        with self.open_library(config) as library:
            library.index_files()  # the first index clusters too: a recluster at `initial`
        self.service = Service(
            config,
            open_library=self.open_library,
            watch=self.watch,
            lock=LibraryLock(config.library.state),
            notifier=Notifier(environ={}),
            clock=self.clock,
        )

    @staticmethod
    def open_library(config: Config) -> Library:
        model = ColourEmbedder()
        return Library(config, lambda: model)

    def watch(self, config: Config) -> ScriptedWatcher:
        self.watchers.append(ScriptedWatcher(config))
        return self.watchers[-1]

    @property
    def watcher(self) -> ScriptedWatcher:
        return self.watchers[-1]

    def arrive(self, count: int, folder: str = "photos") -> list[Path]:
        """`count` new red photos, reported settled in one batch and filed by one step."""
        paths = [
            photo(self.root / folder / f"new{self.made + i}.png", "red", 1000 + self.made + i)
            for i in range(count)
        ]
        self.made += count
        self.watcher.batches.append([Change(ChangeKind.UPDATED, path) for path in paths])
        self.service.step()
        return paths

    def reclustered_at(self) -> int:
        """How many images the last recluster saw, once any running one has been taken in."""
        deadline = time.monotonic() + 30
        while self.service.reclustering:
            assert time.monotonic() < deadline, "the recluster did not finish"
            self.service.step()
        run = self.service.library.catalog.last_run("recluster")
        assert run is not None
        return run.images

    def status(self) -> dict[str, object]:
        status: dict[str, object] = json.loads((self.root / "state" / "daemon.json").read_text())
        return status


@pytest.fixture
def young(tmp_path: Path) -> Iterator[Rig]:
    """Running on 12 photos, to recluster after 3 new ones."""
    rig = Rig(tmp_path, 12, after_new_images=3)
    with rig.service.running():
        yield rig


def test_reclusters_after_the_configured_number_of_new_photos(young: Rig) -> None:
    young.arrive(2)
    assert not young.service.reclustering
    young.arrive(1)
    assert young.service.reclustering
    assert young.reclustered_at() == 15
    young.arrive(2)
    assert not young.service.reclustering, "the count starts again after a recluster"


@pytest.mark.parametrize(("initial", "threshold"), [(12, 12), (4, GROWTH_MINIMUM)])
def test_a_young_library_reclusters_once_it_has_doubled(
    tmp_path: Path, initial: int, threshold: int
) -> None:
    rig = Rig(tmp_path, initial, after_new_images=200)
    with rig.service.running():
        rig.arrive(threshold - 1)
        assert not rig.service.reclustering
        rig.arrive(1)
        assert rig.service.reclustering
        assert rig.reclustered_at() == initial + threshold


def test_reclusters_minutes_after_the_first_change(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 12, after_minutes=5)
    with rig.service.running():
        rig.clock.now += 3600
        rig.service.step()
        assert not rig.service.reclustering, "no change, no recluster"
        rig.arrive(1)
        rig.clock.now += 5 * 60 - 1
        rig.arrive(1)
        assert not rig.service.reclustering, "timed from the first change, not the last"
        rig.clock.now += 1
        rig.service.step()
        assert rig.service.reclustering
        assert rig.reclustered_at() == 14


def test_rescans_the_folders_every_reconcile_interval(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 4, reconcile_minutes=10)
    with rig.service.running():
        missed = photo(tmp_path / "photos" / "missed.png", "blue", 99)  # no event for it
        rig.clock.now += 10 * 60 - 1
        rig.service.step()
        assert rig.service.library.catalog.file(missed) is None
        rig.clock.now += 1
        rig.service.step()
        record = rig.service.library.catalog.file(missed)
        assert record is not None and record.status is Status.OK


def test_reload_reads_the_new_config_and_watches_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 4)
    with rig.service.running():
        more = [photo(tmp_path / "more" / f"m{i}.png", "blue", 50 + i) for i in range(2)]
        text = _config_text(tmp_path, folders=("photos", "more"), after_new_images=3)
        (tmp_path / "autoalbum.yaml").write_text(text)
        rig.service.reload()
        rig.service.step()
        assert [w.running for w in rig.watchers] == [False, True]
        assert rig.watcher.config.library.folders == (tmp_path / "photos", tmp_path / "more")
        assert all(rig.service.library.catalog.file(path) is not None for path in more)
        rig.arrive(3, folder="more")
        assert rig.service.reclustering, "the new recluster setting holds"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda text: text + "bogus_section: 1\n", "keeping the old one"),
        (lambda text: text.replace("/state", "/elsewhere"), "library.state cannot change"),
    ],
)
def test_reload_keeps_the_old_config_when_the_new_one_cannot_be_used(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: Callable[[str], str],
    complaint: str,
) -> None:
    rig = Rig(tmp_path, 4)
    config = tmp_path / "autoalbum.yaml"
    with rig.service.running():
        old = rig.service.config
        config.write_text(change(config.read_text()))
        with caplog.at_level(logging.ERROR):
            rig.service.reload()
            rig.service.step()
        assert complaint in caplog.text
        assert rig.service.config is old
        assert len(rig.watchers) == 1 and rig.watcher.running
        rig.arrive(1)
        assert rig.service.library.catalog.file(tmp_path / "photos" / "new0.png") is not None


def test_status_reports_the_paths_waiting_to_be_filed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 4)
    with rig.service.running():
        rig.service.step()
        assert rig.status()["pending"] == 0
        rig.watcher.pending = 3  # being copied in, not settled yet
        rig.service.step()
        assert rig.status()["pending"] == 3
        rig.watcher.pending = 1
        rig.arrive(2)
        assert (rig.status()["pending"], rig.status()["batches"]) == (1, 1)
    assert (rig.status()["running"], rig.status()["pending"]) == (False, 0)


def test_stopping_calls_off_a_running_recluster(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 12, after_new_images=3)
    gate = threading.Event()
    plain = rig.service._reclusterer._open_library

    def slow_to_open(config: Config) -> Library:
        gate.wait(30)  # a recluster that is still clustering when the stop comes
        return plain(config)

    rig.service._reclusterer._open_library = slow_to_open
    with rig.service.running():
        rig.arrive(3)
        assert rig.service.reclustering
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5, "stopping does not wait for the recluster"
    gate.set()  # it goes on, sees it was called off, and commits nothing
    with rig.open_library(rig.service.config) as library:
        run = library.catalog.last_run("recluster")
        assert run is not None and run.images == 12, "the albums stay as they were"
        assert not library.catalog.unassigned_ids().size, "the arrivals are filed all the same"
    assert rig.status()["running"] is False


def test_run_returns_once_stopped_and_lets_go_of_the_library(tmp_path: Path) -> None:
    rig = Rig(tmp_path, 4)
    rig.service.stop()
    assert rig.service.run() == 0
    with LibraryLock(tmp_path / "state"):
        pass


def test_split_changes_turns_moves_into_a_delete_and_an_arrival() -> None:
    a, b, c = Path("/p/a.jpg"), Path("/p/b.jpg"), Path("/p/c.jpg")
    changes = [
        Change(ChangeKind.UPDATED, a),
        Change(ChangeKind.MOVED, a, b),
        Change(ChangeKind.DELETED, c),
        Change(ChangeKind.UPDATED, c),
    ]
    assert split_changes(changes) == ([b, c], [a])
