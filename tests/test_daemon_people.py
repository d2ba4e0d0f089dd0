"""The daemon's face catch-up (service/faces.py): a library indexed with people off looked at for
faces in the background once people is on, a chunk per step, after arrivals; shown in
daemon.json, STATUS= and `autoalbum status`; kept through a kill -9.

Step by step on a real temp library (real faces, real face models, the colour stand-in for the
scene model), then the real daemon as a subprocess under a service manager the test plays.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autoalbum.albums.sidecar import INDEX_NAME
from autoalbum.config import load_config
from autoalbum.library.lock import LibraryLock
from autoalbum.notify import Notifier
from autoalbum.service import faces
from autoalbum.service.daemon import Service
from autoalbum.service.settler import Change, ChangeKind
from autoalbum.service.status import library_status
from colour_library import photo
from face_photos import astronaut, grace, group, noise, save, variants
from notify_daemon import Manager, start_daemon, wait_on
from test_daemon import Clock, Rig, ScriptedWatcher

PEOPLE_OFF = "people:\n  enabled: false\n"


def _config_text(root: Path, people: str = "") -> str:
    return (
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\nwatch:\n  reconcile_minutes: 0\n{people}"
    )


def _face_photos(folder: Path) -> int:
    """Four photos of each of two people, a group photo of both, three without a face."""
    people = {"grace": grace(), "eileen": astronaut()}
    made = [
        save(image, folder / f"{name}{i}.jpg")
        for name, face in people.items()
        for i, image in enumerate(variants(face, 4))
    ]
    made.append(save(group(), folder / "group.jpg"))
    made += [save(noise((160, 120), seed), folder / f"noise{seed}.jpg") for seed in range(3)]
    return len(made)


class PeopleRig(Rig):
    """A service on a library of face photos indexed with people off, now configured on; it
    opens libraries and watches as test_daemon's rig does."""

    def __init__(self, root: Path) -> None:  # not Rig's: another library
        self.root = root
        self.clock = Clock()
        self.watchers: list[ScriptedWatcher] = []
        self.photos = _face_photos(root / "photos")
        self.configure(PEOPLE_OFF)
        with self.open_library(load_config(root / "autoalbum.yaml")) as library:
            library.index_files()
            assert library.catalog.face_counts() == (0, 0, 0)
        self.configure("")
        self.start()

    def configure(self, people: str) -> None:
        (self.root / "autoalbum.yaml").write_text(_config_text(self.root, people))

    def start(self) -> None:
        config = load_config(self.root / "autoalbum.yaml")
        self.service = Service(
            config, open_library=self.open_library, watch=self.watch,
            lock=LibraryLock(config.library.state), notifier=Notifier(environ={}),
            clock=self.clock,
        )  # fmt: skip

    def shown(self) -> tuple[int, int, int] | None:
        """daemon.json's face catch-up: photos done, in all, and done before this run."""
        status = json.loads((self.root / "state" / "daemon.json").read_text())["faces"]
        return status and (status["done"], status["total"], status["earlier"])

    def under_way(self) -> tuple[int, int, int]:
        """The same, asked of the catch-up itself."""
        catch_up = self.service.looking_for_faces
        assert catch_up is not None
        status = catch_up.as_dict()
        return int(status["done"]), int(status["total"]), int(status["earlier"])  # type: ignore[call-overload]

    def step_until_done(self) -> int:
        steps = 0
        while self.service.looking_for_faces is not None:
            assert steps < 20, "the face catch-up did not end"
            self.service.step()
            steps += 1
        return steps


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PeopleRig:
    monkeypatch.setattr(faces, "CHUNK", 4)
    return PeopleRig(tmp_path)


def test_people_turned_on_looks_for_faces_a_chunk_per_step_after_arrivals(
    rig: PeopleRig, tmp_path: Path
) -> None:
    config = tmp_path / "autoalbum.yaml"
    with rig.service.running():
        assert rig.under_way() == (0, rig.photos, 0)
        rig.service.step()
        assert rig.shown() == (4, rig.photos, 0)
        status = library_status(config)
        assert f"looking for faces: 4 of {rig.photos} photos" in status
        assert f"{rig.photos - 4} photos still to look at" in status
        arrival = photo(tmp_path / "photos" / "new.png", "red", 7)
        rig.watchers[-1].batches.append([Change(ChangeKind.UPDATED, arrival)])
        rig.service.step()
        assert rig.service.library.catalog.file(arrival) is not None, "the arrival went first"
        assert rig.shown() == (4, rig.photos, 0)
        assert rig.step_until_done() == 3  # two chunks left, and the look that finds none
        library = rig.service.library
        assert library.people.unseen() == 0
        assert library.catalog.face_counts()[0] == rig.photos + 1
        assert len(library.people.shown()) >= 2
        assert (tmp_path / "People" / INDEX_NAME).is_file()
        assert rig.shown() is None
        status = library_status(config)
        assert "looking for faces" not in status and "still to look at" not in status
        assert f"persons; {rig.photos + 1} photos looked at" in status


