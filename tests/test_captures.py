"""When and where photos were taken, stored as they are indexed and caught up for photos
indexed before: real Pillow-written EXIF, a real catalog."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from autoalbum.cli import main
from autoalbum.library import captures
from colour_library import PEOPLE_OFF, config_file, open_library
from dated_photos import dated_photo


def _stored(root: Path) -> dict[str, tuple[object, ...]]:
    with open_library(root) as library:
        rows = library.catalog.db.execute(
            """SELECT f.path, c.taken, c.offset, c.taken_from, c.latitude, c.longitude, c.make,
                      c.model FROM files f JOIN contents c ON c.id = f.content_id"""
        )
        return {Path(r[0].decode()).name: tuple(r[1:]) for r in rows}


def _wall_clock(text: str) -> float:
    return (datetime.strptime(text, "%Y:%m:%d %H:%M:%S") - datetime(1970, 1, 1)).total_seconds()


def test_capture_is_stored_as_photos_are_indexed(tmp_path: Path) -> None:
    dated_photo(tmp_path / "photos" / "keswick.jpg", "2024:04:05 10:20:30", (54.6013, -3.1347))
    dated_photo(tmp_path / "photos" / "undated.jpg", None)
    with open_library(tmp_path) as library:
        library.index_files()
    stored = _stored(tmp_path)
    taken, offset, source, lat, lon, make, model = stored["keswick.jpg"]
    assert taken == _wall_clock("2024:04:05 10:20:30")
    assert (offset, source, make, model) == (60, "exif", "Canon", "EOS 5D")
    assert isinstance(lat, float) and isinstance(lon, float)
    assert abs(lat - 54.6013) < 1e-3 and abs(lon + 3.1347) < 1e-3
    assert stored["undated.jpg"][2] == "mtime"  # no date in the photo: its file's time, marked
    assert stored["undated.jpg"][3] is None


def test_photos_indexed_before_are_caught_up(tmp_path: Path) -> None:
    for i in range(3):
        dated_photo(tmp_path / "photos" / f"p{i}.jpg", f"2023:0{i + 1}:01 12:00:00")
    with open_library(tmp_path) as library:
        library.index_files()
        library.catalog.db.execute("UPDATE contents SET taken = NULL, taken_from = NULL")
        assert captures.unread(library.catalog) == 3
        assert captures.catch_up(library.catalog, limit=2) == 2
        assert captures.unread(library.catalog) == 1
        assert library.catch_up_captures() == 1
        assert captures.unread(library.catalog) == 0
    assert {row[2] for row in _stored(tmp_path).values()} == {"exif"}


def test_index_reads_what_an_older_library_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dated_photo(tmp_path / "photos" / "p.jpg", "2022:06:01 08:00:00")
    settings = config_file(tmp_path, PEOPLE_OFF)
    assert main(["index", "--config", str(settings)]) == 0
    with open_library(tmp_path) as library:
        library.catalog.db.execute("UPDATE contents SET taken = NULL, taken_from = NULL")
    assert main(["index", "--config", str(settings)]) == 0
    assert "read when and where 1 photos indexed before were taken" in capsys.readouterr().out
    assert _stored(tmp_path)["p.jpg"][0] == _wall_clock("2022:06:01 08:00:00")
