"""`autoalbum report`: a static HTML page of the albums that works offline, from file://.

Every album with its thumbnails (nearest to the album centre first, lazy-loaded), a t-SNE map of
the embeddings whose points link to their photos, and the files that failed. It is read from the
output folder of `sort` (index.json and vectors.npz) or from a library's catalog. The page needs
no server and no script; the photos themselves are only ever read.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from numpy.typing import NDArray

from autoalbum import __version__
from autoalbum.albums import (
    INDEX_NAME,
    INDEX_SCHEMA_VERSION,
    UNSORTED_FOLDER,
    UNSORTED_NUMBER,
    VECTORS_NAME,
    folder_name,
)
from autoalbum.catalog import AlbumRecord, Catalog, Status
from autoalbum.config import Config
from autoalbum.durable import write_text_atomically
from autoalbum.errors import AutoalbumError
from autoalbum.library import CATALOG_NAME
from autoalbum.thumbnails import THUMB_SIDE, Thumb, Thumbnails, make_thumbnails

log = logging.getLogger(__name__)

PAGE_NAME = "index.html"
THUMBS_FOLDER = "thumbs"
REPORT_MARKER = ".autoalbum-report"
MAP_MAX = 1500  # t-SNE and an SVG of more points get slow; a random sample shows the shape
MAP_MIN = 3  # t-SNE needs more points than its smallest perplexity (2)
_MAP_SIZE = (1000, 560)
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5", "#393b79", "#637939",
)  # fmt: skip
_UNSORTED_COLOUR = "#9e9e9e"


class ReportError(AutoalbumError):
    """The report's source can't be read or its folder can't be written."""


@dataclass(frozen=True)
class Photo:
    path: Path
    distance: float
    row: int | None = None  # its row in Collection.vectors


@dataclass(frozen=True)
class ReportAlbum:
    folder: str  # 03-egyptian_cat
    label: str  # Egyptian cat
    photos: tuple[Photo, ...]  # nearest to the album centre first


@dataclass(frozen=True)
class Collection:
    """What a report shows, read from a sort output folder or from a library."""

    source: str
    albums: tuple[ReportAlbum, ...]
    failures: tuple[tuple[Path, str], ...]
    vectors: NDArray[np.float32] | None
    no_vectors: str | None = None  # why `vectors` is None
    private: tuple[Path, ...] = ()  # folders the report must not be written into


@dataclass(frozen=True)
class ReportSummary:
    page: Path
    albums: int
    photos: int
    failures: int
    thumbnails: Thumbnails
    map_note: str | None  # why the map is missing or partial
    seconds: float


@dataclass(frozen=True)
class _Point:
    album: int
    photo: int
    x: float
    y: float


# reading a sort output folder


def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(
            f"{path.parent} holds no {INDEX_NAME}; pass --from the --out folder of autoalbum sort"
        ) from None
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {path}: {error}; run autoalbum sort again") from None
    if not isinstance(index, dict) or not isinstance(index.get("schema_version"), int):
        raise ReportError(f"{path} is not an autoalbum index; run autoalbum sort again")
    if index["schema_version"] > INDEX_SCHEMA_VERSION:
        raise ReportError(f"{path} was written by a newer autoalbum; upgrade autoalbum")
    return index


