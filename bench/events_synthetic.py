"""Synthetic photo libraries with their true occasions, as arrays: times, places, occasion labels.

A life at home: about 4 days in 10 with photos, 1-3 outings a day within 12 km of home, two
hours or so apart (20 minutes at least), each moments of photos seconds apart, or a walk of 1-5
hours with a photo every 20 minutes or so, or now and then a party into the night. Day trips
40-150 km away. Trips of 2-15 days every two months or so, 100-1500 km away, driving or flying,
to 1-3 towns 30-250 km apart, with days without photos among them. Bursts of 5-25 photos a
second apart. A move of house halfway through libraries of 20,000 photos or more. Each outing
at home, each day trip and each trip is one occasion. Then what real libraries hold beside:
cameras without GPS (whole occasions, or half the photos of some), photos without time (1%), a
camera whose clock was years behind (its photos are an occasion of their own, where their tags
put them: taken the day the tags say, without GPS) and scans of old prints, dated decades back,
without GPS, a batch per date.
Times are local wall-clock seconds as if UTC, as cameras write them. About 3,000 photos a year.

    library = synthetic_library(5_000, seed=0)

With `home` and `towns` (lat, lon), home is that place and each trip goes to one of the towns
(one town a trip), so that the names of a real tree can be checked; day trips stay random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

HOUR, DAY, YEAR = 3600.0, 86400.0, 365.25 * 86400.0
EPOCH = 1262304000.0  # 2010-01-01 00:00 local
EARTH_KM = 6371.0
KINDS = ("home", "day trip", "trip", "wrong clock", "scan")


@dataclass(frozen=True)
class Library:
    """Photos (in no order) and, per photo, its true occasion; kinds name each occasion's kind."""

    times: Floats
    latitude: Floats
    longitude: Floats
    occasion: Ints
    kinds: tuple[str, ...]


@dataclass
class _Photos:
    """Photos gathered so far, occasion by occasion."""

    rng: np.random.Generator
    towns: tuple[tuple[float, float], ...] = ()  # where trips go; () for anywhere
    parts: list[tuple[Floats, Floats, Floats]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, kind: str, times: Floats, places: Floats) -> None:
        """One occasion's photos (places as (n, 2) lat, lon), some of them without GPS."""
        lat, lon = places[:, 0].copy(), places[:, 1].copy()
        camera = self.rng.random()
        lost = 1.0 if camera < 0.12 else 0.4 if camera < 0.32 else 0.03
        gone = self.rng.random(len(times)) < lost
        lat[gone], lon[gone] = np.nan, np.nan
        self.parts.append((times, lat, lon))
        self.kinds.append(kind)
        self.count += len(times)


def synthetic_library(
    n: int,
    seed: int = 0,
    home: tuple[float, float] | None = None,
    towns: tuple[tuple[float, float], ...] = (),
) -> Library:
    """A library of exactly n photos, the same for the same n and seed (and home, towns)."""
    rng = np.random.default_rng(seed)
    scans = max(1, round(n * 0.015))
    photos = _Photos(rng, towns)
    _live(photos, n - scans, home)
    _wrong_clock(photos)
    _scans(photos, scans)
    return _assemble(photos, n)


def _live(photos: _Photos, n: int, at: tuple[float, float] | None) -> None:
    """Days at home, day trips and trips, until n photos are taken."""
    rng = photos.rng
    home = np.array(at or [rng.uniform(43.0, 58.0), rng.uniform(-5.0, 20.0)])
    day, next_trip, moved = 0, float(rng.exponential(40)), n < 20_000
    while photos.count < n:
        if not moved and photos.count >= n / 2:
            home, moved = _away_from(rng, home, 100, 500), True
        midnight = EPOCH + day * DAY
        if day >= next_trip:
            day += _trip(photos, home, midnight)
            next_trip = day + 7 + float(rng.exponential(50))
        elif rng.random() < 0.03:
            _day_trip(photos, home, midnight)
            day += 1
        else:
            if rng.random() < 0.4:
                _home_day(photos, home, midnight)
            day += 1


