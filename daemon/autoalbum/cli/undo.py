"""`autoalbum undo`: take a correction back."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options, open_library


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument("id", type=int, help="the correction's id (autoalbum corrections)")


def run(args: argparse.Namespace) -> int:
    """Undo a correction (move, exclude, merge, retire or album) by its id."""
    with open_library(args) as library:
        record = library.undo(args.id)
    print(f"undid correction {record.id} ({record.kind.value})")
    return 0


COMMAND = Command("undo", add_arguments, run)
