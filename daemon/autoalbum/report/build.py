"""`autoalbum report`: a static HTML page of the albums that works offline, from file://.

Every album with its thumbnails (nearest to the album centre first, lazy-loaded), a t-SNE map of
the embeddings whose points link to their photos, a library's persons (a face each, linked to
their People folders), its events by year (their first photos, linked to their Events folders)
and the files that failed. It is read from the
output folder of `sort` or from a library's catalog (collection.py) and drawn by page.py. The
page needs no server and no script; the photos themselves are only ever read.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoalbum.albums.tree import Member
from autoalbum.durable import write_text_atomically
from autoalbum.report.collection import Collection, ReportError
from autoalbum.report.page import THUMBS_FOLDER, MapPoint, page
from autoalbum.report.thumbnails import Source, Thumbnails, make_thumbnails

log = logging.getLogger(__name__)

PAGE_NAME = "index.html"

REPORT_MARKER = ".autoalbum-report"
MAP_MAX = 1500  # t-SNE and an SVG of more points get slow; a random sample shows the shape
MAP_MIN = 3  # t-SNE needs more points than its smallest perplexity (2)


@dataclass(frozen=True)
class ReportSummary:
    page: Path
    albums: int
    photos: int
    failures: int
    persons: int
    events: int
    thumbnails: Thumbnails
    map_note: str | None  # why the map is missing or partial
    seconds: float


def _map_points(
    collection: Collection, shown: Sequence[tuple[Member, ...]]
) -> tuple[list[MapPoint], str | None]:
    """t-SNE positions of the shown photos (a sample of MAP_MAX at most), or why there are none."""
    if collection.vectors is None:
        return [], collection.no_vectors or "no map: no embeddings were found"
    places = [
        (a, p, collection.rows[photo.path])
        for a, photos in enumerate(shown)
        for p, photo in enumerate(photos)
        if photo.path in collection.rows
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
    faces = [person.face for person in collection.persons]
    firsts = [path for event in collection.events for path in event.first]
    # A photo both in an album and first in an event is made (and counted) once.
    sources: list[Source] = [*(p.path for photos in shown for p in photos), *faces, *firsts]
    thumbs = make_thumbnails(list(dict.fromkeys(sources)), out / THUMBS_FOLDER)
    points, note = _map_points(collection, shown)
    text = page(collection, shown, points, note, thumbs, out)
    photos = sum(len(a.photos) for a in collection.albums)
    write_text_atomically(out / PAGE_NAME, text)
    log.debug("wrote the report %s", out / PAGE_NAME)
    return ReportSummary(
        out / PAGE_NAME,
        len(collection.albums),
        photos,
        len(collection.failures),
        len(collection.persons),
        len(collection.events),
        thumbs,
        note,
        time.monotonic() - started,
    )