def _home_day(photos: _Photos, home: Floats, midnight: float) -> None:
    """1-3 outings near home, two hours or so apart: moments, a walk, a party into the night."""
    rng = photos.rng
    start = midnight + rng.uniform(8, 12) * HOUR
    for _ in range(1 + min(rng.poisson(0.6), 2)):
        if start > midnight + 22 * HOUR:
            break
        kind = rng.random()
        if kind < 0.08 and start > midnight + 16 * HOUR:
            length = rng.uniform(3, 6) * HOUR
            times = _moments(rng, start, length, int(rng.integers(20, 80)))
        elif kind < 0.3:
            times = _walk(rng, start, rng.uniform(1, 5) * HOUR)
        else:
            times = _moments(rng, start, _duration(rng), int(rng.geometric(1 / 6)))
        spot = _away_from(rng, home, 0, 12)
        photos.add("home", times, _around(rng, spot, len(times), 0.2 if kind >= 0.3 else 1.5))
        start = float(times[-1]) + _apart(rng)


def _walk(rng: np.random.Generator, start: float, length: float) -> Floats:
    """A walk of one photo every 20 minutes or so (at random): sparse, hour-long gaps at times."""
    steps = rng.exponential(20 * 60, int(length / 600) + 2)
    times = start + np.cumsum(steps)
    return np.asarray(times[times <= start + length] if times[1] <= start + length else times[:2])


def _apart(rng: np.random.Generator) -> float:
    """Time between two outings of a day: two hours typically, 20 minutes at least."""
    return float(max(20 * 60, rng.lognormal(math.log(2 * HOUR), 0.6)))


def _day_trip(photos: _Photos, home: Floats, midnight: float) -> None:
    """A day at a place 40-150 km away, a few stops there."""
    rng = photos.rng
    town = _away_from(rng, home, 40, 150)
    start = midnight + rng.uniform(9, 12) * HOUR
    times, places = _stops(rng, town, start, int(rng.integers(2, 4)))
    photos.add("day trip", times, places)


