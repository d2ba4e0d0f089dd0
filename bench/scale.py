"""A library of 10k, 100k or 1M photos (issue 15): everything but the model, this checkout
against a baseline commit.

Per size, for each version of the code: `autoalbum index` builds the library from scratch (wall
time, peak RSS); the real daemon restarts on it under a notify socket of the bench's own (time
to READY=1 and to its "watching" line, when the catch-up scan is done; idle RSS once settled,
and that of a daemon on an empty library, the fixed cost); single photos copied into a watched
folder, then a burst of 200, are timed from the copy finishing to their symlinks in the album
tree; `autoalbum recluster` runs with the daemon stopped (wall time, peak RSS); a first
`autoalbum similar` builds the search index where the version has one (as a library's daemon
does once idle); the state folder and the album tree's index files are weighed per photo. The
versions take turns at each step, so that a change in the machine's load falls on both. One
table per size: baseline, this checkout, their ratio and the issue's targets.

The photos are 16x16 JPEGs drawn from 30 colour patterns plus 5% noise, every file unique,
1,000 to a folder; the model is a stand-in (bench/scale_entry.py: a grid of mean colours
projected to 1280-d) injected into autoalbum's own CLI, daemon, watcher, catalog and tree, so
the model's time and memory are left out. Photo sets are cached in --work by size; with
--reuse so is each version's library (built by `index` once, then measured again). The
baseline runs from a temporary `git worktree` of --baseline with the same interpreter; a
baseline step whose estimate (the checkout's time at this size times the baseline's ratio at
the size before) exceeds --cap-s is skipped, and one that runs past it is stopped.

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--baseline COMMIT] [--reuse]
    .venv/bin/python bench/scale.py --quick    # 2,000 photos, under 2 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from daemon_runs import (
    HERE_CODE,
    LogLines,
    Measured,
    NotifySocket,
    checkout,
    code_env,
    describe_checkout,
    git,
    memory,
    run_measured,
    stop_daemon,
    wait_for,
    write_config,
)

ENTRY = Path(__file__).resolve().with_name("scale_entry.py")
BASELINE = "8360ec4"  # main before the issue-15 storage work
SIDE = 16  # pixels: scale_entry.INPUT_SIZE
PATTERNS = 30
NOISE_SHARE = 0.05  # photos that belong to no pattern
PER_FOLDER = 1000
LIST_SECONDS = 5.0  # between listings of the album tree's folders (new ones come with reclusters)
GENERATOR = 1  # part of a cached photo set's name: a changed generator makes new sets
SEED = 15
WATCHDOG_SEC = 60  # systemd/autoalbum.service
DAEMON_SECTIONS: dict[str, dict[str, object]] = {
    "watch": {"reconcile_minutes": 0},
    # No recluster while the bench measures the daemon: `autoalbum recluster` is timed alone.
    "recluster": {"after_new_images": 10**9, "after_minutes": 10**6},
}
KB, MB, GB = 1024, 1024**2, 1024**3


# The photos


def _patterns() -> NDArray[np.float32]:
    """PATTERNS 4x4 grids of colours, the same for every set."""
    rng = np.random.default_rng(SEED)
    return rng.integers(20, 236, (PATTERNS, 4, 4, 3)).astype(np.float32)


def photo_pixels(rng: np.random.Generator, count: int) -> NDArray[np.uint8]:
    """`count` 16x16 photos: a pattern (or, for NOISE_SHARE of them, a random grid) under its
    own lighting, with grain."""
    grids = _patterns()[rng.integers(0, PATTERNS, count)]
    noise = rng.random(count) < NOISE_SHARE
    grids[noise] = rng.integers(0, 256, (int(noise.sum()), 4, 4, 3))
    grids += rng.normal(0, 12, (count, 1, 1, 3))
    cell = SIDE // 4
    pixels = grids.repeat(cell, axis=1).repeat(cell, axis=2)
    pixels += rng.normal(0, 18, pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def jpeg(pixels: NDArray[np.uint8], name: str) -> bytes:
    """The photo as a JPEG whose comment is its name, so that no two files are identical."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, comment=name.encode())
    return buffer.getvalue()


