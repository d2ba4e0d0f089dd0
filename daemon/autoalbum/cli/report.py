"""`autoalbum report`: a static HTML page of the albums."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from autoalbum.cli.options import Command, default_config_path, positive_int
from autoalbum.printable import printable

if TYPE_CHECKING:
    from autoalbum.report.build import ReportSummary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    of = parser.add_mutually_exclusive_group()
    of.add_argument(
        "--config", type=Path, default=default_config_path(), metavar="FILE",
        help="report on this library (default: %(default)s)",
    )  # fmt: skip
    of.add_argument(
        "--from", dest="sort_output", type=Path, metavar="OUT",
        help="report on the --out folder of autoalbum sort instead of a library",
    )  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="report folder")
    parser.add_argument(
        "--per-album", type=positive_int, metavar="N",
        help="show the N photos nearest each album's centre (default: all)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Write a static HTML report of the albums: thumbnails, a t-SNE map, a library's persons
    and events, failed files."""
    from autoalbum.config import load_config
    from autoalbum.report.build import write_report
    from autoalbum.report.collection import from_library, from_sort_output

    if args.sort_output is not None:
        collection = from_sort_output(args.sort_output)
    else:
        collection = from_library(load_config(args.config))
    _print_summary(write_report(collection, args.out, per_album=args.per_album))
    return 0


def _print_summary(summary: ReportSummary) -> None:
    thumbs = summary.thumbnails
    stale = f", {thumbs.removed} stale removed" if thumbs.removed else ""
    print(f"thumbnails: {thumbs.made} made, {thumbs.reused} reused, {thumbs.failed} failed{stale}")
    if summary.map_note:
        print(summary.map_note)
    persons = f", {summary.persons} persons" if summary.persons else ""
    events = f", {summary.events} events" if summary.events else ""
    print(
        f"wrote {printable(summary.page)}: {summary.albums} albums, {summary.photos} photos, "
        f"{summary.failures} failed files{persons}{events}, in {summary.seconds:.1f} s"
    )


COMMAND = Command("report", add_arguments, run)
