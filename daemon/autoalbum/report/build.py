"""`autoalbum report`: a static HTML page of the albums that works offline, from file://.

Every album with its thumbnails (nearest to the album centre first, lazy-loaded), a t-SNE map of
the embeddings whose points link to their photos, and the files that failed. It is read from the
output folder of `sort` (index.json and vectors.npz) or from a library's catalog. The page needs
no server and no script; the photos themselves are only ever read.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.tree import (
    INDEX_NAME,
    INDEX_SCHEMA_VERSION,
    UNSORTED_FOLDER,
    UNSORTED_NUMBER,
    VECTORS_NAME,
    folder_name,
)
from autoalbum.config import Config
from autoalbum.durable import write_text_atomically
from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import CATALOG_NAME, AlbumRecord, Catalog, Status
from autoalbum.report.page import THUMBS_FOLDER, page
from autoalbum.report.thumbnails import Thumbnails, make_thumbnails

log = logging.getLogger(__name__)

PAGE_NAME = "index.html"

REPORT_MARKER = ".autoalbum-report"
MAP_MAX = 1500  # t-SNE and an SVG of more points get slow; a random sample shows the shape
MAP_MIN = 3  # t-SNE needs more points than its smallest perplexity (2)


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
class MapPoint:
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
) -> tuple[list[MapPoint], str | None]:
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
    from autoalbum.evaluation.plots import tsne_points

    coords = tsne_points(collection.vectors[[row for _, _, row in places]])
    return [MapPoint(a, p, x, y) for (a, p, _), (x, y) in zip(places, coords, strict=True)], note


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
    text = page(collection, shown, points, note, thumbs, out)
    photos = sum(len(a.photos) for a in collection.albums)
    # File names that are not valid UTF-8 show with a replacement character.
    write_text_atomically(out / PAGE_NAME, text, errors="replace")
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
