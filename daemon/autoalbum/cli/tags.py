"""`autoalbum tags`: bring every photo's XMP sidecar to its album, or take the keywords out."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from autoalbum.cli.options import Command, add_library_options
from autoalbum.errors import AutoalbumError
from autoalbum.printable import printable

if TYPE_CHECKING:
    from autoalbum.embedding.embedder import Embedder
    from autoalbum.library.library import Library


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would change; write nothing"
    )
    parser.add_argument(
        "--remove", action="store_true",
        help="take every autoalbum keyword out of the sidecars (works with tags disabled)",
    )  # fmt: skip


def _no_model() -> Embedder:
    raise AssertionError("autoalbum tags never needs the model")


def _open(args: argparse.Namespace) -> Library:
    from autoalbum.config import load_config
    from autoalbum.library.library import Library

    config = load_config(args.config)
    if not config.tags.enabled and not args.remove:
        raise AutoalbumError(
            f"tags are disabled in {args.config}: set tags.enabled: true to write albums into "
            "sidecars (autoalbum tags --remove works either way)"
        )
    return Library(config, _no_model)


def run(args: argparse.Namespace) -> int:
    """Write each photo's album as a keyword into its XMP sidecar, for every photo at once."""
    from autoalbum.tags.sidecars import Outcome

    with _open(args) as library:
        sync = library.remove_tags if args.remove else library.sync_tags
        report = sync(dry_run=args.dry_run)
    for result in report.having(Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED):
        print(printable(result.describe(args.dry_run)))
    print(report.summary())
    if args.remove and library.config.tags.enabled and not args.dry_run:
        print("tags are still enabled: the next album update writes them again; to keep them "
              "out, set tags.enabled: false")  # fmt: skip
    for result in report.failed:
        print(printable(result.describe()), file=sys.stderr)
    if report.failed:
        raise AutoalbumError(f"{len(report.failed)} sidecars could not be synced (listed above)")
    return 0


COMMAND = Command("tags", add_arguments, run)