def write_photos(folder: Path, names: Sequence[str], seed: Sequence[int]) -> list[Path]:
    """A photo per name in `folder`, drawn from `seed`."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = photo_pixels(np.random.default_rng(list(seed)), len(names))
    paths = [folder / name for name in names]
    for path, photo in zip(paths, pixels, strict=True):
        path.write_bytes(jpeg(photo, path.name))
    return paths


def _write_folder(job: tuple[Path, int, int]) -> None:
    parent, number, count = job
    first = number * PER_FOLDER
    names = [f"p{first + i:07d}.jpg" for i in range(count)]
    write_photos(parent / f"{number:04d}", names, (SEED, number))


@dataclass(frozen=True)
class PhotoSet:
    folder: Path
    size: int
    generated_s: float | None  # None: not known (made by another version of the bench)


def photo_set(work: Path, size: int) -> PhotoSet:
    """`size` photos in folders of PER_FOLDER under `work`, made once and then reused."""
    folder = work / f"photos-{size}-g{GENERATOR}"
    record = folder.with_suffix(".json")
    if folder.is_dir():
        known = json.loads(record.read_text()) if record.is_file() else {}
        return PhotoSet(folder, size, known.get("seconds"))
    partial = Path(tempfile.mkdtemp(prefix=f"{folder.name}-partial-", dir=work))
    folders = range(-(-size // PER_FOLDER))
    jobs = [(partial, n, min(PER_FOLDER, size - n * PER_FOLDER)) for n in folders]
    started = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write_folder, jobs))
    seconds = time.perf_counter() - started
    partial.rename(folder)
    record.write_text(json.dumps({"seconds": seconds}))
    print(f"generated {size:,} photos in {folder} in {seconds:.1f} s", flush=True)
    return PhotoSet(folder, size, seconds)


# The code and its libraries


@dataclass(frozen=True)
class Code:
    """One version of autoalbum: its daemon/ folder, and a key naming its libraries."""

    name: str
    daemon: Path
    key: str

    def env(self, **extra: str) -> dict[str, str]:
        return code_env(self.daemon, **extra)

    def command(self, *args: str) -> list[str]:
        """`autoalbum ARGS` of this version, with the stand-in model."""
        return [sys.executable, str(ENTRY), *args]


def current_code() -> Code:
    """This checkout, keyed by its commit and any uncommitted changes to daemon/."""
    key = git("rev-parse", "--short=10", "HEAD")
    if changes := git("diff", "HEAD", "--", "daemon"):
        key += "-" + hashlib.sha1(changes.encode()).hexdigest()[:8]
    return Code("current", HERE_CODE, key)


@dataclass(frozen=True)
class Library:
    """A library's folder in --work: config, state, albums, a watched arrivals folder and an
    unwatched staging folder the arrivals are copied from."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "autoalbum.yaml"

    @property
    def albums(self) -> Path:
        return self.root / "albums"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def arrivals(self) -> Path:
        return self.root / "arrivals"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def built(self) -> Path:
        return self.root / "built.json"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def photos(self, size: int) -> int:
        """How many photos it holds now: the set's, and every arrival so far."""
        return size + sum(1 for _ in self.arrivals.iterdir())


def new_library(root: Path, photos: Path) -> Library:
    if root.exists():
        shutil.rmtree(root)
    library = Library(root)
    library.arrivals.mkdir(parents=True)
    write_config(root, [photos, library.arrivals], **DAEMON_SECTIONS)
    return library


# The album tree, seen from outside


class AlbumTree:
    """Finds photos' symlinks in the album tree by name, whatever its index files look like:
    every folder of the tree (a sub-album inside an album too, hidden ones aside) is an album,
    listed again every LIST_SECONDS (listing reads every link: 1 s at a million photos)."""

    def __init__(self, albums: Path) -> None:
        self.albums = albums
        self._folders: list[str] = []
        self._listed = 0.0

    def _album_folders(self) -> list[str]:
        if time.monotonic() - self._listed > LIST_SECONDS:
            self._folders = _folders_below(self.albums)
            self._listed = time.monotonic()
        return self._folders

    def linked(self, photo: Path) -> bool:
        """Whether a symlink named after `photo` and leading to it is in an album."""
        for folder in self._album_folders():
            link = os.path.join(folder, photo.name)
            if os.path.islink(link) and os.path.realpath(link) == os.path.realpath(photo):
                return True
        return False

    def wait(self, photos: Sequence[Path], timeout: float) -> float:
        """Poll until every photo is linked; the moment the last was (perf_counter)."""
        pending = list(photos)
        deadline = time.perf_counter() + timeout
        while pending:
            pending = [p for p in pending if not self.linked(p)]
            if not pending:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(pending)} of {len(photos)} photos never linked")
            time.sleep(0.02)
        return time.perf_counter()


