"""Events from when and where photos were taken: adaptive time gaps, place jumps, home and away.

Photos are sorted by time (local wall-clock, as cameras write it); each gap between two in a row
may end an event. First each geotagged photo is at HOME, AWAY or UNKNOWN: home is wherever
(cubes of 10 km and their neighbours) photos were taken on a quarter or more of the days with
geotags within a year either side, so a move of house moves it; a photo without GPS is where the
nearest geotagged photo within 12 h is, else UNKNOWN. Then a gap ends an event when it is 3 days
or more; between two AWAY photos (a trip) only when 48 h or more, so nights away keep a trip
whole, and so within a run of 3 or more busy days in a row (each with twice the photos of a
typical day, the median of the days with photos within a year) where nothing says where the
photos were: a trip shot without GPS, as far as time can tell; otherwise when 6 h or more (a
night at home), or 30 min or more on leaving or coming home or a jump of 50 km; and, at home or
unknown, PhotoTOC's adaptive rule (Platt et al. 2003): the gap's log (+60 s, so bursts don't
lower the bar) exceeds the mean log of the 5 gaps either side by log 8, the gap itself left out,
neighbours taken only up to the sure ends above, and the gap at least an hour. Each rule looks a
bounded way back and forth in time (a year for home, 3 days or 5 photos for gaps), so photos
added far in time change no event.

Measured on synthetic libraries with true occasions (bench/events.py, 500, 5,000 and 50,000
photos, seeds 0-2; bench/events_synthetic.py): homogeneity 0.954/0.993/0.996, completeness
0.933/0.985/0.986; 82-91% of true occasions of 6 photos or more found as one folder, against
23-30% for LibrePhotos' 36 h gap, about 50% for a calendar day and 58-64% for PhotoTOC alone (it
shreds trips and outings: completeness 0.75-0.87). The rule's adaptive part beats a fixed hour
at home (found 0.903 against 0.875 at 5,000 photos): a walk with a photo every half hour keeps
its 100-minute pauses while two outings 90 minutes apart split. Trips found whole: 83%, 93%, 84%
(83%, 87%, 83% without the busy-days rule); those lost are mostly trips shot without any GPS on
few or quiet days (they split by day, as at home) and a day trip the day before a trip (one
event). The busy-days rule changes no figure of a library without any GPS by more than 0.01 but
trips (0.00 -> 0.10 at 5,000 photos); two busy days in a row instead of three find trips 0.97 /
0.87 but mix home days of such a library (homogeneity 0.979, found 0.777). 1% of photos held out
and placed one by one join the event re-segmenting would give them 98-100% of the time;
re-segmenting with them moves 0-30 of 50,000 photos, and adding a library three years later
moves none. 100,000 photos: 0.13 s.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

HOUR = 3600.0
DAY = 86400.0
MONTH_DAYS = 30
EARTH_KM = 6371.0
MIN_PHOTOS = 6  # smaller events are no folder: their photos stay out of the Events tree

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Flags = NDArray[np.bool_]

HOME, AWAY, UNKNOWN = 0, 1, 2  # where a photo was taken, as far as its geotags (or near ones) say


@dataclass(frozen=True)
class Rules:
    """The segmentation's constants, each moved alone in bench/events.py --sweep.

    Occasions found at 5,000 / 50,000 photos (trips for busy): excess log 8 0.903/0.891, log
    4 0.882/0.873, PhotoTOC's log 17 0.876/0.849 (and 6-8% of folders mixed, against 3%);
    min gap 1 h best, 30 min 0.849/0.854 (walks split), 2 h 0.820/0.792 (outings merge);
    trip gap 48 h keeps 0.866/0.831 of trips whole, 36 h 0.769/0.773, longer gains nothing;
    cells of 5 km split home (0.870/0.864); a home share of 0.1 takes a 2-month library's
    trip for home (trips 0.5 at 500 photos). Window 3-20, offset 1-60 s, day gap 4-12 h,
    fill 2-12 h, cells 10-20 km, home share 0.25-0.4 move found by under 0.01. Hard gap,
    jump gap and distance and home days change nothing on these libraries: set by reason (a
    drive, a town away, a year of life). Busy (3 days in a row) 1.5 keeps trips 0.930/0.865
    whole, 2 0.930/0.844, 3 0.866/0.838, off 0.866/0.831.
    """

    window: int = 5  # gaps either side in the adaptive neighbourhood (PhotoTOC's d, 10 there)
    excess: float = math.log(8)  # log-gap over its neighbours' mean log-gap that ends an event
    offset_s: float = 60.0  # added to every gap before the log: bursts don't lower the bar
    min_gap_s: float = HOUR  # a shorter gap never ends an event
    day_gap_s: float = 6 * HOUR  # at home (or unknown), a gap this long always ends one: a night
    trip_gap_s: float = 48 * HOUR  # away from home, a gap this long ends the trip
    hard_gap_s: float = 3 * DAY  # any gap this long ends an event, and bounds neighbourhoods
    jump_gap_s: float = 0.5 * HOUR  # leaving or coming home, or a jump: this long ends an event
    jump_km: float = 50.0  # consecutive photos this far apart jumped (unless both are away)
    cell_km: float = 10.0  # home is judged on cubes this wide and their neighbours
    home_days: int = 365  # home is judged on the days this near (either side)
    home_share: float = 0.25  # home: near it on this share of the days with geotags
    home_min_days: int = 5  # fewer days with geotags near in time: home or away is unknown
    fill_s: float = 12 * HOUR  # a photo without GPS is where the nearest geotagged one this near is
    join_home_s: float = HOUR  # an arrival this near an event at home joins it
    join_away_s: float = 12 * HOUR  # an arrival this near a trip away joins it
    join_km: float = 25.0  # ... when this near its photos' places (or either has no GPS)
    busy: float = 2.0  # a day with this many times the photos of a typical day is busy
    busy_days: int = 3  # busy days in a row, without GPS, that are taken as a trip


RULES = Rules()


@dataclass(frozen=True)
class Event:
    """One event: its photos' time span, count and, when any is geotagged, where."""

    start: float
    end: float
    size: int
    latitude: float  # median of its geotagged photos; NaN when none is
    longitude: float
    radius_km: float  # farthest geotagged photo from (latitude, longitude); 0 when none
    away: bool  # most of its located photos were taken away from home


