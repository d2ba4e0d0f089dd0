"""`autoalbum status`: how the library and its daemon are doing."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument(
        "--failures", type=int, default=20, metavar="N",
        help="list up to N failed files with reasons (default: 20)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Show counts, failures, albums, persons, the last recluster, the catalog's copy and
    whether a daemon is running (and what it is doing)."""
    from autoalbum.service.status import library_status

    print(library_status(args.config, failures=args.failures))
    return 0


COMMAND = Command("status", add_arguments, run)
