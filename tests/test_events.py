"""Events: photos grouped by when and where they were taken, shown as the Events tree. Real
Pillow-written EXIF dates and GPS positions, a real catalog and tree, the colour stand-in model
(events don't depend on it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from autoalbum.cli import main
from autoalbum.config import Config, load_config
from autoalbum.events import places
from autoalbum.library.library import Library
from autoalbum.library.lock import LibraryLock
from autoalbum.library.timeline import event_name
from autoalbum.notify import Notifier
from autoalbum.service.daemon import Service
from autoalbum.service.settler import Change, ChangeKind
from autoalbum.service.status import library_status
from colour_library import PEOPLE_OFF, ColourEmbedder, config_file
from dated_photos import HOME, KESWICK, dated_photo, events_of, library_of, shoot
from test_daemon import Clock, ScriptedWatcher


def _home_life(folder: Path) -> None:
    """Twelve weekends at home, two outings a day (morning and evening), 8 photos each."""
    for week in range(12):
        day = datetime(2024, 3, 2, 10, 0) + timedelta(days=7 * week)
        shoot(folder, f"home{week:02d}am", day, 8, timedelta(minutes=4), HOME)
        shoot(folder, f"home{week:02d}pm", day + timedelta(hours=9), 8, timedelta(minutes=4), HOME)


def _trip(folder: Path) -> list[Path]:
    """Three days in Keswick, photos through each day."""
    start = datetime(2024, 4, 9, 9, 0)
    return [
        path
        for day in range(3)
        for path in shoot(
            folder, f"trip{day}", start + timedelta(days=day), 10, timedelta(minutes=50), KESWICK
        )
    ]


def _indexed_trip(root: Path) -> None:
    """A three-day trip, indexed by a library since closed."""
    _trip(root / "photos")
    with library_of(root) as library:
        library.index_files()


@pytest.fixture(scope="module")
def library_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("events")
    _home_life(root / "photos")
    _trip(root / "photos" / "trip")
    with library_of(root) as library:
        library.index_files()
    return root


def test_a_three_day_trip_away_is_one_event_named_by_place_and_dates(library_root: Path) -> None:
    events = events_of(library_root)
    trip = {f"trip{d}{i:03d}.jpg" for d in range(3) for i in range(10)}
    assert events["2024-04-09 \u2013 11 Keswick"] == trip


def test_two_outings_on_one_day_at_home_are_twoevents_of(library_root: Path) -> None:
    events = events_of(library_root)
    morning = {f"home03am{i:03d}.jpg" for i in range(8)}
    evening = {f"home03pm{i:03d}.jpg" for i in range(8)}
    assert morning in events.values()
    assert evening in events.values()
    assert all(not (names & morning and names & evening) for names in events.values())


def test_an_old_photo_arriving_joins_its_old_event_in_place(tmp_path: Path) -> None:
    _trip(tmp_path / "photos")
    shoot(tmp_path / "photos", "now", datetime(2026, 12, 1, 10), 8, timedelta(minutes=5), HOME)
    with library_of(tmp_path) as library:
        library.index_files()
        before = events_of(tmp_path)
        dated_photo(tmp_path / "photos" / "late.jpg", "2024:04:10 12:34:00", KESWICK)
        library.index_files()
    after = events_of(tmp_path)
    trip = next(folder for folder, names in before.items() if "trip1000.jpg" in names)
    assert after[trip] == before[trip] | {"late.jpg"}
    assert all("late.jpg" not in names for folder, names in after.items() if folder != trip)


def test_events_grouped_ahead_so_an_arrival_only_joins_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _indexed_trip(tmp_path)
    with library_of(tmp_path) as library:  # a new process: it has not grouped yet
        assert library.prepare_arrivals(), "grouped once"
        assert not library.prepare_arrivals(), "and not again"
        regroups: list[int] = []
        monkeypatch.setattr(library.timeline, "regroup", lambda: regroups.append(1))
        dated_photo(tmp_path / "photos" / "late.jpg", "2024:04:10 12:34:00", KESWICK)
        library.index_files()
    assert regroups == [], "the arrival waited for every photo's regrouping"
    assert any("late.jpg" in names for names in events_of(tmp_path).values())
    with library_of(tmp_path, enabled=False) as library:
        monkeypatch.setattr(library.timeline, "regroup", lambda: pytest.fail("events are off"))
        assert library.prepare_arrivals(), "the album folders' names listed"
        assert not library.prepare_arrivals()


def test_a_sync_of_a_new_day_regroups_only_the_events_near_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trip(tmp_path / "photos")
    shoot(tmp_path / "photos", "old", datetime(2019, 5, 1, 10), 8, timedelta(minutes=5), HOME)
    with library_of(tmp_path) as library:
        library.index_files()
        read: list[object] = []
        rows = library.catalog.capture_rows
        monkeypatch.setattr(
            library.catalog, "capture_rows", lambda ids=None, between=None: (
                read.append(between if ids is None else "ids") or rows(ids, between))
        )  # fmt: skip
        shoot(tmp_path / "photos", "sync", datetime(2024, 6, 1, 10), 9, timedelta(minutes=5), HOME)
        library.index_files()
        assert [r for r in read if r != "ids"], "the new day's photos were grouped"
        assert None not in read, "every dated photo was read, not the years around the new ones"
        synced = events_of(tmp_path)
        assert synced["2024-06-01 London"] == {f"sync{i:03d}.jpg" for i in range(9)}
        library.recluster()  # every photo grouped afresh: nothing moves
    assert events_of(tmp_path) == synced


def test_event_names_are_made_once_and_kept_for_later_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _indexed_trip(tmp_path)
    named = events_of(tmp_path)
    monkeypatch.setattr(places, "place_name", lambda *_: pytest.fail("named again"))
    with library_of(tmp_path) as library:
        assert library.prepare_arrivals()
        library.recluster()
    assert events_of(tmp_path) == named


def test_a_renamed_event_keeps_its_name_through_regrouping(tmp_path: Path) -> None:
    shoot(tmp_path / "photos", "party", datetime(2023, 7, 1, 20), 9, timedelta(minutes=9), None)
    with library_of(tmp_path) as library:
        library.index_files()
        year = tmp_path / "Events" / "2023"
        (year / "2023-07-01").rename(year / "Ann's party")
        assert library.take_gestures() == 1
        for _ in range(2):
            library.recluster()
    assert set(events_of(tmp_path)) == {"Ann's party"}


def test_photos_without_gps_make_events_named_by_date(tmp_path: Path) -> None:
    shoot(tmp_path / "photos", "party", datetime(2023, 7, 1, 20), 9, timedelta(minutes=9), None)
    with library_of(tmp_path) as library:
        library.index_files()
    assert events_of(tmp_path) == {"2023-07-01": {f"party{i:03d}.jpg" for i in range(9)}}


def test_broken_dates_and_small_groups_make_no_event(tmp_path: Path) -> None:
    for i in range(8):
        dated_photo(tmp_path / "photos" / f"broken{i}.jpg", "0000:00:00 00:00:00", HOME)
    shoot(tmp_path / "photos", "few", datetime(2023, 7, 1, 20), 3, timedelta(minutes=9), HOME)
    with library_of(tmp_path) as library:
        library.index_files()
        assert library.timeline.shown() == []
    assert not (tmp_path / "Events").exists()


def test_a_camera_clock_years_wrong_goes_where_its_tags_say(tmp_path: Path) -> None:
    _trip(tmp_path / "photos")
    wrong = datetime(2009, 1, 1, 0, 5)  # a reset clock during the same trip
    shoot(tmp_path / "photos", "reset", wrong, 7, timedelta(minutes=20), KESWICK)
    with library_of(tmp_path) as library:
        library.index_files()
    events = events_of(tmp_path)
    reset = {f"reset{i:03d}.jpg" for i in range(7)}
    assert events["2009-01-01 Keswick"] == reset
    assert all(not names & reset for folder, names in events.items() if "2024" in folder)


def test_events_off_keeps_no_event(tmp_path: Path) -> None:
    _trip(tmp_path / "photos")
    with library_of(tmp_path) as library:
        library.index_files()
        assert library.catalog.events()
    with library_of(tmp_path, enabled=False) as library:
        assert library.catalog.events() == []
    assert not (tmp_path / "Events").exists()


def test_events_lists_and_renames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _trip(tmp_path / "photos")
    settings = config_file(tmp_path, PEOPLE_OFF)
    assert main(["index", "--config", str(settings)]) == 0
    capsys.readouterr()
    assert main(["events", "--config", str(settings)]) == 0
    listed = capsys.readouterr().out
    # No home is known (too few geotagged days): the days in Keswick are events of their own.
    assert "2024-04-10 Keswick: 10 photos, 2024-04-10 09:00 to 2024-04-10 16:30" in listed
    number = next(line.split()[0] for line in listed.splitlines() if "2024-04-10" in line)
    assert main(["events", "--config", str(settings), "rename", number, "Lakes"]) == 0
    assert "Lakes" in events_of(tmp_path)


def test_event_names_say_a_range_once() -> None:
    day = (datetime(2025, 4, 4, 10) - datetime(1970, 1, 1)).total_seconds()
    assert event_name(day, day + 3600, "Keswick") == "2025-04-04 Keswick"
    assert event_name(day, day + 2 * 86400, None) == "2025-04-04 \u2013 06"
    assert event_name(day, day + 30 * 86400, "Cumbria") == "2025-04-04 \u2013 05-04 Cumbria"
    assert event_name(day, day + 300 * 86400, None) == "2025-04-04 \u2013 2026-01-29"
    assert event_name(day, day, "Bleiburg/Pliberk") == "2025-04-04 Bleiburg-Pliberk"
    assert event_name(day, day, "Zürich (Kreis 7) / Witikon") == (
        "2025-04-04 Zürich (Kreis 7) - Witikon"
    )


def test_an_event_in_a_place_of_two_names_gets_a_folder(tmp_path: Path) -> None:
    bleiburg = (46.5897, 14.7989)  # GeoNames: Bleiburg/Pliberk
    shoot(tmp_path / "photos", "fest", datetime(2023, 7, 1, 20), 9, timedelta(minutes=9), bleiburg)
    with library_of(tmp_path) as library:
        library.index_files()
    assert set(events_of(tmp_path)) == {"2023-07-01 Bleiburg-Pliberk"}


@dataclass
class _Daemon:
    """An evening party's library, indexed, for a daemon with a scripted watcher."""

    config: Config
    watcher: ScriptedWatcher
    libraries: list[Library] = field(default_factory=list)  # each the daemon opened

    def open_library(self, config: Config) -> Library:
        model = ColourEmbedder()
        self.libraries.append(Library(config, lambda: model))  # type: ignore[arg-type,return-value]
        return self.libraries[-1]

    def service(self) -> Service:
        return Service(
            self.config, open_library=self.open_library, watch=lambda config: self.watcher,
            lock=LibraryLock(self.config.library.state), notifier=Notifier(environ={}),
            clock=Clock(),
        )  # fmt: skip


