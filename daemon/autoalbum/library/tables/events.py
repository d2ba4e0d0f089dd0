"""When and where each content was taken (embedding/capture.py), and the `events` table: the
occasions the photos are grouped into (events/)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.capture import Capture
from autoalbum.library.records import Status
from autoalbum.library.tables import Table

_Row = tuple[str, float]  # a photo as the tree takes it: (path, distance)


@dataclass(frozen=True)
class EventRecord:
    id: int
    number: int
    name: str | None  # the user's, None while named automatically
    hidden: bool = False  # its folder deleted by the user: not shown again
    auto_name: str | None = None  # its automatic name as last made (place and dates) ...
    auto_span: str | None = None  # ... for this span of its photos


@dataclass(frozen=True)
class CaptureRows:
    """When and where each live content was taken, and its event (-1: none). `taken` is the
    wall-clock time as if UTC (NaN: unknown), `offset` in minutes (NaN: unknown)."""

    ids: NDArray[np.int64]
    sources: NDArray[np.str_]  # where each time came from (capture.TimeSource), "" unread
    taken: NDArray[np.float64]
    offset: NDArray[np.float64]
    latitude: NDArray[np.float64]
    longitude: NDArray[np.float64]
    events: NDArray[np.int64]


def _number(value: float | None) -> float:
    return np.nan if value is None else float(value)


class Events(Table):
    def set_capture(self, content_id: int, capture: Capture) -> None:
        self.db.execute(
            """UPDATE contents SET taken = ?, offset = ?, taken_from = ?, latitude = ?,
               longitude = ?, make = ?, model = ? WHERE id = ?""",
            (
                capture.local,
                capture.offset_minutes,
                capture.source.value,
                capture.latitude,
                capture.longitude,
                capture.make,
                capture.model,
                content_id,
            ),
        )

    def unread_captures(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` live contents whose capture was never read, with one present file."""
        rows = self.db.execute(
            """SELECT c.id, MIN(f.path) FROM contents c JOIN files f ON f.content_id = c.id
               WHERE c.taken_from IS NULL AND f.status = ? GROUP BY c.id ORDER BY c.id
               LIMIT ?""",
            (Status.OK.value, limit),
        )
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def count_unread_captures(self) -> int:
        row = self.db.execute(
            """SELECT COUNT(*) FROM contents c WHERE c.taken_from IS NULL AND EXISTS (
                   SELECT 1 FROM files f WHERE f.content_id = c.id AND f.status = ?)""",
            (Status.OK.value,),
        ).fetchone()
        return int(row[0])

    def capture_rows(
        self, ids: Collection[int] | None = None, between: tuple[float, float] | None = None
    ) -> CaptureRows:
        """Every live content's capture and event, in id order: only `ids`' when given (an
        arrival's, read by id, whatever the library's size), or only the dated ones taken
        `between` two wall-clock times (by the index of dated photos' times)."""
        query = """SELECT c.id, c.taken, c.offset, c.latitude, c.longitude, c.event_id,
                          c.taken_from FROM contents c WHERE EXISTS (SELECT 1 FROM files f
                   WHERE f.content_id = c.id AND f.status = ?)"""
        if between is not None:
            rows = self.db.execute(
                query + " AND c.taken_from IN ('exif', 'xmp') AND c.taken BETWEEN ? AND ?"
                " ORDER BY c.id",
                (Status.OK.value, *between),
            ).fetchall()
        elif ids is None:
            rows = self.db.execute(query + " ORDER BY c.id", (Status.OK.value,)).fetchall()
        else:
            rows = [
                row
                for content in sorted(ids)
                for row in self.db.execute(query + " AND c.id = ?", (Status.OK.value, content))
            ]
        return CaptureRows(
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[6] or "" for r in rows], dtype=np.str_),
            np.array([_number(r[1]) for r in rows], dtype=np.float64),
            np.array([_number(r[2]) for r in rows], dtype=np.float64),
            np.array([_number(r[3]) for r in rows], dtype=np.float64),
            np.array([_number(r[4]) for r in rows], dtype=np.float64),
            np.array([-1 if r[5] is None else r[5] for r in rows], dtype=np.int64),
        )

    def set_content_events(self, events: Iterable[tuple[int, int | None]]) -> None:
        """(content id, event id or None) for each content given."""
        self.db.executemany(
            "UPDATE contents SET event_id = ? WHERE id = ?", ((e, c) for c, e in events)
        )

    # events

    def events(self) -> list[EventRecord]:
        rows = self.db.execute(
            "SELECT id, number, name, hidden, auto_name, auto_span FROM events ORDER BY number"
        )
        return [EventRecord(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]

    def keep_event_names(self, names: Mapping[int, tuple[str, str]]) -> None:
        """Event id -> (its automatic name, the span it was made for)."""
        self.db.executemany(
            "UPDATE events SET auto_name = ?, auto_span = ? WHERE id = ?",
            ((name, span, event) for event, (name, span) in names.items()),
        )

    def add_event(self, name: str | None = None) -> EventRecord:
        """A new event under the next number never used (named: one the user made)."""
        event, number = self.add_numbered("events", name)
        return EventRecord(event, number, name)

    def hide_event(self, event_id: int) -> None:
        self.db.execute("UPDATE events SET hidden = 1 WHERE id = ?", (event_id,))

    # the user's word on events

    def pin_to_event(self, content_id: int, event_id: int) -> None:
        """The content is in `event_id`, through every grouping."""
        self.db.execute(
            "UPDATE contents SET event_id = ?, event_pinned = ? WHERE id = ?",
            (event_id, event_id, content_id),
        )
        self.db.execute(
            "DELETE FROM event_exclusions WHERE content_id = ? AND event_id = ?",
            (content_id, event_id),
        )

    def exclude_from_event(self, content_id: int, event_id: int) -> bool:
        """The content is not in `event_id`: out of it now, and never in it again; whether
        it was in it."""
        self.db.execute(
            "INSERT OR IGNORE INTO event_exclusions (content_id, event_id) VALUES (?, ?)",
            (content_id, event_id),
        )
        cursor = self.db.execute(
            """UPDATE contents SET event_id = NULL, event_pinned = NULL
               WHERE id = ? AND event_id = ?""",
            (content_id, event_id),
        )
        return cursor.rowcount > 0

    def event_pins(self) -> dict[int, int]:
        """Content id -> the event the user put it in."""
        rows = self.db.execute(
            "SELECT id, event_pinned FROM contents WHERE event_pinned IS NOT NULL"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    def event_exclusions(self) -> list[tuple[int, int]]:
        """(content id, an event the user took it out of)."""
        rows = self.db.execute("SELECT content_id, event_id FROM event_exclusions")
        return [(int(r[0]), int(r[1])) for r in rows]

    def name_event(self, event_id: int, name: str | None) -> None:
        self.db.execute("UPDATE events SET name = ? WHERE id = ?", (name, event_id))

    def forget_events(self) -> None:
        """Every event gone, names and the user's word on them too; no photo in one."""
        self.db.execute(
            """UPDATE contents SET event_id = NULL, event_pinned = NULL
               WHERE event_id IS NOT NULL OR event_pinned IS NOT NULL"""
        )
        self.db.execute("DELETE FROM event_exclusions")
        self.db.execute("DELETE FROM events")

    def events_in_use(self, event_ids: Collection[int]) -> set[int]:
        """Those of the events that any content is in."""
        return {
            event
            for event in event_ids
            if self.db.execute(
                "SELECT 1 FROM contents WHERE event_id = ? LIMIT 1", (event,)
            ).fetchone()
        }

    def drop_events(self, event_ids: Collection[int]) -> None:
        """These events gone, but those the user named or hid (they outlast their photos)."""
        self.db.executemany(
            "DELETE FROM events WHERE id = ? AND name IS NULL AND NOT hidden",
            ((e,) for e in event_ids),
        )

    def event_spans(
        self, event_ids: Collection[int] | None = None
    ) -> dict[int, tuple[float, float, int]]:
        """Event id -> (first, last wall-clock time, live contents) of its photos, for every
        event with any (only `event_ids`' when given)."""
        query = """SELECT c.event_id, MIN(c.taken), MAX(c.taken), COUNT(*) FROM contents c
                   WHERE c.event_id {} AND EXISTS (SELECT 1 FROM files f
                         WHERE f.content_id = c.id AND f.status = ?) GROUP BY c.event_id"""
        rows = self.per_group(query, event_ids, Status.OK.value)
        return {int(r[0]): (float(r[1]), float(r[2]), int(r[3])) for r in rows}

    def event_places(self, event_id: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The GPS positions of an event's photos (those that have one)."""
        rows = self.db.execute(
            """SELECT latitude, longitude FROM contents WHERE event_id = ?
               AND latitude IS NOT NULL AND longitude IS NOT NULL""",
            (event_id,),
        ).fetchall()
        return (
            np.array([r[0] for r in rows], dtype=np.float64),
            np.array([r[1] for r in rows], dtype=np.float64),
        )

    def event_rows(self, event_ids: Collection[int]) -> dict[int, list[_Row]]:
        """The live photos of each event as (path, 0.0), in the order they were taken."""
        query = """SELECT f.path, c.event_id FROM contents c JOIN files f ON f.content_id = c.id
                   WHERE c.event_id {} AND +f.status = ? ORDER BY c.taken, f.path"""
        members: dict[int, list[_Row]] = {event: [] for event in event_ids}
        for path, event in self.per_group(query, event_ids, Status.OK.value):
            members[event].append((os.fsdecode(path), 0.0))
        return members
