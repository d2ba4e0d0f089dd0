"""Bytes read and wall time of `autoalbum index` from scratch (issue 9, item 6: read each photo
once): this checkout against a baseline commit, on generated 12 MP JPEGs.

Each run indexes the same photos into fresh state and album folders, alternating baseline and
new. The child reports its own /proc/self/io as it exits: rchar (bytes read through system
calls, page cache or not: the robust figure) and read_bytes (bytes fetched from storage: about
nothing while the photos are in the page cache), and its CPU time. With --cold, the photos'
pages are dropped from the page cache before each run (posix_fadvise DONTNEED: no root needed),
as at a real first start. Wall time is for what it is worth on a shared machine.

    .venv/bin/python bench/read_once.py --baseline COMMIT [--generate 200 | --photos DIR] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autoalbum.embedding.scan import find_images
from daemon_runs import (
    CLI,
    HERE_CODE,
    REPO,
    add_photo_options,
    checkout,
    cli,
    code_env,
    describe_checkout,
    write_config,
)
from first_start import build_model_cache, generated_photos, warm_page_cache

# Runs the CLI as `python -m autoalbum.cli` would, then writes this process's I/O counters.
_REPORTING_IO = """\
import atexit, json, os, runpy, sys
def report():
    fields = (line.split(": ") for line in open("/proc/self/io").read().splitlines())
    counters = {key: int(value) for key, value in fields}
    counters["cpu_seconds"] = os.times().user + os.times().system
    with open(os.environ["READ_ONCE_IO"], "w") as out:
        json.dump(counters, out)
atexit.register(report)
runpy.run_module("autoalbum.cli", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float  # user and system, all threads
    rchar: int
    read_bytes: int


def drop_from_page_cache(paths: Sequence[Path]) -> None:
    """Make the next read of each file come from storage (its pages are clean: never written)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def index_run(code: Path, photos: Path, root: Path, cache: Path) -> Run:
    """One `autoalbum index` from `code` on fresh folders under `root`."""
    root.mkdir()
    config = write_config(root, photos, cluster={"k": "auto"})
    io = root / "io.json"
    env = code_env(code, AUTOALBUM_CACHE=str(cache), READ_ONCE_IO=str(io))
    command = [sys.executable, "-c", _REPORTING_IO, *cli("index", config)[len(CLI) :]]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    counters = json.loads(io.read_text())
    return Run(seconds, counters["cpu_seconds"], counters["rchar"], counters["read_bytes"])


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def report(runs: dict[str, list[Run]], photo_bytes: int) -> None:
    print(f"{'':34}{'baseline':>14}{'new':>14}{'new/baseline':>14}")
    rows = [
        ("rchar (bytes read by syscalls)", lambda r: r.rchar, _mib),
        ("rchar / bytes of photos", lambda r: r.rchar / photo_bytes, lambda v: f"{v:.2f}"),
        ("rchar beyond the photos once", lambda r: r.rchar - photo_bytes, _mib),
        ("read_bytes (from storage)", lambda r: r.read_bytes, _mib),
        ("CPU time (user + system), median", lambda r: r.cpu_seconds, lambda v: f"{v:.1f} s"),
        ("wall time, median", lambda r: r.seconds, lambda v: f"{v:.1f} s"),
    ]
    for label, value, show in rows:
        old = statistics.median(value(r) for r in runs["baseline"])
        new = statistics.median(value(r) for r in runs["new"])
        ratio = f"{new / old:.2f}" if old else "-"
        print(f"{label:34}{show(old):>14}{show(new):>14}{ratio:>14}")
    for name, each in runs.items():
        times = ", ".join(f"{r.seconds:.1f} s ({r.cpu_seconds:.1f} s CPU)" for r in each)
        print(f"{name} runs: {times}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", metavar="REF", help="default: main")
    add_photo_options(parser, generate=200)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each version")
    parser.add_argument("--cold", action="store_true", help="photos out of the page cache")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "autoalbum-bench-model-cache",
        help="model cache, kept between runs of this bench",
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    photos = (args.photos or generated_photos(args.generate)).resolve()
    paths = find_images([photos])
    cache_state = "dropped before each run" if args.cold else "warm"
    photo_bytes = sum(path.stat().st_size for path in paths)
    warm_page_cache(paths)
    print(f"photos: {len(paths)} in {photos}, {_mib(photo_bytes)}, page cache {cache_state}")
    commit = ["git", "-C", str(REPO), "rev-parse", "--short", args.baseline]
    print(f"baseline: {args.baseline} ({subprocess.check_output(commit, text=True).strip()})")
    print(f"new: this checkout ({describe_checkout()})")
    with tempfile.TemporaryDirectory(prefix="autoalbum-read-once-") as temp:
        root = Path(temp)
        with checkout(args.baseline, root / "baseline-code") as old_code:
            codes = {"baseline": old_code, "new": HERE_CODE}
            build_model_cache(list(codes.values()), args.cache, paths[0])
            runs: dict[str, list[Run]] = {name: [] for name in codes}
            for i in range(args.repeat):
                for name, code in codes.items():
                    if args.cold:
                        drop_from_page_cache(paths)
                    runs[name].append(index_run(code, photos, root / f"{name}-{i}", args.cache))
    report(runs, photo_bytes)


if __name__ == "__main__":
    main()