def _sort_vectors(path: Path, count: int) -> tuple[NDArray[np.float32] | None, str | None]:
    """The vectors `sort` saved beside index.json, or why there are none."""
    if not path.is_file():
        return None, (
            f"no map: {path.parent} has no {VECTORS_NAME} (an older autoalbum sort made it); "
            "run autoalbum sort again to get one"
        )
    try:
        with np.load(path) as data:
            vectors = np.asarray(data["vectors"], dtype=np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        return None, f"no map: cannot read {path} ({error}); run autoalbum sort again"
    if vectors.ndim != 2 or len(vectors) != count:
        return None, f"no map: {path} does not match {INDEX_NAME}; run autoalbum sort again"
    return vectors, None


def _nearest_first(photos: Iterable[Photo]) -> tuple[Photo, ...]:
    return tuple(sorted(photos, key=lambda photo: photo.distance))


def from_sort_output(folder: Path) -> Collection:
    """Read the album folder written by `autoalbum sort`."""
    path = folder / INDEX_NAME
    index = _read_index(path)
    try:
        members: dict[str, list[Photo]] = defaultdict(list)
        for row, image in enumerate(index["images"]):
            photo = Photo(Path(image["path"]), float(image["distance"]), row)
            members[image["album"]].append(photo)
        albums = tuple(
            ReportAlbum(a["name"], a["label"], _nearest_first(members[a["name"]]))
            for a in index["albums"]
        )
        failures = tuple((Path(f["path"]), str(f["reason"])) for f in index["failures"])
        sources = tuple(Path(s) for s in index.get("sources", ()))
    except (KeyError, TypeError, ValueError) as error:
        raise ReportError(f"{path} is damaged ({error!r}); run autoalbum sort again") from None
    vectors, why = _sort_vectors(folder / VECTORS_NAME, len(index["images"]))
    source = os.path.abspath(folder)
    return Collection(source, albums, failures, vectors, why, (folder, *sources))


# reading a library


def _album_folders(records: Sequence[AlbumRecord]) -> dict[int, str]:
    """Folder names as the library's album tree spells them."""
    width = max(2, len(str(max((a.number for a in records), default=0))))
    return {
        a.id: UNSORTED_FOLDER
        if a.number == UNSORTED_NUMBER
        else folder_name(a.number, a.name, width=width)
        for a in records
    }


def from_library(config: Config) -> Collection:
    """Read a library's albums, vectors and failed files from its catalog."""
    library = config.library
    path = library.state / CATALOG_NAME
    if not path.is_file():
        raise ReportError(f"no library catalog at {path}; run autoalbum index first")
    with Catalog(path) as catalog:
        records = catalog.albums()
        memberships = catalog.memberships()  # nearest to the centre first
        content = {f.path: f.content_id for f in catalog.files(Status.OK)}
        ids = sorted({c for m in memberships if (c := content.get(m.path)) is not None})
        vectors = catalog.vectors(ids) if ids else None
        failed = catalog.files(Status.FAILED)
    row = {content_id: i for i, content_id in enumerate(ids)}
    members: dict[int, list[Photo]] = defaultdict(list)
    for m in memberships:
        content_id = content.get(m.path)
        place = row.get(content_id) if content_id is not None else None
        members[m.album_id].append(Photo(m.path, m.distance, place))
    # Numbered albums in order, then the photos far from every centre.
    shown = sorted(
        (a for a in records if members[a.id]), key=lambda a: (a.number == UNSORTED_NUMBER, a.number)
    )
    folders = _album_folders(shown)
    albums = tuple(ReportAlbum(folders[a.id], a.name, tuple(members[a.id])) for a in shown)
    failures = tuple((f.path, f.reason or "no reason recorded") for f in failed)
    why = None if vectors is not None else "no map: the library has no photos in albums yet"
    private = (*library.folders, library.albums, library.state)
    return Collection(f"library {library.albums}", albums, failures, vectors, why, private)


# the map


def _map_points(
    collection: Collection, shown: Sequence[tuple[Photo, ...]]
) -> tuple[list[_Point], str | None]:
    """t-SNE positions of the shown photos (a sample of MAP_MAX at most), or why there are none."""
    if collection.vectors is None:
        return [], collection.no_vectors or "no map: no embeddings were found"
    places = [
        (a, p, photo.row)
        for a, photos in enumerate(shown)
        for p, photo in enumerate(photos)
        if photo.row is not None
    ]
    if len(places) < MAP_MIN:
        return [], f"no map: it needs at least {MAP_MIN} photos"
    note = None
    if len(places) > MAP_MAX:
        keep = np.sort(np.random.default_rng(0).choice(len(places), MAP_MAX, replace=False))
        note = f"the map shows {MAP_MAX} of the {len(places)} photos, picked at random"
        places = [places[i] for i in keep]
    from autoalbum.plots import tsne_points

    coords = tsne_points(collection.vectors[[row for _, _, row in places]])
    return [_Point(a, p, x, y) for (a, p, _), (x, y) in zip(places, coords, strict=True)], note


def _fit(points: Sequence[_Point]) -> list[tuple[float, float]]:
    """Scale positions into the SVG canvas, keeping the aspect ratio (t-SNE axes mean nothing)."""
    xy = np.array([(p.x, p.y) for p in points], dtype=np.float64)
    width, height, margin = *_MAP_SIZE, 14
    low, span = xy.min(axis=0), np.maximum(np.ptp(xy, axis=0), 1e-9)
    scale = min((width - 2 * margin) / span[0], (height - 2 * margin) / span[1])
    offset = (np.array(_MAP_SIZE) - span * scale) / 2
    return [(float(x), float(y)) for x, y in (xy - low) * scale + offset]


# the page


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _href(path: Path, out: Path) -> str:
    """A relative, percent-encoded link from the report folder to `path`."""
    try:
        relative = os.path.relpath(path, out)
    except ValueError:  # another drive on Windows
        return _esc(path.as_uri())
    return _esc(quote(relative, errors="surrogateescape"))


def _colour(album: ReportAlbum, index: int) -> str:
    return _UNSORTED_COLOUR if album.folder == UNSORTED_FOLDER else _PALETTE[index % len(_PALETTE)]


def _photo_id(album: int, photo: int) -> str:
    return f"p{album}-{photo}"


def _figure(photo: Photo, pid: str, thumb: Thumb, out: Path) -> str:
    name = _esc(photo.path.name)
    if thumb.name is not None:
        src = f"{THUMBS_FOLDER}/{thumb.name}"
        picture = (
            f'<img src="{src}" loading="lazy" decoding="async" alt="{name}" '
            f'width="{THUMB_SIDE}" height="{THUMB_SIDE}">'
        )
    else:
        reason = _esc(thumb.reason or "no preview")
        picture = f'<div class="nothumb" title="{reason}">no preview<small>{reason}</small></div>'
    return (
        f'<figure id="{pid}"><a href="{_href(photo.path, out)}" title="{_esc(photo.path)}">'
        f"{picture}</a><figcaption>{name}<span>distance {photo.distance:.3f}</span></figcaption>"
        "</figure>"
    )


def _album_section(
    index: int, album: ReportAlbum, shown: Sequence[Photo], thumbs: Thumbnails, out: Path
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
        f'{_esc(album.label)} <span class="size">{size}</span>'
        f'<span class="folder">{_esc(album.folder)}</span></h2>\n'
        f'<div class="grid">\n{figures}\n</div></section>'
    )


def _map_section(
    points: Sequence[_Point],
    note: str | None,
    albums: Sequence[ReportAlbum],
    shown: Sequence[tuple[Photo, ...]],
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


def _nav(albums: Sequence[ReportAlbum], failures: int) -> str:
    links = [
        f'<a href="#a{i}"><span class="swatch" style="background:{_colour(a, i)}"></span>'
        f"{_esc(a.label)} ({len(a.photos)})</a>"
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
h2 .size { font-weight: normal; color: #666; font-size: 15px; margin-left: 6px; }
.folder { font: 13px ui-monospace, monospace; color: #999; margin-left: 10px; }
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
#map svg { display: block; width: 100%; height: auto; background: #fbfbfb;
  border: 1px solid #eee; border-radius: 6px; }
#map circle { stroke: #fff; stroke-width: 1; }
#map a:hover circle { stroke: #000; stroke-width: 2.5; }
.note { color: #7a5b00; background: #fff6d6; padding: 6px 10px; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
td.path { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
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
            _nav(collection.albums, failures) + "</header>",
            *body,
            _failures_section(collection.failures),
            "</body></html>\n",
        ]
    )


# writing


def _check_out(out: Path, private: Sequence[Path]) -> None:
    """Refuse folders autoalbum reads or owns, and folders of someone else's files."""
    real = Path(os.path.realpath(out))
    for folder in private:
        folder = Path(os.path.realpath(folder))
        if real == folder or folder in real.parents:
            raise ReportError(
                f"refusing to write the report into {out}: it is inside {folder}, which "
                "autoalbum reads or manages; choose a --out folder outside it"
            )
    if out.exists() and not out.is_dir():
        raise ReportError(f"refusing to write the report to {out}: it is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_MARKER).is_file():
        raise ReportError(
            f"refusing to write the report into {out}: it holds files that autoalbum report "
            f"did not make (no {REPORT_MARKER}); choose an empty or new --out folder"
        )


def write_report(
    collection: Collection, out: Path, *, per_album: int | None = None, workers: int | None = None
) -> ReportSummary:
    """Write out/index.html and out/thumbs/; thumbnails made before are reused."""
    started = time.monotonic()
    out = Path(os.path.abspath(out))
    _check_out(out, collection.private)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / REPORT_MARKER).write_text("Made by autoalbum report; rewritten on each run.\n")
    except OSError as error:
        raise ReportError(f"cannot write the report to {out}: {error.strerror}") from None
    shown = [album.photos[:per_album] for album in collection.albums]
    thumbs = make_thumbnails([p.path for photos in shown for p in photos], out / THUMBS_FOLDER)
    points, note = _map_points(collection, shown)
    body = [_map_section(points, note, collection.albums, shown)]
    body += [
        _album_section(i, album, shown[i], thumbs, out) for i, album in enumerate(collection.albums)
    ]
    photos = sum(len(a.photos) for a in collection.albums)
    # File names that are not valid UTF-8 show with a replacement character.
    write_text_atomically(out / PAGE_NAME, _page(collection, body, photos), errors="replace")
    log.debug("wrote the report %s", out / PAGE_NAME)
    return ReportSummary(
        out / PAGE_NAME,
        len(collection.albums),
        photos,
        len(collection.failures),
        thumbs,
        note,
        time.monotonic() - started,
    )
