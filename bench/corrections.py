"""What the user's corrections buy: a user fixes the default albums of a labelled set.

For each set, a real library (real catalog, keeper and album tree in a temp folder) holds 5/6
of the set's photos, as small PNG stand-ins whose colour numbers the photo; a stand-in model
returns that photo's cached EfficientNet-Lite0 vector (the product's own: the raw pooled
features of ~/.cache/autoalbum/bench/<set>.raw-flip.npz, made by bench/cluster_methods.py,
L2-normalised). Then, as the issue asks:

1. the default albums (the first index clusters them): NMI and one-to-one accuracy "before";
2. per class, `--moves` photos outside the album holding most of the class are moved there,
   by moving their links in the album folder as a user would in a file browser (or with
   `--by command`, by `autoalbum move`), and the library reclusters: "corrected";
3. the remaining sixth (20% more photos) arrives and is filed by `index` (assign_new): "grown";
4. another recluster: "reclustered".

A control run does the same with no corrections. _unsorted counts as one more album.

    PYTHONPATH=daemon python bench/corrections.py [--sets flowers17,mnist] [--moves 5] [--by X]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from sklearn.metrics import normalized_mutual_info_score

from autoalbum.config import ClusterConfig, Config, LibraryConfig
from autoalbum.embedding.embedder import Embeddings, normalise
from autoalbum.embedding.model import cache_dir
from autoalbum.evaluation.evaluate import hungarian_accuracy
from autoalbum.library.library import Library

sys.path.insert(0, str(Path(__file__).parent))
from cluster_methods import LabelledSet, mixture

Matrix = NDArray[np.float32]
SIZE = 8  # the stand-in photos' side in pixels


class Numbered:
    """A stand-in model: a photo's colour numbers it; its vector is that photo's cached one."""

    input_size = SIZE

    def __init__(self, vectors: Matrix) -> None:
        self.vectors = vectors

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        pixel = images[:, SIZE // 2, SIZE // 2, :].astype(np.int64)
        return Embeddings(self.vectors[pixel[:, 0] * 256 + pixel[:, 1]], None, None)


def cached_set(name: str) -> LabelledSet:
    cache = cache_dir() / "bench" / f"{name}.raw-flip.npz"
    if not cache.is_file():
        raise SystemExit(f"{cache} is missing: run bench/cluster_methods.py once to embed {name}")
    stored = np.load(cache)
    features = stored["features"].astype(np.float32)
    half = features.shape[1] // 2
    return LabelledSet(name, features[:, :half], features[:, half:], stored["labels"])


def labelled(name: str) -> LabelledSet:
    if name == "mixture":  # cluster_methods' mixed library: two sets' classes in one pool
        parts = (("catsdogs", 1.0), ("flowers17", 0.5), ("hymenoptera", 1.0))
        return mixture(name, parts, {n: cached_set(n) for n, _ in parts})
    return cached_set(name)


def write_photos(folder: Path, rows: NDArray[np.int64]) -> dict[str, int]:
    """A PNG per row, of one colour that numbers it; returns file name -> row."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for row in rows:
        colour = (int(row) // 256, int(row) % 256, 7)
        name = f"p{int(row):05d}.png"
        Image.new("RGB", (SIZE, SIZE), colour).save(folder / name)
        names[name] = int(row)
    return names


def albums_of(library: Library, rows_by_name: dict[str, int]) -> dict[int, int]:
    """Row -> album number (0: _unsorted), read from the catalog."""
    number = {a.id: a.number for a in library.catalog.albums()}
    found = {}
    for album, members in library.catalog.members().items():
        for member in members:
            found[rows_by_name[member.path.name]] = number[album]
    return found


def score(found: dict[int, int], labels: NDArray[np.int64]) -> tuple[float, float, int]:
    rows = np.array(sorted(found))
    truth, albums = labels[rows], np.array([found[r] for r in rows])
    nmi = float(normalized_mutual_info_score(truth, albums))
    return nmi, hungarian_accuracy(truth, albums), len(set(albums.tolist()))


def corrections(
    found: dict[int, int], labels: NDArray[np.int64], moves: int, rng: np.random.Generator
) -> dict[int, list[int]]:
    """Album number -> rows to move there: per class, `moves` photos outside its main album."""
    wanted: dict[int, list[int]] = {}
    for label in np.unique(labels):
        rows = [r for r in found if labels[r] == label]
        home = Counter(found[r] for r in rows if found[r] != 0).most_common(1)[0][0]
        misfiled = [r for r in rows if found[r] != home]
        picked = rng.choice(len(misfiled), min(moves, len(misfiled)), replace=False)
        wanted.setdefault(home, []).extend(misfiled[int(i)] for i in picked)
    return wanted


def drag_links(out: Path, wanted: dict[int, list[int]]) -> None:
    """What a user does in a file browser: each photo's link moved into its album's folder."""
    links = {link.resolve().name: link for link in out.glob("*/*") if link.is_symlink()}
    folders = {int(f.name.split("-")[0]): f for f in out.iterdir() if f.name[0].isdigit()}
    for album, rows in wanted.items():
        for row in rows:
            link = links[f"p{row:05d}.png"]
            if link.parent != folders[album]:
                link.rename(folders[album] / link.name)


def run(
    data: LabelledSet, moves: int, correct: bool, seed: int, by_browser: bool
) -> list[tuple[str, ...]]:
    vectors = normalise(data.raw)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(vectors))
    first, later = order[: round(len(order) / 1.2)], order[round(len(order) / 1.2) :]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = Config(
            library=LibraryConfig(
                folders=(root / "photos",), albums=root / "albums", state=root / "state"
            ),
            cluster=ClusterConfig(),
        )
        model = Numbered(vectors)
        names = write_photos(root / "photos", first)
        with Library(config, lambda: model) as library:  # type: ignore[arg-type,return-value]
            library.index_files()

            def line(step: str, started: float) -> None:
                nmi, accuracy, k = score(albums_of(library, names), data.labels)
                seconds = time.monotonic() - started
                lines.append((step, f"{nmi:.3f}", f"{accuracy:.3f}", str(k), f"{seconds:.1f}"))

            line("default albums", time.monotonic())
            started = time.monotonic()
            if correct:
                found = albums_of(library, names)
                wanted = corrections(found, data.labels, moves, rng)
                if by_browser:
                    drag_links(root / "albums", wanted)
                    library.take_gestures()
                for album, rows in wanted.items() if not by_browser else ():
                    paths = [root / "photos" / f"p{r:05d}.png" for r in rows]
                    library.move(paths, str(album))
            library.recluster()
            line("corrected + recluster" if correct else "recluster", started)
            started = time.monotonic()
            names.update(write_photos(root / "photos", later))
            library.index_files()
            line(f"+{len(later)} photos filed", started)
            started = time.monotonic()
            library.recluster()
            line("second recluster", started)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="flowers17,catsdogs,hymenoptera,mnist,cifar10,mixture")
    parser.add_argument("--moves", type=int, default=5, help="photos moved per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--by", choices=["browser", "command"], default="browser",
                        help="move links in the album folder, or run autoalbum move")  # fmt: skip
    args = parser.parse_args()
    for name in args.sets.split(","):
        data = labelled(name)
        print(f"\n{name}: {len(data.labels)} photos, {data.k} classes, {args.moves} moves/class")
        print(f"  {'step':<24} {'NMI':>6} {'acc':>6} {'albums':>6} {'s':>6}   (control)")
        control = run(data, args.moves, False, args.seed, False)
        fixed = run(data, args.moves, True, args.seed, args.by == "browser")
        for row, other in zip(fixed, control, strict=True):
            step, nmi, accuracy, k, seconds = row
            print(f"  {step:<24} {nmi:>6} {accuracy:>6} {k:>6} {seconds:>6}"
                  f"   ({other[1]} {other[2]} k={other[3]})")  # fmt: skip


if __name__ == "__main__":
    main()
