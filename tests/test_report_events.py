"""The report's Events section on a real library of photos with real EXIF dates and GPS
positions (dated_photos.py), rendered in headless Chromium; the scene model is the colour
stand-in, which events don't depend on."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from autoalbum.cli import main
from autoalbum.config import Config, EventsConfig, PeopleConfig
from autoalbum.library.library import Library
from autoalbum.report.build import write_report
from autoalbum.report.collection import ReportError, from_library
from colour_library import ColourEmbedder, config, config_file
from dated_photos import dated_photo
from test_report import read_page, render

KESWICK = (54.6013, -3.1347)
EVENTS = [  # (folder, photos, the first photo's name), oldest first
    ("2023-07-01", 7, "party000.jpg"),
    ("2024-04-09 Keswick", 8, "walk000.jpg"),
    ("2024-08-15", 9, "beach000.jpg"),
]


def _config(root: Path, **events: object) -> Config:
    return dataclasses.replace(
        config(root),
        people=PeopleConfig(enabled=False),
        events=EventsConfig(**events),  # type: ignore[arg-type]
    )


def _shoot(
    folder: Path, name: str, start: datetime, count: int, gps: tuple[float, float] | None = None
) -> None:
    for i in range(count):
        when = (start + i * timedelta(minutes=7)).strftime("%Y:%m:%d %H:%M:%S")
        dated_photo(folder / f"{name}{i:03d}.jpg", when, gps)


def _index(root: Path) -> None:
    model = ColourEmbedder()
    with Library(_config(root), lambda: model) as library:
        assert not library.index_files().failed


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three events over two years (one in Keswick), and three lone photos in none."""
    root = tmp_path_factory.mktemp("events")
    photos = root / "photos"
    _shoot(photos / "2024", "beach", datetime(2024, 8, 15, 11), 9)
    _shoot(photos / "2024", "walk", datetime(2024, 4, 9, 10), 8, KESWICK)
    _shoot(photos, "party", datetime(2023, 7, 1, 20), 7)
    for year in (2019, 2020, 2021):
        _shoot(photos, f"lone{year}", datetime(year, 1, 1, 12), 1)
    _index(root)
    return root


@pytest.fixture(scope="module")
def report(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    settings = config_file(library, "cluster:\n  k: 2\npeople:\n  enabled: false\n")
    assert main(["report", "--config", str(settings), "--out", str(out)]) == 0
    return out


@dataclasses.dataclass
class _Event:
    year: str
    link: str
    title: str = ""
    count: str = ""
    photos: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (link, src)


class _Events(HTMLParser):
    """The events of a report page, each under the year heading it follows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[_Event] = []
        self.year = ""
        self.into: str | None = None  # the field the text goes to
        self.link = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "h3":
            self.year = attr["id"].removeprefix("y")
        elif tag == "a" and attr.get("class") == "title":
            self.events.append(_Event(self.year, attr["href"]))
            self.into = "title"
        elif tag == "span" and attr.get("class") == "count":
            self.into = "count"
        elif tag == "a" and self.events:
            self.link = attr["href"]
        elif tag == "img" and self.events:
            self.events[-1].photos.append((self.link, attr["src"]))

    def handle_endtag(self, tag: str) -> None:
        self.into = None

    def handle_data(self, data: str) -> None:
        if self.into is not None:
            event = self.events[-1]
            setattr(event, self.into, getattr(event, self.into) + data)


def _events(markup: str) -> list[_Event]:
    reader = _Events()
    reader.feed(markup.split('<section id="events">', 1)[-1].split("</section>", 1)[0])
    return reader.events


def _linked(report: Path, link: str) -> Path:
    assert not os.path.isabs(link)
    return Path(os.path.normpath(report / unquote(link)))


def test_events_by_year_oldest_first_with_counts(report: Path) -> None:
    markup = (report / "index.html").read_text(encoding="utf-8")
    events = _events(markup)
    assert [(e.title, int(e.count.split()[0])) for e in events] == [(f, n) for f, n, _ in EVENTS]
    assert [e.year for e in events] == ["2023", "2024", "2024"]
    page = read_page(markup)
    assert any(h.startswith("Events 3 events") for h in page.headings)
    assert "#events" in page.links and "#y2023" in page.links and "#y2024" in page.links


def test_each_event_links_to_its_folder(report: Path, library: Path) -> None:
    for event in _events((report / "index.html").read_text(encoding="utf-8")):
        folder = _linked(report, event.link)
        assert folder == library / "Events" / event.year / event.title and folder.is_dir()
        assert len([p for p in folder.iterdir() if p.is_symlink()]) == int(event.count.split()[0])


def test_each_event_shows_its_first_photos(report: Path, library: Path) -> None:
    for event, (_, _, first) in zip(
        _events((report / "index.html").read_text(encoding="utf-8")), EVENTS, strict=True
    ):
        photos = [_linked(report, link) for link, _ in event.photos]
        assert len(photos) == 4 and photos[0].name == first
        prefix = first.removesuffix("000.jpg")
        assert [p.name for p in photos] == [f"{prefix}{i:03d}.jpg" for i in range(4)]
        assert all(p.is_file() and p.is_relative_to(library / "photos") for p in photos)
        assert all((report / src).is_file() for _, src in event.photos)
        assert all(Path(src).parent.name == "thumbs" for _, src in event.photos)


def test_no_events_section_without_shown_events(library: Path, tmp_path: Path) -> None:
    for settings in (_config(library, enabled=False), _config(library, min_photos=10)):
        collection = from_library(settings)
        assert collection.events == ()
        write_report(collection, tmp_path / "report")
        page = read_page((tmp_path / "report" / "index.html").read_text(encoding="utf-8"))
        assert "events" not in page.ids and "#events" not in page.links
        assert not any(h.startswith("Events") for h in page.headings)
    undated = tmp_path / "undated"
    for i in range(8):
        dated_photo(undated / "photos" / f"plain{i}.jpg", None, seed=i)
    _index(undated)
    assert from_library(_config(undated)).events == ()


def test_refuses_to_write_into_the_events_tree(library: Path) -> None:
    out = library / "Events" / "report"
    with pytest.raises(ReportError, match="choose a --out folder outside it"):
        write_report(from_library(_config(library)), out)
    assert not out.exists()


def test_chromium_renders_the_events(report: Path, tmp_path: Path) -> None:
    dom = render(report / "index.html", tmp_path, "--dump-dom")
    events = _events(dom)
    assert [e.title for e in events] == [f for f, _, _ in EVENTS]
    assert all((report / src).is_file() for e in events for _, src in e.photos)
    assert "<script" not in (report / "index.html").read_text(encoding="utf-8")
