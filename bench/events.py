"""How should photos become events? Segmentation methods on synthetic libraries with true occasions.

Libraries come from bench/events_synthetic.py (500, 5,000 and 50,000 photos, seeds 0-2).
Methods, each given every photo's time (and, where it uses them, places):
- "36 h gap": a gap over 36 hours ends an event (LibrePhotos' event albums);
- "calendar day": one event per date;
- "PhotoTOC": Platt et al. 2003, a gap ends an event when its log exceeds the mean log of the
  2d+1 gaps around it (itself included) by log 17, d = 10 (log of the gap + 1 s: bursts);
- "ours, fixed 1 h": autoalbum.events.segment with its adaptive rule off: at home, every gap
  over min_gap_s (an hour) ends an event;
- "ours, time only": autoalbum.events.segment without places;
- "ours": autoalbum.events.segment.
Scores over the photos with a time, every event counted however small: homogeneity (1: no
event mixes occasions) and completeness (1: no occasion is split), from sklearn.metrics. Then
what a user sees, events of >= 6 photos: how many ("folders"), the share of true occasions of
>= 6 photos found as one folder (>= 80% of the occasion in it, and >= 80% of it that occasion:
"found"), the same for trips only ("trips"), and the share of folders that are no occasion
("junk"). ms: one segmentation, mean over seeds. Each row is the mean over the seeds.

--arrivals: for "ours", 1% of the timed photos held out and placed one at a time into the
events of the rest (autoalbum.events.segment.place): joined the event holding most of its
occasion ("right"), another ("wrong"), or started one ("new"); the share placed as segmenting
all photos again places it ("agree": into the event that then holds most of that event, or
into a new one); and how many of the rest's
photos moved when the held-out ones are added and all is segmented again ("moved"), and
when a second library three years later is added ("far moved", must be 0).
--sweep [CONSTANT ...]: each of the rules' constants (or those named) moved alone, ours.

--tree: the real thing. Each library (home in London, trips to Keswick, Edinburgh, Paris, Porto
or Lisbon) written as small JPEGs with EXIF dates (offset +00:00: the arrays' times are
wall-clock as if UTC), sub-seconds and GPS, indexed by `autoalbum index` (people off), its
Events tree read back. Over the photos with a time (those without are in no event, as in the
arrays): event folders ("folders"), the share of photos in none ("unfiled"); homogeneity and
completeness with each unfiled photo a folder of its own, and over the filed photos only
("filed"); "found" and "trips" as above, and "found" of ours on the arrays for comparison
("arrays"); "named": of the folders mostly of one trip with GPS, the share whose name holds
that trip's town; "index s": the `autoalbum index` run. Sizes default to 500,2000, seeds 0,1.

    .venv/bin/python bench/events.py [--sizes 500,5000,50000] [--seeds 0,1,2] [--arrivals]
        [--sweep [CONSTANT ...]] [--tree]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from sklearn.metrics import completeness_score, homogeneity_score

import autoalbum
from autoalbum.evaluation.tree import tree_folders
from autoalbum.events.segment import (
    HOUR,
    MIN_PHOTOS,
    RULES,
    Rules,
    Segmentation,
    place,
    segment,
)
from events_synthetic import Library, synthetic_library

Ints = NDArray[np.int64]
Method = Callable[[Library], Ints]
COVER = 0.8  # an occasion found: this share of it in one folder, this share of the folder it


def gap_method(hours: float) -> Method:
    """A gap over `hours` ends an event."""

    def run(library: Library) -> Ints:
        return _by_gaps(library.times, lambda gaps: gaps > hours * HOUR)

    return run


def calendar_day(library: Library) -> Ints:
    """One event per date."""
    timed = ~np.isnan(library.times)
    labels = np.full(len(library.times), -1, dtype=np.int64)
    labels[timed] = np.unique(np.floor(library.times[timed] / 86400), return_inverse=True)[1]
    return labels


def phototoc(library: Library) -> Ints:
    """Platt et al.'s PhotoTOC gap rule, d = 10, K = log 17."""

    def ends(gaps: NDArray[np.float64]) -> NDArray[np.bool_]:
        logs = np.log(gaps + 1.0)
        sums = np.concatenate(([0.0], np.cumsum(logs)))
        index = np.arange(len(gaps))
        low, high = np.maximum(index - 10, 0), np.minimum(index + 10, len(gaps) - 1)
        mean = (sums[high + 1] - sums[low]) / (high - low + 1)
        return np.asarray(logs - mean > math.log(17))

    return _by_gaps(library.times, ends)


