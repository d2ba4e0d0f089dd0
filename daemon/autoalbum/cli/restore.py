"""`autoalbum restore`: put back the catalog's kept copy when the catalog is damaged."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    parser.add_argument(
        "--force", action="store_true",
        help="put the copy back even though the catalog passes its check (what changed since "
        "the copy is lost)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Put back the copy of the catalog taken after the last recluster (with no daemon running);
    the damaged catalog is kept aside."""
    from autoalbum.config import load_config
    from autoalbum.library.restore import restore

    restored = restore(load_config(args.config).library.state, force=args.force)
    print(
        f"restored the catalog from the copy taken {restored.copy.describe()}: "
        f"{restored.photos:,} photos in {restored.albums} albums"
    )
    if restored.set_aside is not None:
        print(f"kept the catalog it replaced as {printable(restored.set_aside)} (delete it once "
              "the library works again)")  # fmt: skip
    if restored.to_embed:
        print(f"{restored.to_embed:,} photos' vectors were lost with the damaged catalog "
              f"({restored.salvaged:,} taken from it): the next autoalbum index or run embeds "
              "them again, in the albums they are in")  # fmt: skip
    print(
        "photos added or changed since the copy are taken in again by the next autoalbum index "
        "or run (those in the copy are not embedded again); corrections made since are lost"
    )
    return 0


COMMAND = Command("restore", add_arguments, run)
