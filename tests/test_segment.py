"""Events from photo times and places: autoalbum.events.segment on built and synthetic libraries."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import astuple
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import completeness_score, homogeneity_score, v_measure_score

from autoalbum.events.segment import DAY, HOUR, Segmentation, place, segment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from events_synthetic import synthetic_library

MIDNIGHT = 1_704_067_200.0  # 2024-01-01 00:00, local wall-clock time
YEAR = 365.25 * DAY
HOME = (53.48, -2.24)  # Manchester
KESWICK = (54.60, -3.13)  # 140 km away
LEEDS = (53.80, -1.55)  # 55 km away


class Shoot:
    """A library built photo by photo: times, places (NaN: none) and index ranges."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lat: list[float] = []
        self.lon: list[float] = []

    def add(
        self,
        start: float,
        gaps: list[float] | float,
        count: int,
        where: tuple[float, float] | None = HOME,
    ) -> NDArray[np.int64]:
        """count photos from start, gaps seconds apart (a list: each gap); their indices."""
        steps = gaps if isinstance(gaps, list) else [gaps] * (count - 1)
        times = start + np.concatenate(([0.0], np.cumsum(steps)))[:count]
        first = len(self.times)
        self.times.extend(times.tolist())
        self.lat.extend([where[0] if where else math.nan] * count)
        self.lon.extend([where[1] if where else math.nan] * count)
        return np.arange(first, first + count)

    def home_days(self, first: int, last: int, count: int = 8) -> list[NDArray[np.int64]]:
        """An evening outing at home on each day from first to last (days after MIDNIGHT)."""
        return [self.add(MIDNIGHT + d * DAY + 18 * HOUR, 240, count) for d in range(first, last)]

    def segment(self) -> Segmentation:
        """The library's events."""
        return segment(np.array(self.times), np.array(self.lat), np.array(self.lon))


def one_event(seg: Segmentation, photos: NDArray[np.int64]) -> int:
    """The event holding all these photos; fails when they are split."""
    events = np.unique(seg.event_of[photos])
    assert len(events) == 1, f"split into {len(events)} events"
    return int(events[0])


def alone(seg: Segmentation, photos: NDArray[np.int64]) -> None:
    """The photos are one event, and nothing else is in it."""
    event = one_event(seg, photos)
    assert np.sum(seg.event_of == event) == len(photos)


def trip_library() -> tuple[Shoot, NDArray[np.int64], list[NDArray[np.int64]]]:
    """60 days at home, a morning at home, then three days in Keswick, then 30 days at home."""
    shoot = Shoot()
    before = shoot.home_days(0, 60)
    morning = shoot.add(MIDNIGHT + 60 * DAY + 8 * HOUR, 120, 6)
    trip = [
        shoot.add(MIDNIGHT + d * DAY + h * HOUR, 300, 10, KESWICK)
        for d in (60, 61, 62)
        for h in (13, 17)
    ]
    after = shoot.home_days(63, 93)
    return shoot, np.concatenate(trip), [*before, morning, *after]


def test_adaptive_gap_splits_two_outings_of_a_day_but_not_a_burst_or_a_walk() -> None:
    shoot = Shoot()
    morning = shoot.add(MIDNIGHT + 10 * HOUR, [200.0] * 5 + [1.0] * 20 + [200.0] * 6, 32, None)
    noon = shoot.add(MIDNIGHT + 10 * HOUR + 90 * 60 + 3000, 180, 10, None)
    walk_gaps = [2100.0, 1900.0, 2200.0, 6000.0, 2000.0, 2300.0, 1800.0]
    walk = shoot.add(MIDNIGHT + DAY + 9 * HOUR, walk_gaps, 8, None)
    moments = shoot.add(MIDNIGHT + 2 * DAY + 9 * HOUR, ([10.0] * 4 + [1500.0]) * 3, 15, None)
    seg = shoot.segment()
    alone(seg, morning)  # the burst, 1 s gaps among 200 s ones, ends nothing
    alone(seg, noon)  # 90 minutes after photos minutes apart: another outing
    alone(seg, walk)  # 100 minutes among gaps of half an hour: the same walk
    alone(seg, moments)  # 25 minutes between moments: too short to end anything


