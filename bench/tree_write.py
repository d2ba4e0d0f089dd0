"""How long does the album tree take to follow an arrival in a big library? Model time excluded.

Builds a synthetic library of N photos in K albums straight into a catalog (tiny real photo
files are not needed for the tree: links may dangle), writes its first tree, then takes in
real arrivals (small PNGs, embedded by a stand-in model of 48 mean colours) and times, per
arrival batch, `Library.ingest` without the tree and `Library.write_tree` after it (which
first looks for the user's gestures in the album folder, library/gestures.py). Also the first
`write_tree` after opening (the daemon's start-up "bring the tree in line"), and the gesture
checks: after each write, the next look (`take_gestures`, as the daemon's idle loop makes it
soon after a write: it reads the folders written once more, library/gesture_watch.py), the
idle "did the album folder change?" (`album_folder_changed`, per call), `take_gestures` with
nothing changed, and `take_gestures` after the user moved one link, and after they deleted one;
last, a new process's first look (a command's, or the daemon's at start) with nothing changed,
with the stamps the last look saved and without them (a full look).

Runs against whatever `autoalbum` is on PYTHONPATH, so the same script measures two checkouts:

    PYTHONPATH=daemon .venv/bin/python bench/tree_write.py --photos 10000 100000 --dir /dev/shm
    PYTHONPATH=/tmp/base-tree/daemon .venv/bin/python bench/tree_write.py --photos 10000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from autoalbum.config import ClusterConfig, Config, LibraryConfig
from autoalbum.library.catalog import CATALOG_NAME, Catalog
from autoalbum.library.library import Library
from autoalbum.library.records import FileRecord, Status
from colour_library import ColourEmbedder

DIM = 48  # ColourEmbedder's 4x4 grid of RGB means


def _config(root: Path) -> Config:
    return Config(
        library=LibraryConfig(
            folders=(root / "photos",), albums=root / "albums", state=root / "state"
        ),
        cluster=ClusterConfig(k=50, unsorted_distance=2.0),
    )


def _colour_vectors(colours: np.ndarray) -> np.ndarray:
    """What ColourEmbedder makes of a flat photo of each colour."""
    grid = np.repeat(colours[:, None, :], 16, axis=1).reshape(len(colours), -1) - 127.5
    return (grid / np.linalg.norm(grid, axis=1, keepdims=True)).astype(np.float32)


def build(root: Path, photos: int, albums: int, seed: int = 0) -> np.ndarray:
    """A catalog of `photos` photos in `albums` albums, straight into SQLite; returns the
    albums' colours."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(0, 255, (albums, 3))
    centres = _colour_vectors(colours)
    (root / "photos").mkdir(parents=True)
    (root / "state").mkdir()
    label = rng.integers(0, albums, photos)
    noise = rng.normal(0, 0.02, (photos, DIM)).astype(np.float32)
    vectors = centres[label] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Catalog(root / "state" / CATALOG_NAME) as catalog, catalog.transaction():
        catalog.set_meta("dim", str(DIM))
        ids = [catalog.add_album(n + 1, f"album {n + 1}", centres[n], False) for n in range(albums)]
        content = []
        for i in range(photos):
            cid = catalog.add_content(f"{i:064x}", vectors[i], None, f"q{i}")
            folder = root / "photos" / f"{i // 1000:04d}"
            catalog.put_file(FileRecord(folder / f"IMG_{i:06d}.jpg", 1000 + i, i, f"{i:064x}",
                                        Status.OK, None, cid))  # fmt: skip
            content.append(cid)
        distances = 1.0 - np.einsum("ij,ij->i", vectors, centres[label])
        catalog.assign(content, [ids[a] for a in label], [float(d) for d in distances])
    for i in range(0, photos, 1000):
        (root / "photos" / f"{i // 1000:04d}").mkdir()
    return colours