def _folders_below(root: Path) -> list[str]:
    """Every folder below `root` whose name doesn't start with a dot, at any depth."""
    found: list[str] = []
    with contextlib.suppress(OSError), os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                found += [entry.path, *_folders_below(Path(entry.path))]
    return found


def folder_bytes(folder: Path, keep: Callable[[os.DirEntry[str]], bool]) -> dict[str, int]:
    """Bytes of the regular files under `folder` that `keep` accepts, by relative path."""
    sizes: dict[str, int] = {}
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and keep(entry):
                    sizes[os.path.relpath(entry.path, folder)] = entry.stat().st_size
    return sizes


# The figures


@dataclass
class Figures:
    """What one version measured at one size; a figure it did not get is absent."""

    values: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    state_files: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str  # "s" or "B"
    targets: dict[int, float] = field(default_factory=dict)  # size -> at most; 0: every size


ROWS = (
    Row("index_s", "autoalbum index, from scratch", "s"),
    Row("index_rss", "  its peak RSS", "B"),
    Row("ready_s", "restart -> READY=1", "s", {1_000_000: 10}),
    Row("watching_s", "restart -> catch-up scan done ('watching')", "s"),
    Row("idle_rss", "daemon idle RSS", "B", {1_000_000: 1 * GB}),
    Row("empty_rss", "  daemon RSS on an empty library", "B"),
    Row("ram_per_photo", "  RAM per photo (idle - empty)", "B"),
    Row("single_median", "single arrival -> symlink, median", "s"),
    Row("single_max", "single arrival -> symlink, max", "s", {100_000: 1, 1_000_000: 2}),
    Row("burst_s", "burst: last copy -> all linked", "s"),
    Row("daemon_peak_rss", "daemon peak RSS (VmHWM)", "B"),
    Row("stop_s", "SIGTERM -> exit", "s"),
    Row("recluster_s", "autoalbum recluster", "s", {1_000_000: 120}),
    Row("recluster_rss", "  its peak RSS", "B", {1_000_000: 4 * GB}),
    Row("similar_s", "first similar (builds the search index)", "s"),
    Row("disk_per_photo", "on disk per photo (state + tree index)", "B", {0: 1.5 * KB}),
    Row("state_per_photo", "  state folder per photo", "B"),
    Row("tree_per_photo", "  album tree's index files per photo", "B"),
)


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"
    if value >= GB:
        return f"{value / GB:.2f} GB"
    if value >= MB:
        return f"{value / MB:.0f} MB" if value >= 10 * MB else f"{value / MB:.1f} MB"
    return f"{value:,.0f} B"


def _target(row: Row, size: int, value: float | None) -> str:
    limit = row.targets.get(size, row.targets.get(0))
    if limit is None:
        return ""
    verdict = "" if value is None else (" ok" if value <= limit else " MISSED")
    return f"<= {_format(limit, row.unit)}{verdict}"


def print_table(size: int, figures: dict[str, Figures]) -> None:
    old, new = figures.get("baseline", Figures()), figures["current"]
    print(f"\n{size:,} photos")
    print(f"{'':44}{'baseline':>11}{'current':>11}{'base/cur':>10}  target (current)")
    for row in ROWS:
        a, b = old.values.get(row.key), new.values.get(row.key)
        ratio = f"{a / b:.2f}x" if a is not None and b else "-"
        target = _target(row, size, b)
        line = f"{row.label:44}{_format(a, row.unit):>11}{_format(b, row.unit):>11}{ratio:>10}"
        print(f"{line}  {target}".rstrip())
    for name, run in figures.items():
        files = ", ".join(f"{path} {_format(n, 'B')}" for path, n in run.state_files.items())
        print(f"{name}: state {files or '-'}")
        for note in run.notes:
            print(f"{name}: {note}")


# One version at one size


