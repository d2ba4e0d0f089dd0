"""The events a library's report shows, read from its catalog: those with a folder in the Events
tree (library/timeline.py's `shown`), in time order, each with its count and first photos."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autoalbum.config import EventsConfig
from autoalbum.library.stores import Stores
from autoalbum.library.timeline import Timeline, event_folder, year_of

PREVIEW = 4  # of an event's first photos, shown as small thumbnails


@dataclass(frozen=True)
class ReportEvent:
    title: str  # its folder: dates and place, `2024-04-09 \u2013 11 Keswick`, or the user's name
    folder: Path  # in the Events tree
    year: int  # of its first photo
    photos: int
    first: tuple[Path, ...]  # its first PREVIEW photos, in the order they were taken


def read_events(stores: Stores, events: EventsConfig, albums: Path) -> tuple[ReportEvent, ...]:
    """The events with an Events folder, oldest first; none when events are off."""
    if not events.enabled:
        return ()
    shown = Timeline(events, albums, stores).shown()
    rows = stores.catalog.event_rows([event.id for event, _, _ in shown])
    tree = events.tree(albums)
    return tuple(
        ReportEvent(
            title,
            tree / event_folder(title, first),
            year_of(first),
            photos,
            tuple(Path(os.path.abspath(path)) for path, _ in rows[event.id][:PREVIEW]),
        )
        for event, title, (first, _, photos) in shown
    )
