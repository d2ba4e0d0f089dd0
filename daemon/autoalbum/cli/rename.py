"""`autoalbum rename`: give an album a name of your own."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument("album", help="album name, folder name (07-espresso) or number")
    parser.add_argument("name", type=text, help="the new name")


def text(name: str) -> str:
    """A name as typed, refused when the terminal sent bytes that are not UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"'{printable(name)}' is not UTF-8 text; set a UTF-8 locale or retype it"
        ) from None
    return name


def add_rename_action(parser: argparse.ArgumentParser, group: str, which: str) -> None:
    """`COMMAND rename GROUP NAME` under a command that lists named groups (people, events);
    `which` says how GROUP may be given."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    rename = actions.add_parser(
        "rename", help=f"give the {group} a name for good (its folder follows)"
    )
    rename.add_argument(group, help=which)
    rename.add_argument("name", type=text, help="the name")


def run(args: argparse.Namespace) -> int:
    """Rename an album; the name survives every later recluster."""
    with open_library(args) as library:
        old = library.rename(args.album, args.name)
    print(f"renamed {old!r} to {args.name!r}")
    return 0


COMMAND = Command("rename", add_arguments, run)
