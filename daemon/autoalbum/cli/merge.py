"""`autoalbum merge`: one album into another, for good."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument("album", help="album name, folder name (07-espresso) or number")
    parser.add_argument("--into", required=True, metavar="ALBUM", help="the album it joins")


def run(args: argparse.Namespace) -> int:
    """Merge an album into another; later clusters like it join that album too."""
    with open_library(args) as library:
        source, target = library.merge(args.album, args.into)
    print(f"merged {printable(source.name)!r} into {printable(target.name)!r}")
    return 0


COMMAND = Command("merge", add_arguments, run)