@dataclass
class Bench:
    size: int
    photos: PhotoSet
    work: Path
    reuse: bool
    singles: int
    burst: int
    timeout: float | None  # seconds a step may take (None: no limit)
    stamp: str = field(default_factory=lambda: time.strftime("%H%M%S"))

    def library(self, code: Code, figures: Figures) -> Library | None:
        """The version's library of this size, built by `autoalbum index` unless reused."""
        root = self.work / f"library-{self.size}-{code.key}"
        library = Library(root)
        if self.reuse and library.built.is_file():
            figures.values.update(json.loads(library.built.read_text()))
            figures.notes.append(f"reused the library in {root} (index figures from its build)")
            return library
        library = new_library(root, self.photos.folder)
        if (run := self._command(code, library, figures, "index")) is None:
            return None
        built = {"index_s": run.seconds, "index_rss": float(run.peak_rss)}
        library.built.write_text(json.dumps(built))
        figures.values.update(built)
        return library

    def arrivals(self, library: Library, count: int, tag: int) -> list[Path]:
        """`count` new photos in the staging folder, named and drawn for this run."""
        names = [f"arrival-{self.stamp}-{tag}-{i:03d}.jpg" for i in range(count)]
        return write_photos(library.staging, names, (SEED, 10**6, int(self.stamp), tag))

    def daemon(self, code: Code, library: Library, figures: Figures) -> None:
        """Restart the daemon on the library, time arrivals, stop it."""
        shutil.rmtree(library.staging, ignore_errors=True)
        singles = self.arrivals(library, self.singles, 1)
        burst = self.arrivals(library, self.burst, 2)
        photos = library.photos(self.size)  # as the daemon restarts
        tree = AlbumTree(library.albums)
        with (
            tempfile.TemporaryDirectory(prefix="autoalbum-scale-") as short,  # AF_UNIX: 107 bytes
            NotifySocket(Path(short) / "notify") as notify,
        ):
            usec = str(WATCHDOG_SEC * 1_000_000)
            env = code.env(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC=usec)
            launched = time.monotonic()
            daemon = start_daemon(code, library, env, subprocess.PIPE)
            assert daemon.stdout is not None
            log = LogLines(daemon.stdout, library.log("daemon"))
            try:
                self._started(daemon, notify, log, launched, figures)
                figures.values["idle_rss"] = settled_rss(daemon.pid)
                self._singles(library, tree, singles, figures)
                self._burst(library, tree, burst, figures)
                figures.values["daemon_peak_rss"] = memory(daemon.pid, "VmHWM")
            except (TimeoutError, RuntimeError, OSError) as error:
                figures.notes.append(f"daemon: {error}; its last lines:\n{log.tail()}")
            finally:
                if daemon.poll() is None:
                    figures.values["stop_s"] = stop_daemon(daemon, timeout=120)
        if "idle_rss" in figures.values and "empty_rss" in figures.values:
            grown = figures.values["idle_rss"] - figures.values["empty_rss"]
            figures.values["ram_per_photo"] = grown / photos

    def _started(
        self,
        daemon: subprocess.Popen[bytes],
        notify: NotifySocket,
        log: LogLines,
        launched: float,
        figures: Figures,
    ) -> None:
        """Wait for READY=1 and the end of the catch-up scan; record when each came."""

        def started() -> bool:
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited with status {daemon.returncode}")
            return bool(notify.times("READY=1")) and log.first("watching") is not None

        wait_for(started, "READY=1 and the daemon's catch-up scan", self.timeout or 3600)
        figures.values["ready_s"] = min(notify.times("READY=1")) - launched
        figures.values["watching_s"] = (log.first("watching") or 0) - launched

    def _singles(
        self, library: Library, tree: AlbumTree, photos: Sequence[Path], figures: Figures
    ) -> None:
        latencies = []
        for photo in photos:
            copied = copy_in(photo, library.arrivals)
            latencies.append(tree.wait([library.arrivals / photo.name], 120) - copied)
            time.sleep(1.0)  # the daemon back to idle
        if latencies:
            figures.values["single_median"] = statistics.median(latencies)
            figures.values["single_max"] = max(latencies)

    def _burst(
        self, library: Library, tree: AlbumTree, photos: Sequence[Path], figures: Figures
    ) -> None:
        if not photos:
            return
        for photo in photos:
            copied = copy_in(photo, library.arrivals)
        timeout = self.timeout or 600
        linked = tree.wait([library.arrivals / p.name for p in photos], timeout)
        figures.values["burst_s"] = linked - copied

    def recluster(self, code: Code, library: Library, figures: Figures) -> None:
        if run := self._command(code, library, figures, "recluster"):
            figures.values["recluster_s"] = run.seconds
            figures.values["recluster_rss"] = float(run.peak_rss)

    def similar(self, code: Code, library: Library, figures: Figures) -> None:
        """The first `autoalbum similar` on the library: it builds the search index (issue
        23) where the version has one, so that the weighing counts it as a library has it."""
        photo = min(library.arrivals.iterdir(), default=None)
        if photo is not None and (run := self._command(code, library, figures, "similar", photo)):
            figures.values["similar_s"] = run.seconds

    def _command(
        self, code: Code, library: Library, figures: Figures, command: str, *args: Path
    ) -> Measured | None:
        """`autoalbum COMMAND ARGS` on the library, measured; None (noted) if it failed."""
        with library.log(command).open("wb") as log:
            try:
                return run_measured(
                    code.command(command, *map(str, args), "--config", str(library.config)),
                    code.env(), log, self.timeout,
                )  # fmt: skip
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                figures.notes.append(f"autoalbum {command}: {error} (see {library.log(command)})")
                return None

    def weigh(self, library: Library, figures: Figures) -> None:
        """Bytes per photo of the state folder and of the album tree's own files."""
        photos = library.photos(self.size)
        state = folder_bytes(library.state, lambda _: True)
        tree = folder_bytes(library.albums, lambda _: True)
        figures.state_files = dict(sorted(state.items(), key=lambda item: -item[1])[:4])
        figures.values["state_per_photo"] = sum(state.values()) / photos
        figures.values["tree_per_photo"] = sum(tree.values()) / photos
        figures.values["disk_per_photo"] = (sum(state.values()) + sum(tree.values())) / photos