def _party_daemon(root: Path) -> _Daemon:
    shoot(root / "photos", "party", datetime(2023, 7, 1, 20), 9, timedelta(minutes=9), None)
    settings = config_file(
        root,
        "cluster:\n  k: 2\npeople:\n  enabled: false\n"
        "recluster:\n  after_new_images: 1000000\n  after_minutes: 1000000\n"
        "watch:\n  reconcile_minutes: 0\n",
    )
    loaded = load_config(settings)
    daemon = _Daemon(loaded, ScriptedWatcher(loaded))
    with daemon.open_library(loaded) as library:
        library.index_files()
    return daemon


def test_a_daemon_files_an_arrival_in_place_and_takes_a_gesture(tmp_path: Path) -> None:
    daemon = _party_daemon(tmp_path)
    folder = tmp_path / "Events" / "2023" / "2023-07-01"
    inode = folder.stat().st_ino
    service = daemon.service()
    with service.running():
        late = dated_photo(tmp_path / "photos" / "late.jpg", "2023:07:01 21:30:00")
        daemon.watcher.batches.append([Change(ChangeKind.UPDATED, late)])
        service.step()  # the batch: its albums; the Events tree once no arrival waits
        service.step()
        assert "late.jpg" in events_of(tmp_path)["2023-07-01"]
        assert folder.stat().st_ino == inode  # updated in place, not rebuilt
        next(link for link in folder.iterdir() if link.name.startswith("party004")).unlink()
        service.step()  # idle: the Events tree changed, its gestures are taken
    assert "party004.jpg" not in events_of(tmp_path)["2023-07-01"]
    with daemon.open_library(daemon.config) as library:
        library.recluster()
    assert "party004.jpg" not in events_of(tmp_path)["2023-07-01"], "kept out for good"


