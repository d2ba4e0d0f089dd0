"""A big library's first start under systemd (issue 9): this checkout against a baseline commit.

For each version the real daemon starts on fresh state and album folders over the same photos,
talking to a notify socket of the bench's own as it would to systemd (WATCHDOG_USEC as the
unit's WatchdogSec=60). Printed: time to READY=1, to the first albums in index.json, to every
photo filed; the largest gap between WATCHDOG=1 pings after READY; the STATUS= count; SIGTERM to
exit; and the wall time of a plain `autoalbum index` from scratch. The baseline runs from a
temporary `git worktree` of --baseline with the same interpreter, packages and model cache.

    .venv/bin/python bench/first_start.py --baseline COMMIT [--generate 2000 | --photos DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops

from autoalbum.embedding.scan import find_images
from daemon_runs import (
    CLI,
    HERE_CODE,
    REPO,
    LogLines,
    NotifySocket,
    add_photo_options,
    checkout,
    code_env,
    describe_checkout,
    git,
    start_daemon,
    stop_daemon,
    time_index,
    write_config,
)

BIG_IMAGES = REPO.parent / "shared" / "datasets" / "bigimages"
SIZE = (4000, 3000)  # 12 MP
WATCHDOG_SEC = 60  # systemd/autoalbum.service
TIMEOUT_START_SEC = 90  # systemd's DefaultTimeoutStartSec; the unit keeps it
TIMEOUT_STOP_SEC = 20  # systemd/autoalbum.service
CAUGHT_UP_QUIET = 10.0  # after "caught up" is logged, an index this long unchanged is final


# The photos


def _noise(seed: int) -> Image.Image:
    """Sensor-like grain, centred on 8, to add to every photo (JPEG size and decode cost)."""
    grain = np.random.default_rng(seed).normal(8, 3, (SIZE[1], SIZE[0], 3))
    return Image.fromarray(np.clip(grain, 0, 16).astype(np.uint8))


def _variant(source: Image.Image, grain: Image.Image, seed: int) -> Image.Image:
    """A different 12 MP photo from `source`: a random 4:3 crop, maybe mirrored, lighter or
    darker, with grain."""
    rng = np.random.default_rng(seed)
    w, h = source.size
    cw = int(min(w, h * 4 / 3) * rng.uniform(0.55, 1.0))
    ch = cw * 3 // 4
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = source.resize(SIZE, Image.Resampling.BILINEAR, box=(left, top, left + cw, top + ch))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    gain = float(rng.uniform(0.8, 1.2))
    image = image.point([min(255, int(v * gain)) for v in range(256)] * 3)
    return ImageChops.add(image, grain, offset=-8)


def generated_photos(count: int) -> Path:
    """`count` 12 MP JPEGs made from ../shared/datasets/bigimages, cached in /tmp."""
    folder = Path(tempfile.gettempdir()) / f"autoalbum-bench-12mp-{count}"
    if folder.is_dir():
        return folder
    sources = [Image.open(p).convert("RGB") for p in sorted(BIG_IMAGES.iterdir())]
    grain = _noise(0)
    partial = Path(tempfile.mkdtemp(prefix=f"{folder.name}-partial-"))

    def write(i: int) -> None:
        photo = _variant(sources[i % len(sources)], grain, seed=i)
        photo.save(partial / f"IMG_{i:05d}.jpg", quality=90)

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(write, range(count)))
    partial.rename(folder)
    print(f"generated {count} 12 MP JPEGs in {folder} in {time.perf_counter() - started:.0f} s")
    return folder


def warm_page_cache(paths: Sequence[Path]) -> None:
    """Read every photo once, so that the first run does not pay for the disk alone."""
    for path in paths:
        with path.open("rb") as stream:
            while stream.read(1 << 22):
                pass


# The code


def build_model_cache(codes: Sequence[Path], cache: Path, photo: Path) -> None:
    """Build each version's model into `cache` now (and compile its modules), so that no run
    times the build."""
    for code in codes:
        env = code_env(code, AUTOALBUM_CACHE=str(cache))
        command = [*CLI, "inspect", str(photo), "--device", "cpu"]
        done = subprocess.run(command, env=env, capture_output=True)
        if done.returncode:
            raise SystemExit(f"building the model from {code} failed:\n{done.stderr.decode()}")


# What the daemon says


class AlbumIndex:
    """The album folder's index.json, read again whenever it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.albums = 0
        self.paths: set[str] = set()
        self.changed_at: float | None = None
        self._seen: tuple[int, int, int] | None = None

    def poll(self) -> None:
        try:
            info = self.path.stat()
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
            if key == self._seen:
                return
            index = json.loads(self.path.read_bytes())
            photos = self._photos(index)
        except (OSError, ValueError, KeyError):  # not written yet, or replaced while we read
            return
        self._seen = key
        self.albums = len(index["albums"])
        self.paths = photos | {r["path"] for r in index["failures"]}
        self.changed_at = time.monotonic()

    def _photos(self, index: dict[str, Any]) -> set[str]:
        """Every photo path the index lists: schema 1 in index.json itself, schema 2 in the
        members file of each album (a baseline commit may write either)."""
        if index["schema_version"] == 1:
            return {r["path"] for r in index["images"]}
        photos: set[str] = set()
        for album in index["albums"]:
            members = json.loads((self.path.parent / album["members"]).read_bytes())
            if members["generation"] != album["generation"]:
                raise ValueError("replaced while being read")
            photos |= {r["path"] for r in members["photos"]}
        return photos