def start_daemon(
    code: Code, library: Library, env: dict[str, str], output: IO[bytes] | int
) -> subprocess.Popen[bytes]:
    """`autoalbum run` of `code` on `library`, its log to `output`."""
    command = code.command("run", "--config", str(library.config))
    return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def copy_in(photo: Path, folder: Path) -> float:
    """Copy a staged photo into a watched folder; the moment the copy finished."""
    shutil.copy(photo, folder / photo.name)
    return time.perf_counter()


def settled_rss(pid: int, quiet: float = 2.0, limit: float = 60.0) -> float:
    """The process's RSS once it has stayed within 1% for `quiet` seconds (at most `limit`)."""
    started = last_change = time.monotonic()
    rss = memory(pid)
    while time.monotonic() - last_change < quiet and time.monotonic() - started < limit:
        time.sleep(0.25)
        now = memory(pid)
        if abs(now - rss) > rss / 100:
            rss, last_change = now, time.monotonic()
    return float(memory(pid))


def empty_rss(code: Code, work: Path) -> float | None:
    """RSS of the version's daemon on an empty library, settled: the fixed cost."""
    root = work / f"empty-{code.key}"
    library = new_library(root, root / "photos")
    (root / "photos").mkdir()
    with library.log("daemon").open("wb") as output:
        daemon = start_daemon(code, library, code.env(), output)
        try:
            wait_for(lambda: "watching" in library.log("daemon").read_text(), "the daemon", 120)
            return settled_rss(daemon.pid)
        except TimeoutError:
            print(f"{code.name}: the empty daemon never started; see {library.log('daemon')}")
            return None
        finally:
            stop_daemon(daemon)


# Steps of the baseline past --cap-s


STEP_TIMES = {
    "index": ("index_s",),
    "daemon": ("watching_s", "burst_s"),
    "recluster": ("recluster_s",),
    "similar": ("similar_s",),
}


def estimate(step: str, current: Figures, earlier: tuple[Figures, Figures] | None) -> float:
    """The baseline's seconds for `step`: the checkout's at this size, times the baseline's
    ratio to it at the size before (1 at the first)."""
    keys = STEP_TIMES[step]
    now = sum(current.values.get(k, 0.0) for k in keys)
    if earlier is None:
        return now
    old, new = (sum(f.values.get(k, 0.0) for k in keys) for f in earlier)
    return now * (old / new if new > 0 and old > 0 else 1.0)


Skip = Callable[[str], "str | None"]  # why to skip a step, or None to run it
STEPS = ("index", "daemon", "recluster", "similar")


@dataclass
class Version:
    """One version's run at one size: its bench (with its time limit), what it skips, what it
    measured and the library it built."""

    code: Code
    bench: Bench
    skip: Skip
    figures: Figures
    library: Library | None = None

    def step(self, step: str) -> None:
        """Run `step` unless it is skipped or has no library to run on."""
        library = self.library
        if step != "index" and library is None:
            return
        if why := self.skip(step):
            self.figures.notes.append(f"skipped {step}: {why}")
            return
        print(f"{self.code.name}: {self.bench.size:,} photos: {step}", flush=True)
        if library is None:
            self.library = self.bench.library(self.code, self.figures)
        elif step == "daemon":
            self.bench.daemon(self.code, library, self.figures)
        elif step == "recluster":
            self.bench.recluster(self.code, library, self.figures)
        else:
            self.bench.similar(self.code, library, self.figures)