def _trip(photos: _Photos, home: Floats, midnight: float) -> int:
    """A trip of 2-15 days to 1-3 towns far from home; returns its length in days."""
    rng = photos.rng
    days = int(min(1 + rng.geometric(1 / 3), 15))
    if photos.towns:
        towns = [np.array(photos.towns[int(rng.integers(len(photos.towns)))])]
    else:
        towns = [_away_from(rng, home, 100, 1500)]
        for _ in range(int(rng.integers(0, 1 + min(days // 3, 2)))):
            towns.append(_away_from(rng, towns[-1], 30, 250))
    moves = set(rng.choice(np.arange(1, days), size=len(towns) - 1, replace=False).tolist())
    times, places = _travel(rng, home, towns[0], midnight + rng.uniform(8, 11) * HOUR)
    town = 0
    for day in range(days):
        morning = midnight + day * DAY + rng.uniform(8.5, 11) * HOUR
        if day in moves:
            leg = _travel(rng, towns[town], towns[town + 1], morning)
            times, places, town = np.append(times, leg[0]), np.vstack([places, leg[1]]), town + 1
            morning = float(leg[0][-1]) + HOUR if len(leg[0]) else morning + 4 * HOUR
        if day == 0 or rng.random() < 0.1:  # arrival day counted in the travel; lazy days
            continue
        stop = _stops(rng, towns[town], morning, int(rng.integers(1, 5)))
        times, places = np.append(times, stop[0]), np.vstack([places, stop[1]])
    back = _way(rng, towns[town], home, midnight + days * DAY + rng.uniform(9, 12) * HOUR)
    photos.add("trip", np.append(times, back[0]), np.vstack([places, back[1]]))
    return days + 1


def _travel(rng: np.random.Generator, a: Floats, b: Floats, start: float) -> tuple[Floats, Floats]:
    """Going from a to b, then a stop at b."""
    way_times, way, arrive = _way(rng, a, b, start)
    there = _stops(rng, b, arrive + rng.uniform(0.3, 1.5) * HOUR, 1)
    return np.append(way_times, there[0]), np.vstack([way, there[1]])


def _way(
    rng: np.random.Generator, a: Floats, b: Floats, start: float
) -> tuple[Floats, Floats, float]:
    """Photos on the way from a to b (by road: 0-3; flying: none), and the arrival time."""
    km = _distance(a, b)
    hours = km / 80 if km < 600 else rng.uniform(3, 6)
    stops = int(rng.integers(0, 4)) if km < 600 else 0
    share = np.sort(rng.random(stops))
    way = a[None, :] + share[:, None] * (b - a)[None, :]
    return start + share * hours * HOUR, way, start + hours * HOUR


def _stops(rng: np.random.Generator, town: Floats, start: float, n: int) -> tuple[Floats, Floats]:
    """n sightseeing stops within 8 km of a town, from start, an hour or so apart."""
    times, places = [], []
    for _ in range(n):
        length = _duration(rng)
        moments = _moments(rng, start, length, 3 + int(rng.geometric(1 / 8)))
        times.append(moments)
        places.append(_around(rng, _away_from(rng, town, 0, 8), len(moments), 0.3))
        start += length + rng.uniform(0.5, 2.5) * HOUR
    return np.concatenate(times), np.vstack(places)


def _duration(rng: np.random.Generator) -> float:
    """How long an outing lasts: 40 minutes typically, 3 minutes to 4 hours."""
    return float(np.clip(rng.lognormal(math.log(40 * 60), 0.8), 180, 4 * HOUR))


def _moments(rng: np.random.Generator, start: float, length: float, count: int) -> Floats:
    """Photo times over an outing: a few moments of photos seconds apart, a burst now and then."""
    moments = start + rng.random(max(1, round(count / 3))) * length
    times = rng.choice(moments, count) + rng.exponential(20.0, count)
    if rng.random() < 0.2:
        burst = start + rng.random() * length
        times = np.append(times, burst + np.cumsum(rng.uniform(0.3, 1.5, rng.integers(5, 26))))
    return np.sort(times)


def _around(rng: np.random.Generator, spot: Floats, n: int, km: float) -> Floats:
    """n places scattered by about km around a spot."""
    scale = km / 111.0
    jitter = rng.normal(0, scale, (n, 2)) / np.array([1.0, math.cos(math.radians(spot[0]))])
    return np.asarray(spot[None, :] + jitter)


def _away_from(rng: np.random.Generator, origin: Floats, low_km: float, high_km: float) -> Floats:
    """A place between low_km and high_km from origin, in any direction."""
    km, bearing = rng.uniform(low_km, high_km), rng.uniform(0, 2 * math.pi)
    north = km * math.cos(bearing) / 111.0
    east = km * math.sin(bearing) / (111.0 * math.cos(math.radians(origin[0])))
    return np.array([origin[0] + north, origin[1] + east])


def _distance(a: Floats, b: Floats) -> float:
    """Rough km between two places (equirectangular)."""
    north = (b[0] - a[0]) * 111.0
    east = (b[1] - a[1]) * 111.0 * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(north, east)


def _wrong_clock(photos: _Photos) -> None:
    """A second camera, its clock 3-8 years behind, on a trip per 20,000 photos (at least one)."""
    rng = photos.rng
    trips = [i for i, kind in enumerate(photos.kinds) if kind == "trip"]
    if not trips:
        return
    for index in rng.choice(trips, size=min(len(trips), 1 + photos.count // 20_000), replace=False):
        times, lat, lon = photos.parts[index]
        second = rng.random(len(times)) < 0.4
        photos.parts[index] = (times[~second], lat[~second], lon[~second])
        behind = rng.uniform(3, 8) * YEAR + rng.uniform(0, DAY)
        photos.parts.append((times[second] - behind, *np.full((2, int(second.sum())), np.nan)))
        photos.kinds.append("wrong clock")


def _scans(photos: _Photos, n: int) -> None:
    """n scanned prints in batches of 8-40, each dated a day 12-35 years back, without GPS."""
    rng = photos.rng
    left = n
    while left > 0:
        count = min(left, int(rng.integers(8, 41)))
        day = EPOCH - rng.uniform(12, 35) * YEAR
        midnight = day - day % DAY
        same = rng.random() < 0.5  # the scanning software wrote one time, or one a scan apart
        times = midnight + (np.zeros(count) if same else 12 * HOUR + 30.0 * np.arange(count))
        photos.parts.append((times, np.full(count, np.nan), np.full(count, np.nan)))
        photos.kinds.append("scan")
        left -= count


def _assemble(photos: _Photos, n: int) -> Library:
    """The library's n photos in random order, the newest cut to fit, 1% without time."""
    times = np.concatenate([part[0] for part in photos.parts])
    lat = np.concatenate([part[1] for part in photos.parts])
    lon = np.concatenate([part[2] for part in photos.parts])
    occasion = np.repeat(np.arange(len(photos.parts)), [len(part[0]) for part in photos.parts])
    keep = np.argsort(times, kind="stable")[:n]
    keep = keep[photos.rng.permutation(len(keep))]
    times = times[keep]
    times[photos.rng.random(len(times)) < 0.01] = np.nan
    used, occasion = np.unique(occasion[keep], return_inverse=True)
    kinds = tuple(photos.kinds[i] for i in used)
    return Library(times, lat[keep], lon[keep], occasion.astype(np.int64), kinds)