# One run


@dataclass
class DaemonRun:
    """One first start; times in seconds from launching the daemon, None where it never did."""

    ready: float | None = None
    first_albums: float | None = None
    filed: float | None = None
    filed_count: int = 0
    stop: float | None = None
    watchdog_gap: float | None = None
    statuses: list[str] = field(default_factory=list)
    messages: Counter[str] = field(default_factory=Counter)
    problem: str = ""


def _largest_gap(ready: float | None, pings: Sequence[float], end: float) -> float | None:
    """Longest time without a sign of life after READY, up to `end` (SIGTERM)."""
    if ready is None:
        return None
    moments = [ready, *sorted(p for p in pings if ready <= p <= end), end]
    return max(b - a for a, b in itertools.pairwise(moments))


def _follow(
    daemon: subprocess.Popen[bytes],
    index: AlbumIndex,
    log: LogLines,
    expected: frozenset[str],
    deadline: float,
) -> tuple[float | None, float | None, str]:
    """Watch index.json until every photo is in it: (first albums, filed, problem)."""
    first_albums = None
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            return first_albums, None, f"the daemon exited with status {daemon.returncode}"
        index.poll()
        if first_albums is None and index.albums:
            first_albums = index.changed_at
        if expected <= index.paths:
            return first_albums, index.changed_at, ""
        said = log.first("caught up")
        if said and time.monotonic() - max(said, index.changed_at or 0) > CAUGHT_UP_QUIET:
            return first_albums, index.changed_at, "it said it was caught up, photos missing"
        time.sleep(0.1)
    return first_albums, None, "timed out"


def _since(start: float, moment: float | None) -> float | None:
    return None if moment is None else moment - start


