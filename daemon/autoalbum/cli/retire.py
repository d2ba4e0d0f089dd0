"""`autoalbum retire`: an album is never made again."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument("album", help="album name, folder name (07-espresso) or number")


def run(args: argparse.Namespace) -> int:
    """Retire an album (as deleting its folder); its photos go to their next-nearest albums."""
    with open_library(args) as library:
        album = library.retire(args.album)
    print(f"retired {printable(album.name)!r}")
    return 0


COMMAND = Command("retire", add_arguments, run)