def test_a_burst_rewrites_the_events_tree_once_it_is_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = _party_daemon(tmp_path)
    service = daemon.service()
    with service.running():
        writes: list[int] = []
        timeline = daemon.libraries[-1].timeline
        write = timeline.write_tree
        monkeypatch.setattr(timeline, "write_tree", lambda: writes.append(1) or write())
        for minute in (30, 40, 50, 60, 70):
            late = tmp_path / "photos" / f"late{minute}.jpg"
            dated_photo(late, f"2023:07:01 21:{minute - 30 + 10}:00")
            daemon.watcher.batches.append([Change(ChangeKind.UPDATED, late)])
        for _ in range(5):
            service.step()
        assert len(writes) <= 2, "each batch of the burst rewrote the Events tree"
        for _ in range(2):
            service.step()
    late = {f"late{minute}.jpg" for minute in (30, 40, 50, 60, 70)}
    assert late <= events_of(tmp_path)["2023-07-01"]


def test_status_says_how_many_events_have_a_folder(tmp_path: Path) -> None:
    shoot(tmp_path / "photos", "party", datetime(2023, 7, 1, 20), 9, timedelta(minutes=9), None)
    settings = config_file(tmp_path, PEOPLE_OFF)
    assert main(["index", "--config", str(settings)]) == 0
    assert "events: 1 with a folder" in library_status(settings)
    with library_of(tmp_path) as library:
        library.catalog.db.execute("UPDATE contents SET taken_from = NULL")
    assert "9 photos' capture dates still to read" in library_status(settings)