@dataclass(frozen=True)
class Bench:
    """What every run shares: the photos, the model cache, the time limit, a temp folder."""

    photos: Path
    expected: frozenset[str]
    cache: Path
    timeout: float
    root: Path

    def _folder(self, name: str) -> Path:
        folder = self.root / name
        folder.mkdir()
        return folder

    def _env(self, code: Path, **extra: str) -> dict[str, str]:
        return code_env(code, AUTOALBUM_CACHE=str(self.cache), **extra)

    def daemon(self, name: str, code: Path) -> DaemonRun:
        """Start the daemon from `code` on fresh folders; stop it once every photo is filed."""
        root = self._folder(f"daemon-{name}")
        config = write_config(
            root, self.photos, cluster={"k": "auto"}, watch={"reconcile_minutes": 0}
        )
        with NotifySocket(root / "notify") as notify:
            usec = str(WATCHDOG_SEC * 1_000_000)
            env = self._env(code, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC=usec)
            launched = time.monotonic()
            daemon = start_daemon(config, env, output=subprocess.PIPE)
            assert daemon.stdout is not None
            log = LogLines(daemon.stdout, root / "daemon.log")
            index = AlbumIndex(root / "albums" / "index.json")
            deadline = launched + self.timeout
            try:
                first_albums, filed, problem = _follow(daemon, index, log, self.expected, deadline)
            finally:
                stopping = time.monotonic()
                stop = stop_daemon(daemon, timeout=120) if daemon.poll() is None else None
        if problem:
            print(f"{name}: {problem}; the daemon's last lines:\n{log.tail()}")
        ready = min(notify.times("READY=1"), default=None)
        return DaemonRun(
            ready=_since(launched, ready),
            first_albums=_since(launched, first_albums),
            filed=_since(launched, filed),
            filed_count=len(self.expected & index.paths),
            stop=stop,
            watchdog_gap=_largest_gap(ready, notify.times("WATCHDOG=1"), stopping),
            statuses=notify.values("STATUS"),
            messages=notify.keys(),
            problem=problem,
        )

    def index(self, name: str, code: Path) -> float | None:
        """Wall seconds of `autoalbum index` from scratch, or None if it failed or timed out."""
        config = write_config(self._folder(f"index-{name}"), self.photos, cluster={"k": "auto"})
        try:
            return time_index(config, self._env(code), quiet=True, timeout=self.timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            print(f"{name}: autoalbum index: {error}")
            return None


# The report


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 1 else f"{value:.1f} s"


def _ratio(baseline: float | None, new: float | None) -> str:
    return "-" if baseline is None or new is None or new <= 0 else f"{baseline / new:.2f}x"


def print_table(rows: Sequence[tuple[str, float | None, float | None]], counts: str) -> None:
    print(f"{'':44}{'baseline':>12}{'new':>12}{'baseline/new':>14}")
    for label, old, new in rows:
        print(f"{label:44}{_seconds(old):>12}{_seconds(new):>12}{_ratio(old, new):>14}")
    print(counts)


def report(runs: dict[str, DaemonRun], index: dict[str, float | None], expected: int) -> None:
    old, new = runs["baseline"], runs["new"]
    rows: list[tuple[str, float | None, float | None]] = [
        ("daemon: READY=1", old.ready, new.ready),
        ("daemon: first albums in index.json", old.first_albums, new.first_albums),
        (f"daemon: all {expected} photos filed", old.filed, new.filed),
        ("daemon: largest WATCHDOG=1 gap after READY", old.watchdog_gap, new.watchdog_gap),
        ("daemon: SIGTERM -> exit", old.stop, new.stop),
        ("autoalbum index (no daemon), from scratch", index.get("baseline"), index.get("new")),
    ]
    counts = f"{'daemon: STATUS= messages':44}{len(old.statuses):>12}{len(new.statuses):>12}"
    print_table(rows, counts)
    for name, run in runs.items():
        sent = ", ".join(f"{key} x{n}" for key, n in sorted(run.messages.items())) or "nothing"
        last = run.statuses[-1] if run.statuses else "-"
        print(f"{name}: sent {sent}; last STATUS: {last}; filed {run.filed_count}/{expected}")
        for limit, value, what in (
            (TIMEOUT_START_SEC, run.ready, "READY after systemd's start timeout"),
            (WATCHDOG_SEC, run.watchdog_gap, "watchdog gap over WatchdogSec"),
            (TIMEOUT_STOP_SEC, run.stop, "exit after the unit's TimeoutStopSec"),
        ):
            if value is not None and value > limit:
                print(f"  {what} ({limit} s): systemd would have killed it")
        if run.problem:
            print(f"  {run.problem}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline",
        default="HEAD",
        metavar="REF",
        help="git commit with the old behaviour, e.g. the one before the issue-9 work "
        "(default HEAD: the same code unless this checkout has changes)",
    )
    add_photo_options(parser, generate=2000)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--no-index", action="store_true", help="skip the `autoalbum index` runs")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    photos = (args.photos or generated_photos(args.generate)).resolve()
    paths = find_images([photos])
    warm_page_cache(paths)
    print(f"photos: {len(paths)} in {photos}")
    print(f"baseline: {args.baseline} ({git('rev-parse', '--short', args.baseline)})")
    print(f"new: this checkout ({describe_checkout()})")
    if args.baseline == "HEAD":
        print("note: --baseline HEAD compares the code with itself, save this checkout's changes")
    root = Path(tempfile.mkdtemp(prefix="autoalbum-first-start-"))
    bench = Bench(photos, frozenset(map(str, paths)), root / "cache", args.timeout, root)
    try:
        with checkout(args.baseline, root / "baseline-code") as old_code:
            codes = {"baseline": old_code, "new": HERE_CODE}
            build_model_cache(list(codes.values()), bench.cache, paths[0])
            runs = {name: bench.daemon(name, code) for name, code in codes.items()}
            index = {} if args.no_index else {n: bench.index(n, c) for n, c in codes.items()}
        report(runs, index, len(paths))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
