"""`autoalbum corrections`: the corrections in force, with their ids for `autoalbum undo`."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options, open_library


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)


def run(args: argparse.Namespace) -> int:
    """List the corrections made by command or in the album folder, oldest first."""
    from autoalbum.library.corrector import describe

    with open_library(args) as library:
        records = library.corrections()
        for record in records:
            print(describe(library.catalog, record))
    if not records:
        print("no corrections")
    return 0


COMMAND = Command("corrections", add_arguments, run)
