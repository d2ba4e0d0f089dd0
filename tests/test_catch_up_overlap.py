"""The start's catch-up scan overlaps with taking arrivals in (issue 27): the real service on a
temp library with albums, a real watchdog observer over its folder, a notify socket the test
plays systemd on, and the stand-in colour model. The folder walk is held at its end by a gate
the test opens, so "during the scan" is a state the test controls, not a race it hopes for."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autoalbum.config import Config, load_config
from autoalbum.library.catalog import Status
from autoalbum.library.indexer import Indexer, Scan
from autoalbum.library.library import Library
from autoalbum.library.lock import LibraryLock
from autoalbum.notify import Notifier
from autoalbum.service.backlog import Backlog
from autoalbum.service.build import folder_watcher
from autoalbum.service.daemon import Service
from colour_library import ColourEmbedder, config_file, photo
from notify_daemon import Manager

WATCHDOG_USEC = 300_000  # a ping every 0.1 s (a third of it)


class Gate:
    """Holds the folder walk at its end until opened: the walk has listed the folders, the
    catalog is not read yet. Ticks meanwhile, as a long walk does, so a stop calls it off."""

    def __init__(self) -> None:
        self.walked = threading.Event()
        self.open = threading.Event()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        walk = Indexer.scan

        def held(indexer: Indexer, folders: list[Path], tick: Callable[[], None]) -> Scan:
            found = walk(indexer, folders, tick)
            self.walked.set()
            deadline = time.monotonic() + 60
            while not self.open.wait(0.05) and time.monotonic() < deadline:
                tick()
            return found

        monkeypatch.setattr(Indexer, "scan", held)


def _open_library(config: Config) -> Library:
    model = ColourEmbedder()
    return Library(config, lambda: model)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A library of eight photos, filed into albums; two more were indexed and deleted and
    another added while the daemon was stopped."""
    photos = tmp_path / "photos"
    for i in range(8):
        photo(photos / f"old{i}.png", ("red", "blue")[i % 2], i)
    gone = [
        photo(photos / f"{name}.png", "blue", 90 + i) for i, name in enumerate(("gone", "back"))
    ]
    settings = """cluster:
  k: 2
recluster:
  after_new_images: 100000
  after_minutes: 600
watch:
  settle_seconds: 0.2
  reconcile_minutes: 0
"""
    loaded = load_config(config_file(tmp_path, settings))
    with _open_library(loaded) as library:
        library.index_files()
    for path in gone:
        path.unlink()
    photo(photos / "added.png", "red", 98)
    return loaded


@pytest.fixture
def gate(config: Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate()
    held.install(monkeypatch)
    yield held
    held.open.set()  # a failed test's scan ends too


def _service(config: Config, manager: Manager) -> Service:
    environ = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    return Service(
        config,
        open_library=_open_library,
        watch=folder_watcher,
        lock=LibraryLock(config.library.state),
        notifier=Notifier(environ=environ),
    )


def _linked(albums: Path) -> set[str]:
    """The names of the photos the album tree links to."""
    return {os.path.basename(os.readlink(p)) for p in albums.rglob("*") if p.is_symlink()}


def _step_until(service: Service, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        service.step()


def _messages(manager: Manager) -> list[str]:
    manager.drain()
    return [line for _, line in manager.messages]


def test_photos_arriving_during_the_start_scan_are_filed_before_it_ends_and_not_gone(
    config: Config, gate: Gate, manager: Manager, caplog: pytest.LogCaptureFixture
) -> None:
    albums, photos = config.library.albums, config.library.folders[0]
    service = _service(config, manager)
    with caplog.at_level(logging.INFO), service.running():
        assert gate.walked.wait(30)  # the walk has passed the folder: it saw neither photo
        arrived = photo(photos / "arrived.png", "red", 97)
        back = photo(photos / "back.png", "blue", 91)  # gone while stopped, and back now
        _step_until(
            service, lambda: {"arrived.png", "back.png"} <= _linked(albums), "the arrivals' links"
        )
        assert service.intake.scanning, "filed while the scan is still going on"
        assert "watching" not in caplog.text, "'watching' says the scan is done"
        pings_during_scan = len([m for m in _messages(manager) if m == "WATCHDOG=1"])
        scanning = [s for s in manager.statuses() if s.startswith("scanning the folders")]

        gate.open.set()
        _step_until(service, lambda: not service.intake.scanning, "the scan's end")
        assert "watching" in caplog.text
        assert "1 photos to take in, 1 gone since the last run" in caplog.text
        _step_until(service, lambda: "added.png" in _linked(albums), "the scan's find filed")
        catalog = service.library.catalog
        gone = catalog.file(photos / "gone.png")
        assert gone is not None and gone.status is Status.MISSING, "gone while stopped"
        for path in (arrived, back):
            taken = catalog.file(path)
            assert taken is not None and taken.status is Status.OK, f"{path.name} is not gone"
    assert pings_during_scan >= 2, "the watchdog hears from the loop during the scan"
    assert scanning and "batches filed" in scanning[-1], manager.statuses()
    linked = {f"old{i}.png" for i in range(8)} | {"added.png", "arrived.png", "back.png"}
    assert _linked(albums) == linked


def test_stopping_during_the_start_scan_calls_it_off(
    config: Config, gate: Gate, manager: Manager
) -> None:
    service = _service(config, manager)
    running = threading.Thread(target=service.run, name="service")
    running.start()
    try:
        assert gate.walked.wait(30)
        service.stop()  # as SIGTERM does
        running.join(20)
        assert not running.is_alive(), "the stop waits for no scan"
        assert not [t for t in threading.enumerate() if t.name == "start scan"], "called off"
    finally:
        service.stop()
        gate.open.set()
        running.join(20)
    with LibraryLock(config.library.state):
        pass


def test_a_scan_beside_the_arrivals_leaves_out_of_its_gone_those_that_arrived_meanwhile() -> None:
    backlog = Backlog(time.monotonic)
    before, meanwhile, gone = Path("/p/before.png"), Path("/p/meanwhile.png"), Path("/p/gone.png")
    backlog.arrive([before])
    backlog.scan_begins()
    backlog.arrive([meanwhile])
    assert backlog.scan_found_gone([before, meanwhile, gone]) == [before, gone]
    assert backlog.departures == [before, gone]
    backlog.arrive([Path("/p/later.png")])
    assert backlog.scan_found_gone([meanwhile]) == [meanwhile], "no scan: nothing left out"