def ours(rules: Rules = RULES, places: bool = True) -> Method:
    """autoalbum's segmentation, with or without the photos' places."""

    def run(library: Library) -> Ints:
        if not places:
            return segment(library.times, rules=rules).event_of
        return segment(library.times, library.latitude, library.longitude, rules).event_of

    return run


def _by_gaps(times: NDArray[np.float64], ends: Callable[[NDArray[np.float64]], object]) -> Ints:
    """Events cut where ends(gaps) is true, along the time-sorted photos."""
    timed = np.flatnonzero(~np.isnan(times))
    order = timed[np.argsort(times[timed], kind="stable")]
    cut = np.asarray(ends(np.diff(times[order])), dtype=np.int64)
    labels = np.full(len(times), -1, dtype=np.int64)
    labels[order] = np.concatenate(([0], np.cumsum(cut)))
    return labels


def scores(library: Library, labels: Ints) -> dict[str, float]:
    """Homogeneity, completeness and what the folders of >= MIN_PHOTOS photos are."""
    timed = labels >= 0
    truth, found = library.occasion[timed], labels[timed]
    sizes = np.bincount(found)
    folder = sizes[found] >= MIN_PHOTOS
    pairs, counts = np.unique(np.stack([truth[folder], found[folder]]), axis=1, return_counts=True)
    occasion_sizes = np.bincount(truth, minlength=len(library.kinds))
    whole = (counts >= COVER * occasion_sizes[pairs[0]]) & (counts >= COVER * sizes[pairs[1]])
    big = occasion_sizes >= MIN_PHOTOS
    kinds = np.array(library.kinds)
    trips = big & (kinds == "trip")
    folders = int(np.sum(sizes >= MIN_PHOTOS))
    pure = np.zeros(len(sizes), dtype=bool)
    pure[pairs[1][counts >= COVER * sizes[pairs[1]]]] = True
    return {
        "events": float(len(sizes)),
        "folders": float(folders),
        "homog": float(homogeneity_score(truth, found)),
        "compl": float(completeness_score(truth, found)),
        "found": float(np.isin(np.flatnonzero(big), pairs[0][whole]).mean()),
        "trips": float(np.isin(np.flatnonzero(trips), pairs[0][whole]).mean())
        if trips.any()
        else 1,
        "junk": float(1 - pure[sizes >= MIN_PHOTOS].sum() / max(folders, 1)),
    }


def table(methods: dict[str, Method], sizes: list[int], seeds: list[int]) -> None:
    """Each method's mean scores over the seeds, per size."""
    keys = ("events", "folders", "homog", "compl", "found", "trips", "junk")
    print(f"{'photos':>7} {'method':<18}" + "".join(f"{k:>8}" for k in keys) + f"{'ms':>8}")
    for n in sizes:
        libraries = [synthetic_library(n, seed) for seed in seeds]
        truths = [sum(np.bincount(lib.occasion) >= MIN_PHOTOS) for lib in libraries]
        occasions = np.mean([len(lib.kinds) for lib in libraries])
        print(f"{n:>7} {'(truth)':<18}{occasions:>8.0f}{np.mean(truths):>8.0f}")
        for name, method in methods.items():
            rows, took = [], []
            for library in libraries:
                start = time.perf_counter()
                labels = method(library)
                took.append(time.perf_counter() - start)
                rows.append(scores(library, labels))
            mean = {k: np.mean([r[k] for r in rows]) for k in keys}
            cells = "".join(
                f"{mean[k]:>8.0f}" if k in ("events", "folders") else f"{mean[k]:>8.3f}"
                for k in keys
            )
            print(f"{'':>7} {name:<18}{cells}{1000 * np.mean(took):>8.1f}")


