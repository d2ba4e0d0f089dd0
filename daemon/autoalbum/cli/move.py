"""`autoalbum move`: photos belong to an album, through every recluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO",
                        help="a photo, or its link in the album folder")  # fmt: skip
    parser.add_argument("--to", required=True, metavar="ALBUM",
                        help="album name, folder name (07-espresso) or number")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Put photos into an album for good (as moving their links there in a file browser)."""
    with open_library(args) as library:
        album = library.move(args.photos, args.to)
    print(f"moved {len(args.photos)} photos to {printable(album.name)!r}")
    return 0


COMMAND = Command("move", add_arguments, run)
