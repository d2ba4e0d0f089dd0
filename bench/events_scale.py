"""Events in a big library: what a phone's sync of a new day costs the Events' grouping.

A catalog of N dated photos (bench/events_synthetic.py's times and places, written straight
into a real catalog's contents and files: no images, no vectors) is grouped whole once
(timeline.Timeline.regroup), as a recluster or the daemon's start does. Then a sync of 200
photos of a new day arrives in batches of 20, filed as the daemon files arrivals
(Timeline.file): the first batch makes no event yet, so the arrivals that joined none are
grouped. Today that groups only the events around them (`regroup(near=...)`); the baseline,
in the same run on a copy of the same catalog, groups every photo again, as before. Then the
Events tree's groups as a write asks for them (Timeline.groups): the first time (names made,
and kept in the catalog), and in a write that compares only the sync's event. And a check:
a whole regrouping after the sync moves no photo.

The People tree's groups likewise, with --faces: 4 faces in 10 photos, each in one of 3,000
persons (rows written straight into the catalog), its groups as a write asks for them when an
arrival changed one person, against counting every person's photos (the baseline).

    .venv/bin/python bench/events_scale.py [--sizes 100000,1000000] [--work /tmp/events-scale]
        [--faces]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from autoalbum.config import EventsConfig, PeopleConfig
from autoalbum.library.people import People
from autoalbum.library.stores import Stores
from autoalbum.library.timeline import Timeline
from events_synthetic import synthetic_library

SYNC, BATCH = 200, 20
PERSONS = 3_000


def add_photo(
    db: sqlite3.Connection, content: int, folder: str, taken: float, lat: float, lon: float
) -> None:
    """A live photo (content and file) taken at `taken` (NaN: undated), at (lat, lon)."""
    db.execute(
        "INSERT INTO contents (id, hash, taken, taken_from, latitude, longitude)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (content, f"{folder}{content}", None if np.isnan(taken) else float(taken),
         "none" if np.isnan(taken) else "exif",
         None if np.isnan(lat) else float(lat), None if np.isnan(lon) else float(lon)),
    )  # fmt: skip
    db.execute(
        "INSERT INTO files (path, size, mtime_ns, hash, status, content_id, updated_at)"
        " VALUES (?, 1, 1, ?, 'ok', ?, 0)",
        (f"/{folder}/{content}.jpg".encode(), f"{folder}{content}", content),
    )


def build(state: Path, n: int) -> None:
    """A catalog of n dated live photos in `state`, ids in time order."""
    state.mkdir(parents=True, exist_ok=True)
    library = synthetic_library(n, seed=0)
    order = np.argsort(library.times)
    stores = Stores(state, check=False)
    with stores.catalog.transaction():
        for row, index in enumerate(order.tolist(), start=1):
            where = library.latitude[index], library.longitude[index]
            add_photo(stores.catalog.db, row, "photos", library.times[index], *where)
    stores.close()


def sync(stores: Stores) -> list[int]:
    """SYNC photos of a new day, two days after the newest, a minute apart, at home."""
    db = stores.catalog.db
    newest = db.execute("SELECT MAX(taken), MAX(id) FROM contents").fetchone()
    start = (newest[0] // 86400 + 2) * 86400 + 10 * 3600
    ids = [newest[1] + 1 + i for i in range(SYNC)]
    with stores.catalog.transaction():
        for i, content in enumerate(ids):
            add_photo(db, content, "sync", start + 60 * i, 51.5, -0.12)
    return ids


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run(state: Path, whole: bool) -> dict[str, float]:
    """The figures on the catalog in `state`; `whole`: the baseline, every photo regrouped."""
    stores = Stores(state, check=False)
    timeline = Timeline(EventsConfig(), state.parent / "albums", stores)
    if whole:
        regroup = timeline.regroup
        timeline.regroup = lambda near=None: regroup()  # type: ignore[method-assign]
    figures = {"regroup": seconds(timeline.regroup)}
    ids = sync(stores)
    batches = [seconds(partial(timeline.file, ids[b : b + BATCH])) for b in range(0, SYNC, BATCH)]
    figures["first batch"], figures["sync"] = batches[0], sum(batches)
    figures["groups, first"] = seconds(timeline.groups)
    timeline.compared = set(timeline.stale or ())
    figures["groups, a write"] = seconds(timeline.groups)
    timeline.compared = None
    db = stores.catalog.db
    before = dict(db.execute("SELECT id, event_id FROM contents"))
    timeline.regroup()
    after = dict(db.execute("SELECT id, event_id FROM contents"))
    figures["moved"] = sum(before[key] != after[key] for key in before)
    stores.close()
    return figures


def people(state: Path) -> None:
    """The People tree's groups at the catalog in `state`, given faces: all persons counted,
    and a write that compares one."""
    stores = Stores(state, check=False)
    db = stores.catalog.db
    photos = db.execute("SELECT MAX(id) FROM contents").fetchone()[0]
    rng = np.random.default_rng(0)
    with stores.catalog.transaction():
        db.executemany(
            "INSERT INTO persons (id, number, created_at) VALUES (?, ?, 0)",
            ((person, person) for person in range(1, PERSONS + 1)),
        )
        db.executemany(
            "INSERT INTO faces (content_id, x0, y0, x1, y1, side, score, descriptor, person_id)"
            " VALUES (?, 0, 0, 1, 1, 100, 1.0, x'00', ?)",
            (
                (int(content), int(person))
                for content, person in zip(
                    rng.choice(photos, int(0.4 * photos), replace=False) + 1,
                    rng.integers(1, PERSONS + 1, int(0.4 * photos)),
                    strict=True,
                )
            ),
        )
    tree = People(PeopleConfig(), state.parent / "albums", stores)
    whole = seconds(tree.groups)
    tree.compared = {1}
    one = seconds(tree.groups)
    print(f"{photos:>9,} People groups: every person counted {whole:.2f} s, "
          f"a write comparing one {one:.3f} s", flush=True)  # fmt: skip
    stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--faces", action="store_true", help="also the People tree's groups")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="events-scale-"))
    print(f"{'photos':>9} {'run':<9} {'regroup s':>9} {'1st batch s':>11} {'sync s':>7} "
          f"{'groups 1st s':>12} {'groups s':>8} {'moved':>6}")  # fmt: skip
    for n in (int(size) for size in args.sizes.split(",")):
        built = work / f"catalog-{n}" / "state"
        if not (built / "catalog.sqlite").is_file():
            started = time.perf_counter()
            build(built, n)
            print(f"  (built {n:,} photos in {time.perf_counter() - started:.0f} s)", flush=True)
        results = {}
        for name, whole in (("baseline", True), ("today", False)):
            state = work / f"run-{n}-{name}" / "state"
            shutil.rmtree(state.parent, ignore_errors=True)
            shutil.copytree(built, state)
            results[name] = run(state, whole)
            f = results[name]
            print(f"{n:>9,} {name:<9} {f['regroup']:>9.2f} {f['first batch']:>11.2f} "
                  f"{f['sync']:>7.2f} {f['groups, first']:>12.2f} {f['groups, a write']:>8.2f} "
                  f"{int(f['moved']):>6}", flush=True)  # fmt: skip
            shutil.rmtree(state.parent, ignore_errors=True)
        ratio = results["baseline"]["sync"] / max(results["today"]["sync"], 1e-9)
        print(f"{'':>9} sync: today {ratio:.1f}x as fast as the baseline", flush=True)
        if args.faces:
            state = work / f"run-{n}-faces" / "state"
            shutil.rmtree(state.parent, ignore_errors=True)
            shutil.copytree(built, state)
            people(state)
            shutil.rmtree(state.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