def measure(versions: Sequence[Version]) -> None:
    """Every figure of every version, step by step, the versions taking turns at each step
    (so that a change in the machine's load falls on both), then their libraries weighed."""
    for step in STEPS:
        for version in versions:
            version.step(step)
    for version in versions:
        if version.library is not None:
            version.bench.weigh(version.library, version.figures)


def print_estimates(size: int, photos: PhotoSet, current: Figures) -> None:
    """Linear estimates of generating and indexing the bigger sets, from this one."""
    for bigger in (100_000, 1_000_000):
        if bigger <= size:
            continue
        scale = bigger / size
        parts = []
        if photos.generated_s is not None:
            parts.append(f"generating the photos ~{photos.generated_s * scale / 60:.0f} min")
        if "index_s" in current.values:
            parts.append(f"autoalbum index ~{current.values['index_s'] * scale / 60:.0f} min")
        if parts:
            print(f"estimated from {size:,} for {bigger:,}: {', '.join(parts)} (linear)")


# The run


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000", help="library sizes, comma-separated "
        "(default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a smoke test: --sizes 2000")
    parser.add_argument(
        "--baseline", default=BASELINE, metavar="REF", help="git commit to compare with "
        "(default %(default)s, main before the issue-15 storage work)",
    )  # fmt: skip
    parser.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "autoalbum-scale",
        help="where photo sets (always) and libraries (with --reuse) are kept "
        "(default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--reuse", action="store_true", help="measure each version's library again rather than "
        "building it anew (its index figures are those of its build)",
    )  # fmt: skip
    parser.add_argument(
        "--cap-s", type=float, default=1800, help="skip or stop a baseline step past this many "
        "seconds (default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--singles", type=int, default=5, help="single arrivals (default 5)")
    parser.add_argument("--burst", type=int, default=200, help="photos in the burst (default 200)")
    args = parser.parse_args()
    args.sizes = [2000] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    return args


@contextlib.contextmanager
def versions(args: argparse.Namespace) -> Iterator[list[Code]]:
    """This checkout, and the baseline's temporary worktree unless --no-baseline."""
    current = current_code()
    print(f"current: this checkout ({describe_checkout()})")
    if args.no_baseline:
        yield [current]
        return
    ref = git("rev-parse", "--short=10", args.baseline)
    print(f"baseline: {args.baseline} ({ref})")
    with (
        tempfile.TemporaryDirectory(prefix="autoalbum-scale-code-") as folder,
        checkout(ref, Path(folder) / "baseline") as daemon,
    ):
        yield [current, Code("baseline", daemon, ref)]


def capped(cap: float, now: Figures, earlier: tuple[Figures, Figures] | None) -> Skip:
    """Why a baseline step is skipped: its estimate past `cap`; None to run it."""

    def why(step: str) -> str | None:
        guess = estimate(step, now, earlier)
        return f"estimated {guess:.0f} s > --cap-s {cap:.0f}" if guess > cap else None

    return why


def _no_skip(step: str) -> str | None:
    return None


def main() -> None:
    args = _arguments()
    args.work.mkdir(parents=True, exist_ok=True)
    earlier: tuple[Figures, Figures] | None = None
    with versions(args) as codes:
        empty: dict[str, dict[str, float]] = {code.name: {} for code in codes}
        for code in codes:
            if (rss := empty_rss(code, args.work)) is not None:
                empty[code.name]["empty_rss"] = rss
        for size in args.sizes:
            photos = photo_set(args.work, size)
            bench = Bench(size, photos, args.work, args.reuse, args.singles, args.burst, None)
            runs = [Version(codes[0], bench, _no_skip, Figures(dict(empty[codes[0].name])))]
            for code in codes[1:]:
                limited = dataclasses.replace(bench, timeout=args.cap_s)
                skip = capped(args.cap_s, runs[0].figures, earlier)
                runs.append(Version(code, limited, skip, Figures(dict(empty[code.name]))))
            measure(runs)
            figures = {run.code.name: run.figures for run in runs}
            print_estimates(size, photos, figures["current"])
            print_table(size, figures)
            if "baseline" in figures:
                earlier = (figures["baseline"], figures["current"])


if __name__ == "__main__":
    main()
