"""The `autoalbum` command: one module per subcommand (its arguments and handler); here the
parser that gathers them, logging and the one place errors become `error: ...` and exit 1."""

from __future__ import annotations

import argparse
import io
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import PurePath

from autoalbum import __version__
from autoalbum.cli import (
    album,
    corrections,
    duplicates,
    evaluate,
    events,
    exclude,
    index,
    inspect,
    merge,
    move,
    people,
    recluster,
    refused,
    rename,
    report,
    restore,
    retire,
    run,
    sample_photos,
    similar,
    sort,
    status,
    tags,
    undo,
)
from autoalbum.cli.options import Command
from autoalbum.errors import AutoalbumError
from autoalbum.printable import printable

COMMANDS: tuple[Command, ...] = tuple(
    module.COMMAND
    for module in (
        sort, inspect, index, recluster, rename, move, exclude, merge, retire, album, corrections,
        undo, people, events, tags, similar, duplicates, run, status, restore, evaluate, report,
        sample_photos,
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


class _NamesFormatter(logging.Formatter):
    """Log lines that can name any file: paths and strings among a message's arguments are shown
    `printable` (a name's newline as \\n, its undecodable bytes as \\xe9), and undecodable bytes
    elsewhere (in an error's text) as \\xe9 too."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple) and args:
            record = logging.makeLogRecord(record.__dict__)
            record.args = tuple(printable(a) if isinstance(a, str | PurePath) else a for a in args)
        return printable(super().format(record), lines=True)


def _configure_streams() -> None:
    """Whatever is missed by `printable` prints escaped (caf\\udce9) rather than raising
    UnicodeEncodeError on a UTF-8 (or ASCII) terminal."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_NamesFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # faiss announces which CPU build it loaded at INFO; that is noise for our users.
    logging.getLogger("faiss").setLevel(max(level, logging.WARNING))
    warnings.filterwarnings("ignore", message=WATCHDOG_REWATCH_WARNING, category=RuntimeWarning)


def main(argv: Sequence[str] | None = None) -> int:
    _configure_streams()
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except Exception as error:
        # A full disk, a read-only remount or permission lost: said as one line too.
        user_error = refused.explained(error, args) or error
        if not isinstance(user_error, AutoalbumError):
            raise
        print(f"error: {printable(user_error, lines=True)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
