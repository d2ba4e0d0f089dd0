"""When and where the library's photos were taken: read as each photo is decoded (the indexer
stores it), and for photos indexed before autoalbum read it, caught up by opening only their
headers (embedding/capture.py), a chunk and a commit at a time."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from autoalbum.embedding.capture import Capture, read_capture_file
from autoalbum.events import places
from autoalbum.library.catalog import Catalog

log = logging.getLogger(__name__)

CHUNK = 512  # photos whose headers are read per commit: well under a second


def completed(capture: Capture) -> Capture:
    """The capture with its UTC offset taken from the time zone at its GPS position, where the
    photo gives a wall-clock time and a position but no offset (events/places.py)."""
    if capture.offset_minutes is not None or capture.local is None:
        return capture
    if capture.latitude is None or capture.longitude is None:
        return capture
    offset = places.zone_offset(capture.latitude, capture.longitude, capture.local)
    return capture if offset is None else capture.with_offset(offset)


def unread(catalog: Catalog) -> int:
    """Live photos whose capture was never read."""
    return catalog.count_unread_captures()


def catch_up(catalog: Catalog, limit: int = CHUNK) -> int:
    """Read the capture of up to `limit` photos never read, in one commit; how many."""
    pending = catalog.unread_captures(limit)
    captures = [
        (content, completed(read_capture_file(Path(os.fsdecode(raw))))) for content, raw in pending
    ]
    with catalog.transaction():
        for content, capture in captures:
            catalog.set_capture(content, capture)
    return len(pending)