def test_a_place_jump_ends_an_event_sooner_than_time_alone() -> None:
    shoot = Shoot()
    shoot.home_days(0, 30)
    home = shoot.add(MIDNIGHT + 40 * DAY + 9 * HOUR, 600, 7)
    leeds = shoot.add(MIDNIGHT + 40 * DAY + 10 * HOUR + 40 * 60, 600, 7, LEEDS)
    seg = shoot.segment()
    alone(seg, home)
    alone(seg, leeds)
    one_event(segment(np.array(shoot.times)), np.concatenate([home, leeds]))


def test_three_day_trip_away_from_home_is_one_event() -> None:
    shoot, trip, home = trip_library()
    seg = shoot.segment()
    alone(seg, trip)
    assert seg.events[one_event(seg, trip)].away
    for day in home:
        alone(seg, day)
        assert not seg.events[one_event(seg, day)].away


def test_a_long_stay_at_home_is_an_event_a_day() -> None:
    shoot = Shoot()
    days = [shoot.add(MIDNIGHT + d * DAY + 8 * HOUR, 2 * HOUR, 8) for d in range(30)]
    for seg in (shoot.segment(), segment(np.array(shoot.times))):
        for day in days:
            alone(seg, day)


def test_a_busy_trip_without_gps_is_one_event_and_busy_days_at_home_are_not() -> None:
    """Four days of 40 photos without GPS among home days of 8: one event, a trip as far as
    time can tell; two such days in a row (a weekend's parties) stay two."""
    shoot = Shoot()
    before = shoot.home_days(0, 40, count=8)
    trip = np.concatenate([
        shoot.add(MIDNIGHT + d * DAY + 9 * HOUR, 15 * 60, 40, where=None) for d in range(45, 49)
    ])  # fmt: skip
    after = shoot.home_days(52, 90, count=8)
    weekend = [shoot.add(MIDNIGHT + d * DAY + 14 * HOUR, 8 * 60, 40, where=None) for d in (95, 96)]
    shoot.home_days(100, 140, count=8)
    for seg in (shoot.segment(), segment(np.array(shoot.times))):
        alone(seg, trip)
        for day in before + after + weekend:
            alone(seg, day)


def test_photos_without_gps_join_by_time_and_the_nearest_geotags() -> None:
    shoot, trip, home = trip_library()
    lost = trip[::2]
    for i in lost:
        shoot.lat[i] = shoot.lon[i] = math.nan
    seg = shoot.segment()
    alone(seg, trip)
    assert not np.isnan(seg.events[one_event(seg, trip)].latitude)
    for day in home:
        alone(seg, day)


def test_photos_without_time_get_no_event_and_change_nothing() -> None:
    shoot, _, _ = trip_library()
    plain = shoot.segment()
    timeless = shoot.add(math.nan, 0, 5)
    seg = shoot.segment()
    assert (seg.event_of[timeless] == -1).all()
    assert (seg.labels()[timeless] == -1).all()
    np.testing.assert_array_equal(seg.event_of[: len(plain.event_of)], plain.event_of)


def test_a_camera_clock_years_off_makes_an_event_where_its_tags_say() -> None:
    shoot, trip, _ = trip_library()
    wrong = shoot.add(MIDNIGHT + 61 * DAY + 14 * HOUR - 5 * YEAR, 400, 12, KESWICK)
    seg = shoot.segment()
    alone(seg, trip)
    alone(seg, wrong)
    event = seg.events[one_event(seg, wrong)]
    assert event.start == min(shoot.times[i] for i in wrong)
    assert event.end < MIDNIGHT - 4 * YEAR