@dataclass(frozen=True)
class Segmentation:
    """Events in time order and, per photo, the index of its event (-1: the photo has no time)."""

    events: tuple[Event, ...]
    event_of: Ints

    def labels(self, min_photos: int = MIN_PHOTOS) -> Ints:
        """Per photo its event's index, or -1 without time or in an event under min_photos."""
        sizes = np.array([e.size for e in self.events] + [0], dtype=np.int64)  # [-1]: no time
        return np.where(sizes[self.event_of] >= min_photos, self.event_of, -1)


def segment(
    times: Floats,
    latitude: Floats | None = None,
    longitude: Floats | None = None,
    rules: Rules = RULES,
) -> Segmentation:
    """Events of photos taken at times (local wall-clock seconds, NaN: unknown) and places."""
    times = np.asarray(times, dtype=np.float64)
    lat = _or_nan(latitude, len(times))
    lon = _or_nan(longitude, len(times))
    timed = np.flatnonzero(~np.isnan(times))
    order = timed[np.argsort(times[timed], kind="stable")]
    t, la, lo = times[order], lat[order], lon[order]
    status, pla, plo = _where(t, la, lo, rules)
    ends = _boundaries(t, status, pla, plo, rules)
    sorted_event = np.concatenate(([0], np.cumsum(ends)))[: len(t)].astype(np.int64)
    event_of = np.full(len(times), -1, dtype=np.int64)
    event_of[order] = sorted_event
    return Segmentation(_summaries(t, la, lo, status, sorted_event), event_of)


def place(
    time: float,
    latitude: float,
    longitude: float,
    events: Sequence[Event],
    rules: Rules = RULES,
) -> int | None:
    """The index in events (time order) of the event a new photo joins, or None: it starts one.

    None too for a photo without time. An old photo is matched against the events of its own
    time only, so it joins its old event or starts one, never the newest.
    """
    if math.isnan(time):
        return None
    after = bisect.bisect_right(events, time, key=lambda e: e.start)
    best: tuple[float, int] | None = None
    for index in (after - 1, after):
        if 0 <= index < len(events) and _joins(time, latitude, longitude, events[index], rules):
            apart = max(events[index].start - time, time - events[index].end, 0.0)
            best = min(best, (apart, index)) if best else (apart, index)
    return None if best is None else best[1]


def _joins(time: float, lat: float, lon: float, event: Event, rules: Rules) -> bool:
    """Whether a photo's time and place fall within the event's reach."""
    reach = rules.join_away_s if event.away else rules.join_home_s
    if not event.start - reach <= time <= event.end + reach:
        return False
    if math.isnan(lat) or math.isnan(event.latitude):
        return True
    apart = float(_km(np.array([lat]), np.array([lon]), event.latitude, event.longitude)[0])
    return apart <= event.radius_km + rules.join_km


