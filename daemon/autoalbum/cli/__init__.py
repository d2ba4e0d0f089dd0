"""The `autoalbum` command: one module per subcommand (its arguments and handler); here the
parser that gathers them, logging and the one place errors become `error: ...` and exit 1."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Sequence

from autoalbum import __version__
from autoalbum.cli import (
    duplicates,
    evaluate,
    index,
    inspect,
    recluster,
    rename,
    report,
    run,
    sample_photos,
    similar,
    sort,
    status,
)
from autoalbum.cli.options import Command
from autoalbum.errors import AutoalbumError

COMMANDS: tuple[Command, ...] = tuple(
    module.COMMAND
    for module in (
        sort, inspect, index, recluster, rename, similar, duplicates, run, status, evaluate,
        report, sample_photos,
    )
)  # fmt: skip

# watchdog's inotify thread warns when a folder created and filled at once gets its watch
# twice (the second replaces the first; no event is lost). Under `-W error` the warning
# kills that thread, so the tests ignore it too (pyproject.toml).
WATCHDOG_REWATCH_WARNING = "Callback with id .* already exists for watch"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoalbum", description="Turn folders of photos into auto-sorted albums."
    )
    parser.add_argument("--version", action="version", version=f"autoalbum {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        summary = command.run.__doc__
        description = summary if command.described else None
        sub = commands.add_parser(command.name, help=summary, description=description)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # faiss announces which CPU build it loaded at INFO; that is noise for our users.
    logging.getLogger("faiss").setLevel(max(level, logging.WARNING))
    warnings.filterwarnings("ignore", message=WATCHDOG_REWATCH_WARNING, category=RuntimeWarning)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except AutoalbumError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
