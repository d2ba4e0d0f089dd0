"""`autoalbum similar`: the library photos nearest one image."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from autoalbum.cli.options import (
    Command,
    add_library_options,
    open_library,
    positive_int,
    progress_starter,
)
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser, model=True)
    parser.add_argument("image", type=Path, metavar="IMAGE")
    parser.add_argument("-n", type=positive_int, default=10, help="how many (default 10)")


def run(args: argparse.Namespace) -> int:
    """List the library photos most similar to IMAGE (a photo of the library, a link to one
    in the albums, or any image)."""
    with open_library(args, check=False) as library, ExitStack() as stack:
        found = library.similar(args.image, args.n, progress_starter(stack, "search index"))
        for neighbour in found:
            print(f"{neighbour.similarity:6.3f}  {printable(neighbour.path)}")
    return 0


COMMAND = Command("similar", add_arguments, run)
