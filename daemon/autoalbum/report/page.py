"""The report's HTML: a library's persons and events, an SVG map, album sections of thumbnails
and the failed files, one page.

No script and nothing fetched: the map's points are links to the photos' figures, and CSS
highlights the one linked to.
"""

from __future__ import annotations

import html
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np

from autoalbum import __version__
from autoalbum.albums.tree import UNSORTED_FOLDER, Member
from autoalbum.printable import printable
from autoalbum.report.collection import Collection, ReportAlbum
from autoalbum.report.events import ReportEvent
from autoalbum.report.people import ReportPerson
from autoalbum.report.thumbnails import THUMB_SIDE, Thumb, Thumbnails

THUMBS_FOLDER = "thumbs"
_MAP_SIZE = (1000, 560)
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5", "#393b79", "#637939",
)  # fmt: skip
_UNSORTED_COLOUR = "#9e9e9e"


@dataclass(frozen=True)
class MapPoint:
    album: int
    photo: int
    x: float
    y: float


def _fit(points: Sequence[MapPoint]) -> list[tuple[float, float]]:
    """Scale positions into the SVG canvas, keeping the aspect ratio (t-SNE axes mean nothing)."""
    xy = np.array([(p.x, p.y) for p in points], dtype=np.float64)
    width, height, margin = *_MAP_SIZE, 14
    low, span = xy.min(axis=0), np.maximum(np.ptp(xy, axis=0), 1e-9)
    scale = min((width - 2 * margin) / span[0], (height - 2 * margin) / span[1])
    offset = (np.array(_MAP_SIZE) - span * scale) / 2
    return [(float(x), float(y)) for x, y in (xy - low) * scale + offset]


def _esc(text: object) -> str:
    """`text` for the page: any file name shows, undecodable bytes as \\xe9 (see printable)."""
    return html.escape(printable(text), quote=True)


def _href(path: Path, out: Path) -> str:
    """A relative, percent-encoded link from the report folder to `path`."""
    try:
        relative = os.path.relpath(path, out)
    except ValueError:  # another drive on Windows
        return _esc(path.as_uri())
    return _esc(quote(os.fsencode(relative)))  # the name's very bytes, undecodable ones too


def _colour(album: ReportAlbum, index: int) -> str:
    return _UNSORTED_COLOUR if album.folder == UNSORTED_FOLDER else _PALETTE[index % len(_PALETTE)]


def _photo_id(album: int, photo: int) -> str:
    return f"p{album}-{photo}"


def _picture(thumb: Thumb, alt: str) -> str:
    """The thumbnail's <img>, or a placeholder that says why there is none."""
    if thumb.name is not None:
        return (
            f'<img src="{THUMBS_FOLDER}/{thumb.name}" loading="lazy" decoding="async" '
            f'alt="{alt}" width="{THUMB_SIDE}" height="{THUMB_SIDE}">'
        )
    reason = _esc(thumb.reason or "no preview")
    return f'<div class="nothumb" title="{reason}">no preview<small>{reason}</small></div>'


