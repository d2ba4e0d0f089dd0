"""Photos with capture dates and GPS positions in their EXIF, written by Pillow, and libraries
of them with the Events tree on."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from autoalbum.albums.sidecar import read_tree
from autoalbum.config import EventsConfig, PeopleConfig
from autoalbum.library.library import Library
from colour_library import ColourEmbedder, config

HOME = (51.5074, -0.1278)  # London
KESWICK = (54.6013, -3.1347)


def dated_photo(
    path: Path, when: str | None, gps: tuple[float, float] | None = None, seed: int = 0
) -> Path:
    """A photo whose EXIF says when (`2024:04:05 10:20:30`, offset +01:00) and where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when
        exif.get_ifd(0x8769)[0x9011] = "+01:00"
    if gps is not None:
        lat, lon = gps
        info = exif.get_ifd(0x8825)
        info[1], info[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        info[3], info[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"
    rng = np.random.default_rng(seed + len(str(path)))
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, exif=exif.tobytes())
    return path


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def shoot(
    folder: Path, name: str, start: datetime, count: int, every: timedelta,
    gps: tuple[float, float] | None,
) -> list[Path]:  # fmt: skip
    """`count` photos `name000.jpg`... taken `every` apart from `start`, near `gps`."""
    return [
        dated_photo(
            folder / f"{name}{i:03d}.jpg",
            (start + i * every).strftime("%Y:%m:%d %H:%M:%S"),
            None if gps is None else (gps[0] + 0.001 * (i % 5), gps[1] + 0.001 * (i % 3)),
        )
        for i in range(count)
    ]


def library_of(root: Path, **events: object) -> Library:
    """A library at `root` with the colour stand-in model, people off, events as given."""
    settings = dataclasses.replace(
        config(root),
        people=PeopleConfig(enabled=False),
        events=EventsConfig(**events),  # type: ignore[arg-type]
    )
    model = ColourEmbedder()
    return Library(settings, lambda: model)  # type: ignore[arg-type,return-value]


def events_of(root: Path) -> dict[str, set[str]]:
    """The Events tree's folders (their own names) and the names of the photos in each,
    checking that each lies in its year's folder."""
    read = read_tree(root / "Events")
    assert read is not None
    index, members = read
    assert index.extra.get("kind") == "events"
    year = {s.number: s.folder for s in index.albums if s.parent is None}
    assert all(s.size == 0 for s in index.albums if s.parent is None), "years hold events only"
    events = [s for s in index.albums if s.parent is not None]
    for s in events:  # each event's folder in its year's
        own = s.folder.rsplit("/", 1)[-1]
        assert s.folder == f"{year[s.parent]}/{own}"
        assert own[:4] == year[s.parent] or not own[:4].isdigit(), "a dated name: its year"
    return {
        s.folder.rsplit("/", 1)[-1]: {Path(m.path).name for m in members[s.number]} for s in events
    }
