"""`autoalbum album`: a new album from example photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.cli.rename import text
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument("name", type=text, help="the album's name")
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO",
                        help="example photos (or their links in the album folder)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Make an album from example photos (as a new folder of links in a file browser); it is
    kept, and new photos like the examples are filed there."""
    with open_library(args) as library:
        album = library.make_album(args.name, args.photos)
    print(f"made album {album.number} {printable(album.name)!r} from {len(args.photos)} photos")
    return 0


COMMAND = Command("album", add_arguments, run)
