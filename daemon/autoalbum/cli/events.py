"""`autoalbum events`: the events the photos are grouped into, and naming them."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.cli.rename import add_rename_action
from autoalbum.errors import AutoalbumError
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    add_rename_action(parser, "event", "the event's folder or number")


def _day(seconds: float) -> str:
    return (datetime(1970, 1, 1) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M")


def run(args: argparse.Namespace) -> int:
    """List the events (folder, dates, photos), oldest first; `events rename` names one."""
    with open_library(args) as library:
        if not library.config.events.enabled:
            raise AutoalbumError("events are off in this library's config (events.enabled)")
        timeline = library.timeline
        if args.action == "rename":
            old = timeline.rename(args.event, args.name)
            timeline.write_tree()
            print(f"named event {old.number} {printable(args.name)}")
            return 0
        for event, folder, (first, last, photos) in timeline.shown():
            print(f"{event.number:4d}  {printable(folder)}: {photos} photos, "
                  f"{_day(first)} to {_day(last)}")  # fmt: skip
    return 0


COMMAND = Command("events", add_arguments, run)