def test_a_restart_carries_on_where_the_last_chunk_left_off(rig: PeopleRig) -> None:
    with rig.service.running():
        rig.service.step()
        rig.service.step()
        kept = rig.service.library.catalog.db.execute("SELECT * FROM faces").fetchall()
    rig.start()
    with rig.service.running():
        assert rig.under_way() == (8, rig.photos, 8)
        rig.step_until_done()
        after = rig.service.library.catalog.db.execute("SELECT * FROM faces").fetchall()
    assert kept and {row[:9] for row in kept} <= {row[:9] for row in after}


def test_a_reload_turns_the_catch_up_off_and_on(rig: PeopleRig, tmp_path: Path) -> None:
    with rig.service.running():
        rig.service.step()
        rig.configure(PEOPLE_OFF)
        rig.service.reload()
        rig.service.step()
        assert rig.service.looking_for_faces is None and rig.shown() is None
        assert rig.service.library.catalog.face_counts() == (0, 0, 0)
        assert "people:" not in library_status(tmp_path / "autoalbum.yaml")
        rig.configure("")
        rig.service.reload()
        rig.service.step()
        assert rig.shown() == (4, rig.photos, 0)
        rig.step_until_done()
        assert (tmp_path / "People" / INDEX_NAME).is_file()


# The real daemon, killed in the middle of the face catch-up.

PHOTOS = 256  # four chunks of faces: a few seconds each on two cores


def _marked_copies(folder: Path, count: int) -> None:
    """`count` photos of faces, each with a mark of its own: no two share their content."""
    bases = [*variants(grace(), 6), *variants(astronaut(), 6), group()]
    for i in range(count):
        image = bases[i % len(bases)].copy()
        image.paste((i % 251, (i * 7) % 253, 40), (4 * (i % 13), 0, 4 * (i % 13) + 4, 4))
        save(image, folder / f"face{i:03d}.jpg")


def _rows(root: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{root / 'state' / 'catalog.sqlite'}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()


def _looked(root: Path) -> int:
    try:
        rows = _rows(root, "SELECT COUNT(*) FROM contents WHERE faces IS NOT NULL")
    except sqlite3.OperationalError:
        return 0
    return int(rows[0][0])


def _faces(root: Path) -> set[tuple[Any, ...]]:
    """Every face found, as stored, less the person it is in (filing changes that)."""
    return set(_rows(root, "SELECT id, content_id, x0, y0, x1, y1, side, score, descriptor "
                           "FROM faces"))  # fmt: skip


def _start(config: Path, manager: Manager, log: Path) -> subprocess.Popen[bytes]:
    return start_daemon(config, manager, log, watchdog_seconds=20)


def _caught_up(root: Path) -> bool:
    status = root / "state" / "daemon.json"
    return _looked(root) == PHOTOS and json.loads(status.read_text())["faces"] is None


def test_kill_9_mid_face_catch_up_keeps_every_committed_chunk(
    tmp_path: Path, manager: Manager, embedder: object
) -> None:
    _marked_copies(tmp_path / "photos", PHOTOS)
    config, log = tmp_path / "autoalbum.yaml", tmp_path / "daemon.log"
    config.write_text(_config_text(tmp_path, PEOPLE_OFF))
    index = [sys.executable, "-m", "autoalbum.cli", "index", "--config", str(config)]
    subprocess.run(index, check=True, capture_output=True, timeout=300)
    assert _looked(tmp_path) == 0
    config.write_text(_config_text(tmp_path))
    first = _start(config, manager, log)
    wait_on(first, manager, lambda: _looked(tmp_path) >= faces.CHUNK, log)
    kept = _faces(tmp_path)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=20)
    looked = _looked(tmp_path)
    assert faces.CHUNK <= looked < PHOTOS, "killed in the middle of the face catch-up"
    assert kept and len(kept) <= len(_faces(tmp_path))
    second = _start(config, manager, log)
    try:
        wait_on(second, manager, lambda: _caught_up(tmp_path), log)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    assert kept <= _faces(tmp_path), "the faces committed before the kill stay as they were"
    restart = log.read_text().split("watching")[-2]  # the second daemon's start
    assert f"looking for faces: {looked:,} of {PHOTOS:,} photos" in restart
    progress = [s for s in manager.statuses() if s.startswith("looking for faces: ")]
    assert progress and all(f"of {PHOTOS:,} photos" in s for s in progress), manager.statuses()
    people = tmp_path / "People"
    assert (people / INDEX_NAME).is_file()
    assert len([p for p in people.iterdir() if p.is_dir()]) >= 2
