"""A library's events: its photos grouped by when and where they were taken (events/segment.py),
named by place and date (events/places.py), and shown as the Events tree (one folder of links
per event of at least `events.min_photos` photos, written by the album tree's own writer).

Grouping runs over every photo (at each recluster, at the first arrival a process files, and
when arrivals that joined no event could make one); each new event continues the event most of
its photos were in, so numbers, folders and the user's names survive. Between groupings an
arrival joins the event its time and place fall in (segment.place), in place: a photo with an
old date joins its old event, never today's. Photos without a date (no EXIF or XMP date, only
the file's time) are left out of events: a copied file's time says nothing of the occasion.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.tree import Album, Row
from autoalbum.config import EventsConfig
from autoalbum.errors import AutoalbumError
from autoalbum.events import places, segment
from autoalbum.library.event_gestures import EventGestures
from autoalbum.library.stores import Stores
from autoalbum.library.tables.events import EventRecord
from autoalbum.library.views import GroupTree, PerGroup, absolute, continuing
from autoalbum.printable import printable

log = logging.getLogger(__name__)

STAMPS_NAME = "events-stamps.json"  # in the state folder: the Events tree's, for its gestures
GROUPING_KEY = "event_grouping"  # in the catalog's meta: counts the groupings
DATED = ("exif", "xmp")  # where a date must come from to place a photo in an event
_EPOCH = datetime(1970, 1, 1)
DASH = "\u2013"  # the en dash of a date range
Span = tuple[float, float, int]  # an event's first and last photo's time, and its photos


NAMING = 1  # the rules automatic names are made by: names kept from other rules are made again
REACH = segment.RULES.home_days * segment.DAY  # how far in time segment.py's rules look
MONTH = 31 * segment.DAY

# A year folder's number in the Events tree's index: apart from the events' own numbers.
YEAR_NUMBERS = 1_000_000


def year_of(seconds: float) -> int:
    """The year of a wall-clock time stored as if it were UTC."""
    return (_EPOCH + timedelta(seconds=seconds)).year


def event_folder(title: str, start: float) -> str:
    """An event's folder in the Events tree: in its year's, `2025/2025-04-04 \u2013 06 Keswick`."""
    return f"{year_of(start)}/{title}"


def event_name(start: float, end: float, place: str | None) -> str:
    """`2025-04-04 \u2013 06 Keswick`: the dates (a day alone, or a range said once where its ends
    share a year and month) and the place, when known."""
    first = (_EPOCH + timedelta(seconds=start)).date()
    last = (_EPOCH + timedelta(seconds=end)).date()
    if first == last:
        dates = first.isoformat()
    elif (first.year, first.month) == (last.year, last.month):
        dates = f"{first.isoformat()} {DASH} {last.day:02d}"
    elif first.year == last.year:
        dates = f"{first.isoformat()} {DASH} {last.month:02d}-{last.day:02d}"
    else:
        dates = f"{first.isoformat()} {DASH} {last.isoformat()}"
    if not place:
        return dates
    # GeoNames gives some places two names, `Bleiburg/Pliberk`, `Zürich (Kreis 7) / Witikon`:
    # a folder's name can't hold a slash.
    return f"{dates} {place.replace(' / ', ' - ').replace('/', '-')}"


class Timeline(GroupTree):
    """The events of one library, and its Events tree."""

    kind = "events"

    def __init__(self, config: EventsConfig, albums: Path, stores: Stores) -> None:
        self.config = config
        self.catalog = stores.catalog
        # What the user does in the Events tree, taken before each write (event_gestures.py).
        interpret = EventGestures(stores.catalog, self._gestured)
        super().__init__(config.tree(albums), stores.state, interpret, STAMPS_NAME)
        # The events as this process last grouped them (event id, summary), by start; None:
        # group afresh before placing an arrival.
        self._events: list[tuple[int, segment.Event]] | None = None
        self._grouping: str | None = None  # the catalog's grouping count they come from
        self._unplaced: list[float] = []  # instants of dated arrivals since, in no event
        self._span_figures: PerGroup[Span] = PerGroup()  # as the last write read them

    def _rows(
        self, ids: Collection[int] | None = None, between: tuple[float, float] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
               NDArray[np.float64], NDArray[np.int64]]:  # fmt: skip
        """Ids, instants (NaN: undated), places and events of the live contents (`ids`' only,
        or only the dated ones taken `between` two wall-clock times, when given)."""
        rows = self.catalog.capture_rows(ids, between)
        dated = np.isin(rows.sources, list(DATED))
        # The instant where the offset is known (from the photo, or its position's time zone),
        # so a flight across zones leaves gaps as long as they were; else the wall clock.
        instant = rows.taken - 60.0 * np.nan_to_num(rows.offset, nan=0.0)
        taken = np.where(dated, instant, np.nan)
        return rows.ids, taken, rows.latitude, rows.longitude, rows.events

    def regroup(self, near: tuple[float, float] | None = None) -> None:
        """Group the dated photos afresh: every one, or (`near`: the first and last instant of
        some arrivals) those of the events within REACH of them, read with REACH more either
        side (segment.py's rules look a year away at most), so a phone's sync into a big
        library costs the years around it. Events keep the event most of their photos were
        in, and the user's word: photos put in an event stay there, those taken out stay out."""
        if near is None:
            ids, taken, lat, lon, before = self._rows()
        else:
            margin = 2 * REACH + MONTH  # segment's typical day: a median per month
            ids, taken, lat, lon, before = self._rows(between=(near[0] - margin, near[1] + margin))
        found = segment.segment(taken, lat, lon)
        labels = found.labels(self.config.min_photos)
        if near is not None:  # the events around the arrivals; the rest was their context
            close = found.event_of[(taken >= near[0] - REACH) & (taken <= near[1] + REACH)]
            rows = np.flatnonzero(np.isin(found.event_of, close[close >= 0]))
            ids, labels, before = ids[rows], labels[rows], before[rows]
        pinned = _at_rows(ids, self.catalog.event_pins())
        heir = continuing(labels, before, skip=pinned)
        with self.catalog.transaction():
            for label in sorted(set(labels.tolist()) - {-1} - set(heir)):
                heir[label] = self.catalog.add_event().id
            new = np.array([heir.get(int(label), -1) for label in labels], dtype=np.int64)
            for row, event in pinned.items():
                new[row] = event
            for at, event in _at_rows(ids, self.catalog.event_exclusions()).items():
                if new[at] == event:
                    new[at] = -1
            self.catalog.set_content_events(
                (int(content), None if event < 0 else int(event))
                for content, event, old in zip(ids, new, before, strict=True)
                if event != old
            )
            if near is None:
                gone = {e.id for e in self.catalog.events()} - set(new.tolist())
            else:  # of the events these photos were in, those left empty
                gone = set(before.tolist()) - set(new.tolist()) - {-1}
                gone -= self.catalog.events_in_use(gone)
            self.catalog.drop_events(gone)  # but those the user named or hid
            grouping = self.catalog.count_up(GROUPING_KEY)
        placing = _placing(found, labels, new)
        if near is None or self._events is None:
            self._events, self.stale = placing, None
        else:
            changed = (set(before.tolist()) | set(new.tolist())) - {-1}
            others = [(e, summary) for e, summary in self._events if e not in changed]
            self._events = sorted(others + placing, key=lambda event: event[1].start)
            self.note(changed)
        self._grouping = grouping
        self._unplaced = []
        dated = int(np.sum(~np.isnan(taken)))
        log.info("grouped %d dated photos into %d events%s", dated, len(placing),
                 "" if near is None else " around new photos")  # fmt: skip

    def _gestured(self) -> None:
        """The user changed events in the tree: group afresh before placing an arrival."""
        self._events = None

    def prepare(self) -> bool:
        """Group the events once in this process, ahead of the first arrival, which would
        otherwise wait for it (a look at every dated photo), and name them (once per library:
        names are kept). Returns whether it did."""
        if self._current() is not None:
            return False
        self.regroup()
        self.shown()
        return True

    def _current(self) -> list[tuple[int, segment.Event]] | None:
        """The events as this process grouped them, while they are the catalog's; None when
        it has not grouped yet, or another (a recluster's) grouped since."""
        if self.catalog.meta(GROUPING_KEY) != self._grouping:
            return None
        return self._events

    def file(self, content_ids: Collection[int]) -> None:
        """Put new photos into the events their time and place belong to; group afresh when
        this process has not grouped yet, or when enough joined none to make an event."""
        if not content_ids:
            return
        events = self._current()
        if events is None:
            self.regroup()
            return
        ids, taken, lat, lon, _ = self._rows(content_ids)
        summaries = [event for _, event in events]
        placed: list[tuple[int, int | None]] = []
        for row in range(len(ids)):
            index = segment.place(float(taken[row]), float(lat[row]), float(lon[row]), summaries)
            if index is None:
                if not math.isnan(taken[row]):
                    self._unplaced.append(float(taken[row]))
                continue
            placed.append((int(ids[row]), events[index][0]))
        with self.catalog.transaction():
            self.catalog.set_content_events(placed)
        self.note({event for _, event in placed if event is not None})
        if len(self._unplaced) >= self.config.min_photos:
            self.regroup(near=(min(self._unplaced), max(self._unplaced)))

    # names and the tree

    def shown(self) -> list[tuple[EventRecord, str, Span]]:
        """The events with a folder (min_photos), in time order, with their folders' names
        (the user's name, else place and dates; a name two events would share gets `(2)`)
        and their spans (first and last photo's time, photos)."""
        spans = self._spans()
        events = [e for e in self.catalog.events() if e.id in spans and self._has_folder(e, spans)]
        used: set[str] = set()
        shown = []
        named: dict[int, tuple[str, str]] = {}
        for record in sorted(events, key=lambda e: (e.name is None, e.number)):
            title = record.name or self._auto_name(record, spans[record.id], named)
            unique, n = title, 1
            while unique.casefold() in used:
                n += 1
                unique = f"{title} ({n})"
            used.add(unique.casefold())
            shown.append((record, unique, spans[record.id]))
        self._keep_names(named)
        return sorted(shown, key=lambda event: event[2][0])

    def _spans(self) -> dict[int, Span]:
        """Every event's span (first and last photo's time, photos), read whole unless this
        process's grouping is the catalog's (PerGroup)."""
        if self._current() is None:
            self._span_figures.forget()
        return self._span_figures.get(self.compared, self.catalog.event_spans)

    def _has_folder(self, event: EventRecord, spans: Mapping[int, Span]) -> bool:
        """Not hidden, and of min_photos photos or named by the user (or made: any size)."""
        big = spans[event.id][2] >= self.config.min_photos
        return not event.hidden and (big or event.name is not None)

    def _auto_name(self, event: EventRecord, span: Span, named: dict[int, tuple[str, str]]) -> str:
        """Place and dates, worked out again only when the event's span changed: kept in the
        catalog with the span it was made for (names made now are added to `named`)."""
        key = f"{NAMING}: {span[0]!r} {span[1]!r} {span[2]}"
        if event.auto_name is not None and event.auto_span == key:
            return event.auto_name
        lat, lon = self.catalog.event_places(event.id)
        place = places.place_name(lat, lon) if len(lat) else None
        named[event.id] = (event_name(span[0], span[1], place), key)
        return named[event.id][0]

    def _keep_names(self, named: Mapping[int, tuple[str, str]]) -> None:
        """Automatic names kept for later writes and processes; not where the catalog can't
        be written now (they are made again)."""
        if not named or self.catalog.db.in_transaction:
            return
        try:
            with self.catalog.transaction():
                self.catalog.keep_event_names(named)
        except sqlite3.Error as error:
            log.info("event names not kept (%s); they are made again next time", error)

    def groups(self) -> list[tuple[int, Album]]:
        """The events, each in the folder of its year (a group of no photos, id -year)."""
        events = [(e, title, year_of(span[0])) for e, title, span in self.shown()]
        years = sorted({year for _, _, year in events})
        folders = [(-year, Album(YEAR_NUMBERS + year, str(year), (), str(year))) for year in years]
        return folders + [
            (e.id, Album(e.number, title, (), title, YEAR_NUMBERS + year))
            for e, title, year in events
        ]

    def photos(self, group_ids: Collection[int]) -> dict[int, list[Row]]:
        events = [g for g in group_ids if g >= 0]
        found = {e: absolute(rows) for e, rows in self.catalog.event_rows(events).items()}
        return {**{g: [] for g in group_ids if g < 0}, **found}  # a year's folder: events only

    def rename(self, event: str, name: str) -> EventRecord:
        """Name an event for good (by its folder or number); the folder follows."""
        name = name.strip()
        titles = {record.id: title for record, title, _ in self.shown()}
        for record in self.catalog.events():
            if event in (titles.get(record.id), str(record.number)):
                if not name or "/" in name or name.startswith("."):
                    raise AutoalbumError(f"can't name an event {name!r}: give a name without '/'")
                with self.catalog.transaction():
                    self.catalog.name_event(record.id, name)
                return record
        raise AutoalbumError(f"no event {printable(event)}; `autoalbum events` lists them")

    def forget(self) -> None:
        """Events off: no event is kept, and the Events tree goes (when and where photos were
        taken stays: it is the photos' own)."""
        if not self.tree_exists and not self.catalog.events():
            return
        with self.catalog.transaction():
            self.catalog.forget_events()
        self.remove_tree()
        self._events = None


def _at_rows(ids: NDArray[np.int64], by_content: Iterable[tuple[int, int]] | Mapping[int, int]
             ) -> dict[int, int]:  # fmt: skip
    """(content id, event) pairs as {row in `ids` (sorted): event}, for the contents in it."""
    pairs = list(by_content.items() if isinstance(by_content, Mapping) else by_content)
    if not pairs:
        return {}
    contents = np.array([content for content, _ in pairs], dtype=np.int64)
    rows = np.minimum(np.searchsorted(ids, contents), max(len(ids) - 1, 0))
    found = (ids[rows] == contents) if len(ids) else np.zeros(len(pairs), dtype=np.bool_)
    return {int(row): event for row, hit, (_, event) in zip(rows, found, pairs, strict=True) if hit}


def _placing(
    found: segment.Segmentation, labels: NDArray[np.int64], events: NDArray[np.int64]
) -> list[tuple[int, segment.Event]]:
    """Where arrivals go: each event of the grouping (label >= 0) as the event (id) most of its
    photos are in now, in time order. Photos the user put elsewhere leave the grouping's spans
    as they were, so an arrival joins the photos taken around it."""
    inside = (labels >= 0) & (events >= 0)
    width = int(events.max()) + 1 if inside.any() else 1
    keys, counts = np.unique(labels[inside] * width + events[inside], return_counts=True)
    keys = keys[np.lexsort((-counts, keys // width))]  # by label, its biggest share first
    best = keys[np.flatnonzero(np.diff(keys // width, prepend=-1))]
    placing = [(int(key % width), found.events[int(key // width)]) for key in best.tolist()]
    return sorted(placing, key=lambda event: event[1].start)