def _or_nan(values: Floats | None, n: int) -> Floats:
    """The array as float64, or all NaN when absent."""
    if values is None:
        return np.full(n, np.nan)
    return np.asarray(values, dtype=np.float64)


def _km(lat1: Floats, lon1: Floats, lat2: Floats | float, lon2: Floats | float) -> Floats:
    """Great-circle distances in km (haversine)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def _where(t: Floats, lat: Floats, lon: Floats, rules: Rules) -> tuple[Ints, Floats, Floats]:
    """Per time-sorted photo: HOME, AWAY or UNKNOWN, and its place (or the nearest one's)."""
    located = np.flatnonzero(~np.isnan(lat) & ~np.isnan(lon))
    status = np.full(len(t), UNKNOWN, dtype=np.int64)
    if len(located) == 0:
        return status, lat.copy(), lon.copy()
    status[located] = _home_or_away(t[located], lat[located], lon[located], rules)
    nearest = _nearest(t, t[located], rules.fill_s)
    known = nearest >= 0
    source = located[nearest[known]]
    status[known], lat, lon = status[source], lat.copy(), lon.copy()
    lat[known], lon[known] = lat[source], lon[source]
    return status, lat, lon


def _nearest(t: Floats, located_t: Floats, reach: float) -> Ints:
    """Per time, the index of the nearest located time within reach (earlier on ties), or -1."""
    right = np.clip(np.searchsorted(located_t, t, side="left"), 1, len(located_t) - 1)
    left = right - 1
    if len(located_t) == 1:
        right = left = np.zeros(len(t), dtype=np.int64)
    to_left, to_right = np.abs(t - located_t[left]), np.abs(located_t[right] - t)
    best = np.where(to_right < to_left, right, left)
    return np.where(np.minimum(to_left, to_right) <= reach, best, -1).astype(np.int64)


def _home_or_away(t: Floats, lat: Floats, lon: Floats, rules: Rules) -> Ints:
    """Per geotagged photo: HOME when most days around its day have photos near its place.

    Each day and place go into a cube of cell_km on the earth; a photo is at home when the 27
    cubes around its own had photos on home_share of the days with geotags within home_days,
    UNKNOWN when fewer than home_min_days such days tell, else AWAY. Only days near in time
    count, so a move of house moves home and photos far in time change nothing.
    """
    w = rules.home_days
    day = np.floor(t / DAY).astype(np.int64)
    day -= day.min() - w
    span = int(day.max()) + w + 1
    cube, steps = _cubes(lat, lon, rules.cell_km)
    key = cube * span + day  # one number per cube and day; a cube's days lie within its span
    own = np.unique(key)
    near = np.unique((own[:, None] + steps[None, :] * span).ravel())
    days_near = np.searchsorted(near, key + w, "right") - np.searchsorted(near, key - w)
    days = np.unique(day)
    all_days = np.searchsorted(days, day + w, "right") - np.searchsorted(days, day - w)
    home = np.where(days_near >= rules.home_share * all_days, HOME, AWAY)
    return np.where(all_days >= rules.home_min_days, home, UNKNOWN).astype(np.int64)


def _cubes(lat: Floats, lon: Floats, cell_km: float) -> tuple[Ints, Ints]:
    """Each place's cube key on a grid of cell_km through the earth, and the 27 neighbour steps."""
    p, la = np.radians(lat), np.radians(lon)
    xyz = np.stack([np.cos(p) * np.cos(la), np.cos(p) * np.sin(la), np.sin(p)], axis=1)
    half = math.ceil(EARTH_KM / cell_km) + 2
    base = 2 * half + 1
    cells = np.floor(xyz * EARTH_KM / cell_km).astype(np.int64) + half
    weights = np.array([base * base, base, 1], dtype=np.int64)
    offsets = np.array([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
    return cells @ weights, (offsets @ weights).astype(np.int64)


def _boundaries(t: Floats, status: Ints, lat: Floats, lon: Floats, rules: Rules) -> Flags:
    """Per gap between consecutive photos, whether it ends an event."""
    gap = np.diff(t)
    before, after = status[:-1], status[1:]
    trip = ((before == AWAY) & (after == AWAY)) | _busy_run(t, status, rules)
    moved = (before != after) & (before != UNKNOWN) & (after != UNKNOWN)
    far = _km(lat[:-1], lon[:-1], lat[1:], lon[1:]) >= rules.jump_km
    sure = (
        (gap >= rules.hard_gap_s)
        | (trip & (gap >= rules.trip_gap_s))
        | (~trip & (gap >= rules.day_gap_s))
        | ((moved | (far & ~trip)) & (gap >= rules.jump_gap_s))
    )
    return np.asarray(sure | (~trip & _adaptive(gap, sure, rules)))


def _busy_run(t: Floats, status: Ints, rules: Rules) -> Flags:
    """Per gap, whether it lies within a run of consecutive busy days where nothing says where
    the photos were taken: a trip shot without GPS, as far as time tells."""
    if len(t) < 2:
        return np.zeros(max(len(t) - 1, 0), dtype=np.bool_)
    day = np.floor(t / DAY).astype(np.int64)
    days, index, counts = np.unique(day, return_inverse=True, return_counts=True)
    # A typical day's photos: the median over the days with photos within home_days, taken
    # per month (the window moves by a twentieth at most within one), not per day.
    months, month_of = np.unique(days // MONTH_DAYS, return_inverse=True)
    centre = months * MONTH_DAYS + MONTH_DAYS // 2
    low = np.searchsorted(days, centre - rules.home_days)
    high = np.searchsorted(days, centre + rules.home_days, "right")
    typical = np.array([np.median(counts[a:b]) for a, b in zip(low, high, strict=True)])
    busy = counts >= rules.busy * typical[month_of]
    # runs of busy days one after another
    joined = busy[:-1] & busy[1:] & (np.diff(days) == 1)
    run = np.concatenate(([0], np.cumsum(~joined)))
    size = np.bincount(run)
    in_run = busy & (size[run] >= rules.busy_days)
    unknown = status == UNKNOWN
    same_run = run[index[:-1]] == run[index[1:]]
    inside = in_run[index[:-1]] & in_run[index[1:]] & same_run
    return np.asarray(inside & unknown[:-1] & unknown[1:])


def _adaptive(gap: Floats, sure: Flags, rules: Rules) -> Flags:
    """Gaps whose log stands out from their neighbours' within the stretch between sure ends.

    PhotoTOC's rule, with the gap itself left out of its neighbours' mean and neighbourhoods cut
    at sure ends, so a night or a trip beside a day doesn't raise its bar.
    """
    n = len(gap)
    if n == 0:
        return np.zeros(0, dtype=np.bool_)
    index = np.arange(n)
    last_sure = np.maximum.accumulate(np.where(sure, index, -1))
    next_sure = np.minimum.accumulate(np.where(sure, index, n)[::-1])[::-1]
    low = np.maximum(index - rules.window, last_sure + 1)
    high = np.minimum(index + rules.window, next_sure - 1)
    logs = np.log(gap + rules.offset_s)
    sums = np.concatenate(([0.0], np.cumsum(logs)))
    others = high - low
    mean = (sums[high + 1] - sums[low] - logs) / np.maximum(others, 1)
    return np.asarray(
        ~sure & (others >= 1) & (gap >= rules.min_gap_s) & (logs - mean >= rules.excess)
    )


def _summaries(t: Floats, lat: Floats, lon: Floats, status: Ints, event: Ints) -> tuple[Event, ...]:
    """Each event's span, size, place and whether it was away (photos sorted by time)."""
    if len(event) == 0:
        return ()
    count = int(event[-1]) + 1
    starts = np.flatnonzero(np.diff(event, prepend=-1))
    sizes = np.bincount(event, minlength=count)
    located = ~np.isnan(lat) & ~np.isnan(lon)
    where = event[located]
    mid_lat = _medians(where, lat[located], count)
    mid_lon = _medians(where, lon[located], count)
    radius = np.zeros(count)
    far = _km(lat[located], lon[located], mid_lat[where], mid_lon[where])
    np.maximum.at(radius, where, far)
    away = np.bincount(event, status == AWAY, count) > np.bincount(event, status == HOME, count)
    return tuple(
        Event(*values)
        for values in zip(
            t[starts].tolist(),
            t[starts + sizes - 1].tolist(),
            sizes.tolist(),
            mid_lat.tolist(),
            mid_lon.tolist(),
            radius.tolist(),
            away.tolist(),
            strict=True,
        )
    )


def _medians(group: Ints, values: Floats, count: int) -> Floats:
    """The median of the values in each of count groups; NaN for a group without any."""
    ordered = values[np.lexsort((values, group))]
    sizes = np.bincount(group, minlength=count)
    first = np.cumsum(sizes) - sizes
    some = sizes > 0
    low = ordered[(first + (sizes - 1) // 2)[some]]
    high = ordered[(first + sizes // 2)[some]]
    medians = np.full(count, np.nan)
    medians[some] = (low + high) / 2
    return medians