def arrivals(root: Path, colours: np.ndarray, count: int, tag: str, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder = root / "photos" / f"new-{tag}"
    folder.mkdir()
    paths = []
    for i in range(count):
        colour = colours[rng.integers(0, len(colours))]
        pixels = np.clip(colour + rng.normal(0, 3, (32, 32, 3)), 0, 255).astype(np.uint8)
        path = folder / f"arrival{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def measure(photos: int, albums: int, batches: list[int], where: Path | None) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="tree-bench-", dir=where))
    try:
        colours = build(root, photos, albums)
        model = ColourEmbedder()
        result: dict[str, float] = {}
        with Library(_config(root), lambda: model) as library:  # type: ignore[arg-type]
            started = time.perf_counter()
            library.write_tree()
            result["first tree"] = time.perf_counter() - started
        with Library(_config(root), lambda: model) as library:  # type: ignore[arg-type]
            started = time.perf_counter()
            library.write_tree()
            result["start: bring in line"] = time.perf_counter() - started
            library.embedder  # noqa: B018  (loaded before timing, as the daemon does)
            for count in batches:
                for attempt in range(2):
                    paths = arrivals(
                        root, colours, count, f"{count}-{attempt}", 10 * count + attempt
                    )
                    started = time.perf_counter()
                    library.ingest(paths, write_tree=False)
                    ingested = time.perf_counter()
                    library.write_tree()
                    done = time.perf_counter()
                    time.sleep(0.1)  # the daemon's idle check reports the folders written
                    looked = time.perf_counter()
                    library.take_gestures()  # ... and reads them once more
                    result[f"{count} arrival(s): ingest"] = ingested - started
                    result[f"{count} arrival(s): write_tree"] = done - ingested
                    result[f"{count} arrival(s): next look"] = time.perf_counter() - looked
            result.update(_gesture_checks(library, root / "albums"))
            gone = paths[:1]
            gone[0].unlink()
            started = time.perf_counter()
            library.ingest([], gone, write_tree=False)
            library.write_tree()
            result["1 photo gone: ingest + write_tree"] = time.perf_counter() - started
            time.sleep(0.1)  # the daemon's idle check reports the folders written ...
            library.take_gestures()  # ... and its next look reads them once more
        with Library(_config(root), lambda: model) as library:  # type: ignore[arg-type]
            started = time.perf_counter()
            assert library.take_gestures() == 0
            result["a new process's first look, nothing changed"] = time.perf_counter() - started
        (root / "state" / "tree-stamps.json").unlink(missing_ok=True)  # as before they were saved
        with Library(_config(root), lambda: model) as library:  # type: ignore[arg-type]
            started = time.perf_counter()
            assert library.take_gestures() == 0
            result["... with no stamps saved (a full look)"] = time.perf_counter() - started
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _gesture_checks(library: Library, out: Path) -> dict[str, float]:
    """The daemon's idle check, and taking gestures with nothing changed and after one move."""
    result: dict[str, float] = {}
    calls = 20
    started = time.perf_counter()
    for _ in range(calls):
        assert not library.album_folder_changed
    result["idle: folder changed? (ms per call)"] = 1000 * (time.perf_counter() - started) / calls
    started = time.perf_counter()
    assert library.take_gestures() == 0
    result["take_gestures, nothing changed"] = time.perf_counter() - started
    source, target = sorted(f for f in out.iterdir() if f.is_dir() and f.name[0] != ".")[1:3]
    link = next(e for e in source.iterdir() if e.is_symlink())
    link.rename(target / f"moved-{link.name}")
    started = time.perf_counter()
    assert library.take_gestures() == 1
    result["user moved 1 link: take_gestures + write"] = time.perf_counter() - started
    time.sleep(0.1)  # as the daemon's idle check waits for the folders written
    library.take_gestures()
    gone = next(e for e in sorted(f for f in out.iterdir() if f.is_dir())[3].iterdir()
                if e.is_symlink())  # fmt: skip
    gone.unlink()
    started = time.perf_counter()
    assert library.take_gestures() == 1
    result["user deleted 1 link: take_gestures + write"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--albums", type=int, default=50)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 200])
    parser.add_argument("--dir", type=Path, help="where to build (default: the temp folder)")
    args = parser.parse_args()
    for photos in args.photos:
        result = measure(photos, args.albums, args.batches, args.dir)
        print(json.dumps({"photos": photos, "albums": args.albums,
                          **{k: round(v, 3) for k, v in result.items()}}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
