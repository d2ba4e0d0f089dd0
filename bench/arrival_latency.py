"""How fast does a copied photo appear in its album? The real daemon, on temp folders.

Starts `autoalbum run` as a subprocess, then (1) copies single photos one at a time and
measures, for each, the time from its copy finishing to its symlink existing, and (2) copies a
burst of 200 photos and measures the time from the last copy finishing to the last symlink.
The baseline is the same work done the way one would without a daemon: rerunning
`autoalbum index` after the copy (process start, model load, scan, embed, file). A quarter of
the photos show a face (scikit-image's astronaut); `--no-people` measures with people off.

    .venv/bin/python bench/arrival_latency.py [--burst 200] [--singles 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from daemon_runs import code_env, start_daemon, stop_daemon, time_index, wait_for, write_config

SUBJECTS = ("chelsea", "coffee", "rocket", "astronaut")


def _photos(folder: Path, count: int) -> list[Path]:
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    sources = [Image.fromarray(getattr(skimage.data, s)()) for s in SUBJECTS]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        image = sources[i % len(sources)]
        w, h = image.size
        left, top = int(rng.integers(0, w // 5)), int(rng.integers(0, h // 5))
        path = folder / f"{SUBJECTS[i % len(SUBJECTS)]}-{i:04d}.jpg"
        image.crop((left, top, left + int(w * 0.8), top + int(h * 0.8))).save(path, quality=88)
        paths.append(path)
    return paths


def _linked(albums: Path) -> set[str]:
    return {os.path.basename(os.readlink(p)) for p in albums.rglob("*") if p.is_symlink()}


def _all_linked(albums: Path, photos: list[Path]) -> Callable[[], bool]:
    names = {p.name for p in photos}
    return lambda: names <= _linked(albums)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--singles", type=int, default=10)
    parser.add_argument(
        "--no-people", action="store_true", help="people off (no faces looked for), to compare"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="autoalbum-latency-"))
    staging = _photos(root / "staging", args.burst + args.singles + 13)
    seed, singles = staging[:12], staging[12 : 12 + args.singles]
    burst = staging[12 + args.singles : -1]
    photos, albums = root / "photos", root / "albums"
    photos.mkdir()
    for path in seed:
        shutil.copy(path, photos / path.name)
    config = write_config(
        root,
        photos,
        cluster={"k": 4},
        watch={"settle_seconds": 0.5, "reconcile_minutes": 0},
        recluster={"after_new_images": 100000, "after_minutes": 600},
        people={"enabled": not args.no_people},
    )
    daemon = start_daemon(config, code_env())
    filed = "the daemon to file the photo"
    try:
        wait_for(lambda: len(_linked(albums)) == len(seed), filed)
        latencies = []
        for path in singles:
            shutil.copy(path, photos / path.name)
            copied = time.perf_counter()
            latencies.append(wait_for(_all_linked(albums, [path]), filed) - copied)
            time.sleep(0.2)
        for path in burst:
            shutil.copy(path, photos / path.name)
        copied = time.perf_counter()
        burst_latency = wait_for(_all_linked(albums, burst), filed) - copied
    finally:
        stop_daemon(daemon, timeout=30)
    extra = staging[-1]
    shutil.copy(extra, photos / extra.name)
    baseline = time_index(config, code_env())
    median = statistics.median(latencies)
    print(
        f"single photo, copy finished -> symlink: median {median:.2f} s, "
        f"max {max(latencies):.2f} s over {len(latencies)} (target 2 s; includes 0.5 s settling)"
    )
    print(f"burst of {len(burst)}: last copy finished -> all filed: {burst_latency:.2f} s")
    print(
        f"baseline, rerun 'autoalbum index' for one new photo: {baseline:.2f} s "
        f"({baseline / median:.1f}x the daemon's median)"
    )
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
