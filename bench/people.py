"""How well does the People tree find the people of a labelled set? The real `autoalbum index`.

Indexes a folder of labelled faces (one subfolder per person, default
../shared/datasets/faces-lfw: 155 people, 8-19 photos each) as a library, with people off and
then on, and scores the People tree against the labels: for each labelled person, the F1 of the
person folder that best covers that person's photos (the mean over persons is the issue's
"mean best-match F1"), the number of person folders, and seconds per photo for both runs.
`--persons N` takes N random persons (seeds with `--seed`), `--per-person M` at most M photos
each: the method must not depend on the set's size.

    .venv/bin/python bench/people.py [--persons 60] [--seed 0] [--set DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "daemon"))

from autoalbum.albums.sidecar import read_tree  # noqa: E402

DEFAULT_SET = ROOT.parent / "shared" / "datasets" / "faces-lfw"


def _labelled(folder: Path, persons: int | None, per_person: int | None, seed: int) -> dict:
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    rng = random.Random(seed)
    if persons:
        people = sorted(rng.sample(people, min(persons, len(people))))
    chosen = {}
    for person in people:
        photos = sorted(person.glob("*.jpg"))
        if per_person:
            photos = sorted(rng.sample(photos, min(per_person, len(photos))))
        chosen[person.name] = photos
    return chosen


def _library(work: Path, labelled: dict[str, list[Path]]) -> Path:
    """The chosen photos as links in one photo folder, so that a subset is a library."""
    photos = work / "photos"
    for person, paths in labelled.items():
        (photos / person).mkdir(parents=True)
        for path in paths:
            os.symlink(path, photos / person / path.name)
    return photos


def _index(work: Path, photos: Path, people: bool) -> tuple[float, Path]:
    name = "on" if people else "off"
    config = work / f"config-{name}.yaml"
    config.write_text(
        f"library:\n  folders: [{photos}]\n  albums: {work / name / 'Albums'}\n"
        f"  state: {work / name / 'state'}\n  follow_symlinks: true\n"
        f"people:\n  enabled: {str(people).lower()}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", "-q", "index", "--config", str(config)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "daemon")},
    )
    return time.monotonic() - started, work / name / "People"


def _score(tree: Path, labelled: dict[str, list[Path]]) -> tuple[float, int, float]:
    """Mean best-match F1 over persons, person folders, and the share of folders whose photos
    are mostly of one labelled person (purity)."""
    read = read_tree(tree)
    folders: list[set[str]] = []
    if read is not None:
        folders = [{os.path.basename(m.path) for m in members} for members in read[1].values()]
    scores = []
    for photos in labelled.values():
        truth = {p.name for p in photos}
        best = 0.0
        for folder in folders:
            hit = len(truth & folder)
            if hit:
                best = max(best, 2 * hit / (len(truth) + len(folder)))
        scores.append(best)
    label_of = {p.name: person for person, photos in labelled.items() for p in photos}
    pure = 0
    for folder in folders:
        counts: dict[str, int] = {}
        for name in folder:
            counts[label_of.get(name, "?")] = counts.get(label_of.get(name, "?"), 0) + 1
        pure += max(counts.values()) >= 0.5 * len(folder)
    return sum(scores) / len(scores), len(folders), pure / max(1, len(folders))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--per-person", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.set.is_dir():
        sys.exit(f"no labelled set at {args.set}")
    labelled = _labelled(args.set, args.persons, args.per_person, args.seed)
    count = sum(len(p) for p in labelled.values())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photos = _library(work, labelled)
        off, _ = _index(work, photos, people=False)
        on, tree = _index(work, photos, people=True)
        f1, folders, purity = _score(tree, labelled)
    print(f"{args.set.name}: {len(labelled)} persons, {count} photos (seed {args.seed})")
    print(f"  mean best-match F1 {f1:.3f}, {folders} person folders, purity {purity:.2f}")
    print(f"  index with people off {off / count * 1000:.1f} ms/photo, on "
          f"{on / count * 1000:.1f} ms/photo: {off / on:.2f}x the throughput")  # fmt: skip


if __name__ == "__main__":
    main()
