"""`autoalbum sort`: cluster photo folders into a fresh album tree, no library needed."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from autoalbum.cli.options import (
    K_RANGE,
    Command,
    add_granularity_option,
    add_model_options,
    k_range,
    open_model,
    positive_int,
    progress_starter,
)
from autoalbum.printable import printable

if TYPE_CHECKING:
    from autoalbum.albums.sorter import SortSummary
    from autoalbum.albums.tree import Album


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", type=Path, metavar="SOURCE", help="photo folders")
    parser.add_argument("--out", required=True, type=Path, help="album folder to (re)create")
    parser.add_argument("--k", type=positive_int, help="number of albums (default: choose)")
    parser.add_argument(
        "--k-range", type=k_range, default=K_RANGE, metavar="MIN:MAX",
        help=f"fewest and most albums when --k is not given (default: {K_RANGE[0]}:{K_RANGE[1]})",
    )  # fmt: skip
    add_granularity_option(parser)
    parser.add_argument(
        "--method", choices=["spectral", "kmeans"], default="spectral",
        help="clustering method (default: spectral, the best measured)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per batch")
    parser.add_argument("--workers", type=positive_int, help="decode threads (default: cores)")
    parser.add_argument(
        "--no-faces", action="store_true",
        help="don't look for faces: faster, but albums of people are named by ImageNet's "
        "classes (suit, jersey) rather than portraits, group photos or people",
    )  # fmt: skip
    parser.add_argument(
        "--flat", action="store_true",
        help="no sub-albums: every album at the top, however clear the kinds inside it",
    )  # fmt: skip
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    """Sort photos under SOURCE folders into cluster albums under --out."""
    from autoalbum.albums.sorter import SortOptions, sort_photos
    from autoalbum.clustering.cluster import Method

    embedder = open_model(args)
    options = SortOptions(
        k=args.k,
        k_range=args.k_range,
        granularity=args.granularity or 0.0,
        batch_size=args.batch_size,
        workers=args.workers,
        method=Method(args.method),
        faces=not args.no_faces,
        nested=not args.flat,
        use_gpu=args.device != "cpu",
    )
    with ExitStack() as stack:
        summary = sort_photos(args.sources, args.out, embedder, options, progress_starter(stack))
    _print_summary(summary, args.out, embedder.provider)
    return 0


def _print_summary(summary: SortSummary, out: Path, provider: str) -> None:
    if summary.k_choice is not None:
        choice = summary.k_choice
        print(f"chose k={choice.k} ({choice.method} {choice.score:.3f})")
    children: dict[int | None, list[Album]] = {}
    for album in summary.albums:
        children.setdefault(album.parent, []).append(album)

    def show(parent: int | None, depth: int) -> None:
        for album in children.get(parent, []):
            indent = "  " * depth
            print(f"  {album.number:>3}  {len(album.members):>6}  {indent}{printable(album.label)}")
            show(album.number, depth + 1)

    show(None, 0)
    for failure in summary.failures:
        print(f"  failed: {printable(failure.path)}: {printable(failure.reason)}")
    top = len(children.get(None, []))
    inner = len(summary.albums) - top
    nested = f" (and {inner} sub-albums)" if inner else ""
    print(
        f"sorted {summary.images} images into {top} albums{nested} in {printable(out)} "
        f"({len(summary.failures)} failed) in {summary.seconds:.1f} s, "
        f"{summary.images_per_second:.1f} images/s on {provider}"
    )


COMMAND = Command("sort", add_arguments, run)