def test_an_old_photo_joins_its_old_event_or_starts_one_never_the_newest() -> None:
    shoot, trip, home = trip_library()
    seg = shoot.segment()
    tenth = one_event(seg, home[10])
    assert place(MIDNIGHT + 10 * DAY + 18 * HOUR + 600, *HOME, seg.events) == tenth
    assert place(MIDNIGHT + 10 * DAY + 18 * HOUR + 600, math.nan, math.nan, seg.events) == tenth
    assert place(MIDNIGHT + 61 * DAY + 23 * HOUR, *KESWICK, seg.events) == one_event(seg, trip)
    assert place(MIDNIGHT + 10 * DAY + 18 * HOUR + 600, *LEEDS, seg.events) is None
    assert place(MIDNIGHT + 10 * DAY + 12 * HOUR, *HOME, seg.events) is None
    assert place(MIDNIGHT - 3 * YEAR, *HOME, seg.events) is None
    assert place(math.nan, *HOME, seg.events) is None


def test_events_under_min_photos_are_labelled_minus_one() -> None:
    shoot = Shoot()
    five = shoot.add(MIDNIGHT + 10 * HOUR, 60, 5)
    six = shoot.add(MIDNIGHT + DAY + 10 * HOUR, 60, 6)
    labels = shoot.segment().labels(min_photos=6)
    assert (labels[five] == -1).all()
    assert len(np.unique(labels[six])) == 1 and labels[six][0] >= 0


def test_segmentation_is_deterministic_and_ignores_input_order() -> None:
    library = synthetic_library(5_000, seed=1)
    first = segment(library.times, library.latitude, library.longitude)
    again = segment(library.times, library.latitude, library.longitude)
    np.testing.assert_array_equal(first.event_of, again.event_of)
    as_rows = [[np.array(astuple(e), dtype=float) for e in seg.events] for seg in (first, again)]
    np.testing.assert_array_equal(*as_rows)
    order = np.random.default_rng(0).permutation(len(library.times))
    shuffled = segment(library.times[order], library.latitude[order], library.longitude[order])
    np.testing.assert_array_equal(shuffled.event_of, first.event_of[order])


def test_photos_years_later_change_no_earlier_event() -> None:
    library = synthetic_library(5_000, seed=2)
    later = synthetic_library(2_000, seed=3)
    shift = np.nanmax(library.times) - np.nanmin(later.times) + 2 * YEAR
    alone_ = segment(library.times, library.latitude, library.longitude)
    joined = segment(
        np.concatenate([library.times, later.times + shift]),
        np.concatenate([library.latitude, later.latitude]),
        np.concatenate([library.longitude, later.longitude]),
    )
    np.testing.assert_array_equal(joined.event_of[: len(library.times)], alone_.event_of)


def test_synthetic_occasions_are_found_better_than_by_fixed_windows() -> None:
    library = synthetic_library(5_000, seed=0)
    timed = np.flatnonzero(~np.isnan(library.times))
    truth, times = library.occasion[timed], library.times[timed]
    ours = segment(library.times, library.latitude, library.longitude).event_of[timed]
    order = np.argsort(times)
    by_36_hours = np.empty(len(timed), dtype=np.int64)
    by_36_hours[order] = np.concatenate(([0], np.cumsum(np.diff(times[order]) > 36 * HOUR)))
    by_day = np.floor(times / DAY).astype(np.int64)
    assert homogeneity_score(truth, ours) > 0.98
    assert completeness_score(truth, ours) > 0.93
    for fixed in (by_36_hours, by_day):
        assert v_measure_score(truth, ours) > v_measure_score(truth, fixed) + 0.02


def test_a_large_library_is_segmented_in_bounded_time() -> None:
    library = synthetic_library(100_000, seed=0)
    start = time.perf_counter()
    seg = segment(library.times, library.latitude, library.longitude)
    took = time.perf_counter() - start
    assert took < 10, f"100,000 photos took {took:.1f} s"
    assert (seg.event_of >= 0).sum() == (~np.isnan(library.times)).sum()
    start = time.perf_counter()
    for i in range(1_000):
        place(library.times[i], library.latitude[i], library.longitude[i], seg.events)
    assert time.perf_counter() - start < 2