def arrivals(sizes: list[int], seeds: list[int]) -> None:
    """Held-out photos placed into the rest's events, and photos moved by re-segmenting."""
    names = ("right", "wrong", "new", "agree", "moved")
    print(f"{'photos':>7} {'seed':>4}" + "".join(f"{k:>8}" for k in names) + f"{'far moved':>10}")
    for n in sizes:
        for seed in seeds:
            library = synthetic_library(n, seed)
            rng = np.random.default_rng(seed)
            timed = np.flatnonzero(~np.isnan(library.times))
            held = np.zeros(n, dtype=bool)
            held[rng.choice(timed, size=max(1, len(timed) // 100), replace=False)] = True
            rest = _subset(library, ~held)
            cut = segment(rest.times, rest.latitude, rest.longitude)
            whole = segment(library.times, library.latitude, library.longitude).event_of
            outcome = _place_all(library, held, rest, cut, whole)
            moved = _moved(cut.event_of, whole[~held])
            far = _far_moved(library, seed)
            cells = "".join(f"{outcome[k]:>8.3f}" for k in ("right", "wrong", "new", "agree"))
            print(f"{n:>7} {seed:>4}{cells}{moved:>8}{far:>10}")


def _subset(library: Library, keep: NDArray[np.bool_]) -> Library:
    """The library's photos where keep is true."""
    return Library(
        library.times[keep],
        library.latitude[keep],
        library.longitude[keep],
        library.occasion[keep],
        library.kinds,
    )


def _place_all(
    library: Library, held: NDArray[np.bool_], rest: Library, cut: Segmentation, whole: Ints
) -> dict[str, float]:
    """Shares of held-out photos placed right, wrong or into a new event, and as segment does."""
    majority = np.full(len(cut.events), -1, dtype=np.int64)
    in_whole = np.full(len(cut.events), -1, dtype=np.int64)
    rest_whole = whole[~held]
    for event in np.unique(cut.event_of[cut.event_of >= 0]):
        mine = cut.event_of == event
        majority[event] = np.bincount(rest.occasion[mine]).argmax()
        in_whole[event] = np.bincount(rest_whole[mine]).argmax()
    counts = dict.fromkeys(("right", "wrong", "new", "agree"), 0)
    for i in np.flatnonzero(held):
        index = place(library.times[i], library.latitude[i], library.longitude[i], cut.events)
        if index is None:
            counts["new"] += 1
            counts["agree"] += int(whole[i] not in rest_whole)
            continue
        counts["right" if majority[index] == library.occasion[i] else "wrong"] += 1
        counts["agree"] += int(in_whole[index] == whole[i])
    total = max(counts["right"] + counts["wrong"] + counts["new"], 1)
    return {key: value / total for key, value in counts.items()}


def _moved(before: Ints, after: Ints) -> int:
    """Photos not in the event of `after` that holds most of their event of `before`."""
    timed = before >= 0
    pairs, counts = np.unique(np.stack([before[timed], after[timed]]), axis=1, return_counts=True)
    best = np.zeros(int(before.max()) + 1, dtype=np.int64)
    np.maximum.at(best, pairs[0], counts)
    return int(timed.sum() - best.sum())


def _far_moved(library: Library, seed: int) -> int:
    """Photos of the library whose event changes when a library 3 years after its end joins."""
    later = synthetic_library(1_000, seed + 100)
    shift = np.nanmax(library.times) - np.nanmin(later.times) + 3 * 365.25 * 86400
    times = np.concatenate([library.times, later.times + shift])
    lat = np.concatenate([library.latitude, later.latitude])
    lon = np.concatenate([library.longitude, later.longitude])
    alone = segment(library.times, library.latitude, library.longitude).event_of
    joined = segment(times, lat, lon).event_of[: len(library.times)]
    return _moved(alone, joined)


SWEEP: dict[str, tuple[float, ...]] = {
    "window": (3, 5, 10, 20),
    "excess": (math.log(4), math.log(8), math.log(12), math.log(17), math.log(40)),
    "offset_s": (1.0, 60.0, 300.0),
    "min_gap_s": (0.25 * HOUR, 0.5 * HOUR, 0.75 * HOUR, HOUR, 1.5 * HOUR, 2 * HOUR),
    "day_gap_s": (4 * HOUR, 6 * HOUR, 8 * HOUR, 12 * HOUR, 1e12),
    "trip_gap_s": (24 * HOUR, 36 * HOUR, 48 * HOUR, 60 * HOUR, 72 * HOUR),
    "hard_gap_s": (2 * 86400, 3 * 86400, 5 * 86400),
    "jump_gap_s": (0.25 * HOUR, 0.5 * HOUR, HOUR, 2 * HOUR),
    "jump_km": (20.0, 50.0, 100.0),
    "cell_km": (5.0, 10.0, 20.0),
    "home_days": (90, 180, 365, 730),
    "home_share": (0.1, 0.25, 0.4),
    "fill_s": (2 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR),
    "busy": (1.5, 2.0, 3.0, 4.0, 1000.0),
}


def sweep(sizes: list[int], seeds: list[int], only: list[str]) -> None:
    """Ours with each constant moved alone."""
    for name, values in SWEEP.items():
        if only and name not in only:
            continue
        methods = {}
        for value in values:
            kind = int if name in ("window", "home_days") else float
            methods[f"{name}={value:.4g}"] = ours(replace(RULES, **{name: kind(value)}))
        table(methods, sizes, seeds)


LONDON = (51.5074, -0.1278)
TOWNS = {
    "Keswick": (54.6013, -3.1347),
    "Edinburgh": (55.9533, -3.1883),
    "Paris": (48.8566, 2.3522),
    "Porto": (41.1579, -8.6291),
    "Lisbon": (38.7223, -9.1393),
}


def _write_photo(path: Path, when: float, lat: float, lon: float, colour: int) -> None:
    """A 32x24 JPEG whose EXIF says when (wall-clock, +00:00) and, unless NaN, where."""
    exif = Image.Exif()
    if not math.isnan(when):
        taken = datetime.fromtimestamp(when, tz=UTC)
        exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        exif.get_ifd(0x8769)[0x9291] = f"{taken.microsecond // 10_000:02d}"
        exif.get_ifd(0x8769)[0x9011] = "+00:00"
    if not math.isnan(lat):
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    pixels = np.full((24, 32, 3), colour % 256, dtype=np.uint8)
    pixels[:, :, 1] = (colour * 37) % 256
    Image.fromarray(pixels).save(path, exif=exif.tobytes())


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def _indexed_tree(library: Library, root: Path) -> tuple[Ints, list[str], float]:
    """Write the library's photos, index them; per photo its event folder (-1: none), the
    folders' names and the seconds `autoalbum index` took."""
    photos = root / "photos"
    photos.mkdir()
    paths = [photos / f"IMG_{i:05d}.jpg" for i in range(len(library.times))]
    for i, path in enumerate(paths):
        lat, lon = library.latitude[i], library.longitude[i]
        _write_photo(path, library.times[i], lat, lon, int(library.occasion[i]))
    config = root / "autoalbum.yaml"
    config.write_text(
        f"library:\n  folders: [{photos}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\npeople:\n  enabled: false\n",
        encoding="utf-8",
    )
    daemon = str(Path(autoalbum.__file__).resolve().parents[1])
    command = [sys.executable, "-m", "autoalbum.cli", "--quiet", "index", "--config", str(config)]
    start = time.perf_counter()
    environment = {**os.environ, "PYTHONPATH": daemon}
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - start
    folder_of = tree_folders(root / "Events")
    names = sorted(set(folder_of.values()))
    found = [folder_of.get(os.path.realpath(p)) for p in paths]
    labels = np.array([-1 if f is None else names.index(f) for f in found], dtype=np.int64)
    return labels, names, took


def _named(library: Library, labels: Ints, names: list[str]) -> str:
    """Of the folders mostly of one trip with GPS, the share whose name holds its town; "-"
    if there are none."""
    right = total = 0
    kinds = np.array(library.kinds)
    for folder, name in enumerate(names):
        occasion = int(np.bincount(library.occasion[labels == folder]).argmax())
        mine = library.occasion == occasion
        if kinds[occasion] != "trip" or np.isnan(library.latitude[mine]).all():
            continue
        where = np.array(
            [np.nanmedian(library.latitude[mine]), np.nanmedian(library.longitude[mine])]
        )
        town = min(TOWNS, key=lambda t: float(np.hypot(*(np.array(TOWNS[t]) - where))))
        right, total = right + int(town in name), total + 1
    return f"{right / total:.3f}" if total else "-"


def tree(sizes: list[int], seeds: list[int]) -> None:
    """Real photos through `autoalbum index`, their Events tree scored against the occasions."""
    keys = ("folders", "unfiled", "homog", "compl", "homog filed", "compl filed", "found",
            "trips", "arrays", "named", "index s")  # fmt: skip
    print(f"{'photos':>7} {'seed':>4}" + "".join(f"{k:>12}" for k in keys))
    for n in sizes:
        for seed in seeds:
            library = synthetic_library(n, seed, LONDON, tuple(TOWNS.values()))
            with tempfile.TemporaryDirectory() as folder:
                labels, names, took = _indexed_tree(library, Path(folder))
            print(
                f"{n:>7} {seed:>4}"
                + "".join(f"{v:>12}" for v in _tree_row(library, labels, names, took))
            )


def _tree_row(library: Library, labels: Ints, names: list[str], took: float) -> list[str]:
    """The cells of one library's row of the --tree table."""
    timed = ~np.isnan(library.times)
    filed = timed & (labels >= 0)
    # Unfiled photos as folders of their own, numbered after the folders, for scores().
    alone = np.where(labels >= 0, labels, len(names) + np.arange(len(labels)))
    whole = scores(library, np.where(timed, alone, -1))
    truth, found = library.occasion[filed], labels[filed]
    return [
        f"{len(names)}",
        f"{1 - filed.sum() / timed.sum():.3f}",
        f"{whole['homog']:.3f}",
        f"{whole['compl']:.3f}",
        f"{homogeneity_score(truth, found):.3f}",
        f"{completeness_score(truth, found):.3f}",
        f"{whole['found']:.3f}",
        f"{whole['trips']:.3f}",
        f"{scores(library, ours()(library))['found']:.3f}",
        _named(library, labels, names),
        f"{took:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="default: 500,5000,50000; 500,2000 --tree")
    parser.add_argument("--seeds", default=None, help="default: 0,1,2; 0,1 with --tree")
    parser.add_argument("--arrivals", action="store_true")
    parser.add_argument("--sweep", nargs="*", metavar="CONSTANT")
    parser.add_argument("--tree", action="store_true")
    args = parser.parse_args()
    sizes = [
        int(s) for s in (args.sizes or ("500,2000" if args.tree else "500,5000,50000")).split(",")
    ]
    seeds = [int(s) for s in (args.seeds or ("0,1" if args.tree else "0,1,2")).split(",")]
    if args.tree:
        tree(sizes, seeds)
        return
    if args.sweep is not None:
        sweep(sizes, seeds, args.sweep)
        return
    if args.arrivals:
        arrivals(sizes, seeds)
        return
    methods: dict[str, Method] = {
        "36 h gap": gap_method(36),
        "calendar day": calendar_day,
        "PhotoTOC": phototoc,
        "ours, fixed 1 h": ours(replace(RULES, excess=-math.inf)),
        "ours, time only": ours(places=False),
        "ours": ours(),
    }
    table(methods, sizes, seeds)


if __name__ == "__main__":
    main()
