"""`autoalbum exclude`: photos that never belong to an album."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO",
                        help="a photo, or its link in the album folder")  # fmt: skip
    parser.add_argument("--from", dest="album", required=True, metavar="ALBUM",
                        help="album name, folder name (07-espresso) or number")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Keep photos out of an album for good (as deleting their links in a file browser); they
    go to their next-nearest album or _unsorted."""
    with open_library(args) as library:
        album = library.exclude(args.photos, args.album)
    print(f"excluded {len(args.photos)} photos from {printable(album.name)!r}")
    return 0


COMMAND = Command("exclude", add_arguments, run)
