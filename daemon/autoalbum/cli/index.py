"""`autoalbum index`: embed the library's new and changed photos and file them into albums."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from autoalbum.cli.options import Command, add_library_options, open_library, progress_starter
from autoalbum.cli.progress import progress
from autoalbum.library import captures
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser, model=True)
    parser.add_argument(
        "--accept-deletions", action="store_true",
        help="take out of the albums the photos of a mass deletion held back, and those of a "
        "folder that is empty, lost its .autoalbum-root marker or moved to another device "
        "(autoalbum status shows them); a missing folder stays offline",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Index new and changed photos of the configured folders and file them into albums."""
    with open_library(args) as library, ExitStack() as stack:
        report = library.index_files(
            progress_starter(stack), accept_deletions=args.accept_deletions
        )
        offline = library.folders.offline()
        looked = read = 0
        if unread := captures.unread(library.catalog):
            with progress(unread, "reading capture dates") as advance:
                read = library.catch_up_captures(advance)
        if library.config.people.enabled and (unseen := library.people.unseen()):
            with progress(unseen, "looking for faces") as advance:
                looked = library.catch_up_faces(lambda done: advance(done))
    print(
        f"indexed {report.found} files in {report.seconds:.1f} s: {report.embedded} embedded, "
        f"{report.relinked} moved or duplicate, {report.unchanged} unchanged, "
        f"{report.missing} missing, {len(report.failed)} failed"
    )
    if read:
        print(f"read when and where {read} photos indexed before were taken")
    if looked:
        print(f"looked for faces in {looked} photos indexed before")
    for failure in report.failed:
        print(f"  failed: {printable(failure.path)}: {printable(failure.reason)}")
    for folder in offline:
        print(f"  {folder.describe()}: its photos are kept in their albums")
    return 0


COMMAND = Command("index", add_arguments, run)