def _figure(photo: Member, pid: str, thumb: Thumb, out: Path) -> str:
    name = _esc(photo.path.name)
    return (
        f'<figure id="{pid}"><a href="{_href(photo.path, out)}" title="{_esc(photo.path)}">'
        f"{_picture(thumb, name)}</a><figcaption>{name}"
        f"<span>distance {photo.distance:.3f}</span></figcaption></figure>"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _person_figure(index: int, person: ReportPerson, thumb: Thumb, out: Path) -> str:
    """A person's face, linked to their People folder, and a link to the photo it is from."""
    photo = person.face.path
    return (
        f'<figure class="person" id="person{index}"><a href="{_href(person.folder, out)}" '
        f'title="{_esc(person.folder)}">{_picture(thumb, _esc(person.title))}</a>'
        f"<figcaption>{_esc(person.title)}<span>{_plural(person.photos, 'photo')}, "
        f"{_plural(person.faces, 'face')}</span><span>from "
        f'<a href="{_href(photo, out)}" title="{_esc(photo)}">{_esc(photo.name)}</a></span>'
        "</figcaption></figure>"
    )


def _people_section(persons: Sequence[ReportPerson], thumbs: Thumbnails, out: Path) -> str:
    figures = "\n".join(
        _person_figure(i, person, thumbs.thumbs[person.face], out)
        for i, person in enumerate(persons)
    )
    return (
        f'<section id="people"><h2>People <span class="size">{_plural(len(persons), "person")}'
        f", most photos first; each face links to its folder</span></h2>\n"
        f'<div class="grid">\n{figures}\n</div></section>'
    )


def _event_item(index: int, event: ReportEvent, thumbs: Thumbnails, out: Path) -> str:
    """An event's folder name, linked to its Events folder, its count and its first photos."""
    pictures = "".join(
        f'<a href="{_href(photo, out)}" title="{_esc(photo)}">'
        f"{_picture(thumbs.thumbs[photo], _esc(photo.name))}</a>"
        for photo in event.first
    )
    return (
        f'<li class="event" id="e{index}"><a class="title" href="{_href(event.folder, out)}" '
        f'title="{_esc(event.folder)}">{_esc(event.title)}</a> '
        f'<span class="count">{_plural(event.photos, "photo")}</span>'
        f'<div class="strip">{pictures}</div></li>'
    )


def _events_section(events: Sequence[ReportEvent], thumbs: Thumbnails, out: Path) -> str:
    """The events by year, oldest first as in the Events tree and `autoalbum events`."""
    years, parts, index = [], [], 0
    for year, group in itertools.groupby(events, key=lambda event: event.year):
        items = list(group)
        years.append(f'<a href="#y{year}">{year}</a>')
        parts.append(
            f'<h3 id="y{year}">{year} <span class="size">{_plural(len(items), "event")}</span>'
            '</h3>\n<ol class="events">'
        )
        parts += [_event_item(index + i, event, thumbs, out) for i, event in enumerate(items)]
        parts.append("</ol>")
        index += len(items)
    return (
        f'<section id="events"><h2>Events <span class="size">{_plural(len(events), "event")}'
        f", oldest first; each name links to its folder</span></h2>\n"
        f'<p class="years">{" ".join(years)}</p>\n' + "\n".join(parts) + "</section>"
    )


def _album_section(
    index: int, album: ReportAlbum, shown: Sequence[Member], thumbs: Thumbnails, out: Path
) -> str:
    size = f"{len(album.photos)} photo{'s' * (len(album.photos) != 1)}"
    if len(shown) < len(album.photos):
        size += f", the {len(shown)} nearest the centre shown"
    figures = "\n".join(
        _figure(photo, _photo_id(index, p), thumbs.thumbs[photo.path], out)
        for p, photo in enumerate(shown)
    )
    return (
        f'<section class="album" id="a{index}"><h2>'
        f'<span class="swatch" style="background:{_colour(album, index)}"></span>'
        f'{_parents(album)}{_esc(album.label)} <span class="size">{size}</span>'
        f'<span class="folder">{_esc(album.folder)}</span></h2>\n'
        f'<div class="grid">\n{figures}\n</div></section>'
    )


def _parents(album: ReportAlbum) -> str:
    """The labels of the albums a sub-album lies in, as a trail before its own."""
    return "".join(
        f'<span class="parent">{_esc(label)} &rsaquo;</span> ' for label in album.parents
    )


def _map_section(
    points: Sequence[MapPoint],
    note: str | None,
    albums: Sequence[ReportAlbum],
    shown: Sequence[tuple[Member, ...]],
) -> str:
    parts = ['<section id="map"><h2>Map <span class="size">t-SNE of the embeddings; ']
    parts.append("click a point to see its photo</span></h2>")
    if note:
        parts.append(f'<p class="note">{_esc(note)}</p>')
    if points:
        width, height = _MAP_SIZE
        parts.append(f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="photo map">')
        for point, (x, y) in zip(points, _fit(points), strict=True):
            album, photo = albums[point.album], shown[point.album][point.photo]
            parts.append(
                f'<a href="#{_photo_id(point.album, point.photo)}"><circle cx="{x:.1f}" '
                f'cy="{y:.1f}" r="6" fill="{_colour(album, point.album)}"><title>'
                f"{_esc(photo.path.name)} ({_esc(album.label)})</title></circle></a>"
            )
        parts.append("</svg>")
    return "".join(parts) + "</section>"


def _failures_section(failures: Sequence[tuple[Path, str]]) -> str:
    if not failures:
        return '<section id="failures"><h2>Failed files</h2><p>None.</p></section>'
    rows = "\n".join(
        f'<tr><td class="path">{_esc(path)}</td><td>{_esc(reason)}</td></tr>'
        for path, reason in failures
    )
    return (
        f'<section id="failures"><h2>Failed files <span class="size">{len(failures)}</span></h2>'
        f"<table><tr><th>File</th><th>Reason</th></tr>\n{rows}\n</table></section>"
    )


def _indent(album: ReportAlbum) -> str:
    """A sub-album's entry in the navigation, set in by its depth."""
    return (
        f' class="sub" style="margin-left:{1.2 * len(album.parents):.1f}em"'
        if album.parents
        else ""
    )


def _nav(albums: Sequence[ReportAlbum], persons: int, events: int, failures: int) -> str:
    links = [f'<a href="#people">People ({_plural(persons, "person")})</a>'] if persons else []
    links += [f'<a href="#events">Events ({_plural(events, "event")})</a>'] if events else []
    links += [
        f'<a href="#a{i}"{_indent(a)}><span class="swatch" style="background:{_colour(a, i)}">'
        f"</span>{_esc(a.label)} ({len(a.photos)})</a>"
        for i, a in enumerate(albums)
    ]
    links.append(f'<a href="#failures">failed files ({failures})</a>')
    return "<nav>" + "\n".join(links) + "</nav>"


_CSS = """
:root { font-family: system-ui, sans-serif; color: #222; background: #f4f4f1; }
body { margin: 0 auto; max-width: 1400px; padding: 12px 24px 48px; }
h1 { margin: 8px 0 2px; font-size: 26px; }
.meta { color: #555; margin: 0 0 10px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-bottom: 16px; }
nav a { color: #1a4f8a; text-decoration: none; white-space: nowrap; }
section { background: #fff; border-radius: 8px; padding: 10px 16px 16px; margin-bottom: 18px;
  box-shadow: 0 1px 3px rgba(0, 0, 0, .1); }
h2 { font-size: 20px; margin: 4px 0 10px; }
h2 .size, h3 .size { font-weight: normal; color: #666; font-size: 15px; margin-left: 6px; }
.folder { font: 13px ui-monospace, monospace; color: #999; margin-left: 10px; }
.parent { color: #777; font-weight: normal; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 50%;
  margin-right: 7px; }
.grid { display: grid; gap: 10px; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); }
figure { margin: 0; padding: 4px; border-radius: 6px; scroll-margin: 30vh 0; }
figure:target { background: #ffd54a; box-shadow: 0 0 0 3px #f5a000; }
figure a { color: inherit; text-decoration: none; }
figure img, .nothumb { display: block; width: 100%; height: auto; aspect-ratio: 1;
  object-fit: cover; border-radius: 4px; background: #e6e6e6; }
.nothumb { display: flex; flex-direction: column; justify-content: center; align-items: center;
  box-sizing: border-box; padding: 8px; color: #777; text-align: center; }
.nothumb small { margin-top: 6px; color: #a33; overflow-wrap: anywhere; }
figcaption { font-size: 12px; margin-top: 3px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
figcaption span { display: block; color: #999; font-size: 11px; }
.person img, .person .nothumb { border-radius: 50%; }
.person figcaption { text-align: center; }
.person figcaption span a { color: #1a4f8a; }
#map svg { display: block; width: 100%; height: auto; background: #fbfbfb;
  border: 1px solid #eee; border-radius: 6px; }
#map circle { stroke: #fff; stroke-width: 1; }
#map a:hover circle { stroke: #000; stroke-width: 2.5; }
.note { color: #7a5b00; background: #fff6d6; padding: 6px 10px; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
td.path { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
h3 { font-size: 17px; margin: 14px 0 6px; }
.years a { color: #1a4f8a; margin-right: 10px; }
ol.events { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px 18px;
  grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); }
.event .title { color: #1a4f8a; text-decoration: none; font-weight: 600; }
.event .count { color: #888; font-size: 13px; margin-left: 4px; }
.strip { display: flex; gap: 4px; margin-top: 4px; }
.strip img, .strip .nothumb { width: 76px; height: 76px; object-fit: cover; border-radius: 4px;
  background: #e6e6e6; }
.strip .nothumb { display: flex; font-size: 10px; }
.strip .nothumb small { display: none; }
"""


def _page(collection: Collection, body: Sequence[str], photos: int) -> str:
    albums, failures = len(collection.albums), len(collection.failures)
    made = datetime.now().astimezone().isoformat(sep=" ", timespec="minutes")
    meta = (
        f"{photos} photos in {albums} album{'s' * (albums != 1)}, {failures} failed files; "
        f"made {made} by autoalbum {__version__}"
    )
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Albums: {_esc(collection.source)}</title><style>{_CSS}</style></head><body>",
            f'<header><h1>Albums</h1><p class="meta">{_esc(collection.source)}<br>{meta}</p>',
            _nav(collection.albums, len(collection.persons), len(collection.events), failures)
            + "</header>",
            *body,
            _failures_section(collection.failures),
            "</body></html>\n",
        ]
    )


def page(
    collection: Collection,
    shown: Sequence[tuple[Member, ...]],
    points: Sequence[MapPoint],
    note: str | None,
    thumbs: Thumbnails,
    out: Path,
) -> str:
    """The whole page: header, persons, events, map, one section per album (its `shown`
    photos), failures."""
    body = [_people_section(collection.persons, thumbs, out)] if collection.persons else []
    if collection.events:
        body.append(_events_section(collection.events, thumbs, out))
    body.append(_map_section(points, note, collection.albums, shown))
    body += [
        _album_section(i, album, shown[i], thumbs, out) for i, album in enumerate(collection.albums)
    ]
    return _page(collection, body, sum(len(a.photos) for a in collection.albums))
