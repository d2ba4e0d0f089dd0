"""The Events tree's gestures (library/event_gestures.py): links moved, deleted, merged, new
folders and deleted folders, each kept through later groupings. Real Pillow-written EXIF dates,
a real catalog and tree."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from autoalbum.library.library import Library
from dated_photos import HOME, events_of, library_of, shoot

SATURDAY = datetime(2024, 3, 2, 10, 0)
NEXT_SATURDAY = SATURDAY + timedelta(days=7)


def _two_days(root: Path) -> None:
    """Two Saturdays at home, 8 photos each: the events `2024-03-02` and `2024-03-09`."""
    shoot(root / "photos", "first", SATURDAY, 8, timedelta(minutes=4), HOME)
    shoot(root / "photos", "second", NEXT_SATURDAY, 8, timedelta(minutes=4), HOME)


def _folder(root: Path, name: str) -> Path:
    return root / "Events" / "2024" / name


def _link(root: Path, event: str, photo: str) -> Path:
    return next(p for p in _folder(root, event).iterdir() if p.name.startswith(photo))


def _regrouped_twice(library: Library) -> None:
    for _ in range(2):
        library.recluster()


FIRST = {f"first{i:03d}.jpg" for i in range(8)}
SECOND = {f"second{i:03d}.jpg" for i in range(8)}


def test_a_link_moved_to_another_event_puts_the_photo_there_for_good(tmp_path: Path) -> None:
    _two_days(tmp_path)
    with library_of(tmp_path) as library:
        library.index_files()
        assert events_of(tmp_path) == {"2024-03-02 London": FIRST, "2024-03-09 London": SECOND}
        link = _link(tmp_path, "2024-03-02 London", "first003")
        link.rename(_folder(tmp_path, "2024-03-09 London") / link.name)
        assert library.take_gestures() == 1
        moved = {"2024-03-02 London": FIRST - {"first003.jpg"},  # its name says its dates:
                 "2024-03-02 \u2013 09 London": SECOND | {"first003.jpg"}}  # fmt: skip
        assert events_of(tmp_path) == moved
        _regrouped_twice(library)
        assert events_of(tmp_path) == moved, "the photo stays where the user put it"
        shoot(tmp_path / "photos", "late", SATURDAY + timedelta(minutes=33), 1,
              timedelta(minutes=1), HOME)  # fmt: skip
        library.index_files()
    assert events_of(tmp_path)["2024-03-02 London"] == moved["2024-03-02 London"] | {"late000.jpg"}


def test_a_link_deleted_takes_the_photo_out_of_its_event_for_good(tmp_path: Path) -> None:
    _two_days(tmp_path)
    with library_of(tmp_path) as library:
        library.index_files()
        _link(tmp_path, "2024-03-09 London", "second005").unlink()
        assert library.take_gestures() == 1
        _regrouped_twice(library)
    assert events_of(tmp_path) == {"2024-03-02 London": FIRST,
                                   "2024-03-09 London": SECOND - {"second005.jpg"}}  # fmt: skip
    assert (tmp_path / "photos" / "second005.jpg").is_file(), "the original is untouched"


def test_every_link_moved_into_another_event_merges_them(tmp_path: Path) -> None:
    _two_days(tmp_path)
    with library_of(tmp_path) as library:
        library.index_files()
        source, target = (
            _folder(tmp_path, "2024-03-02 London"),
            _folder(tmp_path, "2024-03-09 London"),
        )
        for link in list(source.iterdir()):
            link.rename(target / link.name)
        assert library.take_gestures() == 8
        _regrouped_twice(library)
        assert events_of(tmp_path) == {"2024-03-02 \u2013 09 London": FIRST | SECOND}
        shoot(tmp_path / "photos", "late", SATURDAY + timedelta(minutes=33), 1,
              timedelta(minutes=1), HOME)  # fmt: skip
        library.index_files()
    assert events_of(tmp_path) == {"2024-03-02 \u2013 09 London": FIRST | SECOND | {"late000.jpg"}}


def test_a_new_folder_with_links_is_an_event_of_its_own_whatever_its_size(tmp_path: Path) -> None:
    _two_days(tmp_path)
    with library_of(tmp_path) as library:
        library.index_files()
        best = _folder(tmp_path, "Best of March")
        best.mkdir()
        for photo in ("first001", "second002", "second007"):
            event = "2024-03-02 London" if photo.startswith("first") else "2024-03-09 London"
            link = _link(tmp_path, event, photo)
            os.symlink(os.readlink(link), best / link.name)
            link.unlink()
        assert library.take_gestures() >= 3
        _regrouped_twice(library)
    assert events_of(tmp_path) == {
        "2024-03-02 London": FIRST - {"first001.jpg"},
        "2024-03-09 London": SECOND - {"second002.jpg", "second007.jpg"},
        "Best of March": {"first001.jpg", "second002.jpg", "second007.jpg"},
    }


def test_an_event_folder_deleted_is_not_shown_again(tmp_path: Path) -> None:
    _two_days(tmp_path)
    with library_of(tmp_path) as library:
        library.index_files()
        shutil.rmtree(_folder(tmp_path, "2024-03-02 London"))
        assert library.take_gestures() == 1
        _regrouped_twice(library)
        shoot(tmp_path / "photos", "late", SATURDAY + timedelta(minutes=33), 1,
              timedelta(minutes=1), HOME)  # fmt: skip
        library.index_files()
    assert events_of(tmp_path) == {"2024-03-09 London": SECOND}
    assert all((tmp_path / "photos" / name).is_file() for name in FIRST)
