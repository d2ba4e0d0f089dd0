"""`autoalbum duplicates`: groups of identical and near-identical photos in the library."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from autoalbum.cli.options import Command, add_library_options, open_library, progress_starter
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument(
        "--min-similarity", type=float,
        help="cosine similarity that makes two photos near duplicates (default: 0.90)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """List groups of identical and near-identical photos."""
    with open_library(args, check=False) as library, ExitStack() as stack:
        progress = progress_starter(stack, "duplicates")
        groups = (
            library.duplicates(args.min_similarity, progress)
            if args.min_similarity is not None
            else library.duplicates(progress=progress)
        )
    for number, group in enumerate(groups, 1):
        print(f"group {number} ({group.kind}):")
        for path in group.paths:
            print(f"  {printable(path)}")
    print(f"{len(groups)} groups of duplicates")
    return 0


COMMAND = Command("duplicates", add_arguments, run)
