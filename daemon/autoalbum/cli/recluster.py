"""`autoalbum recluster`: cluster the whole library afresh."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import (
    Command,
    add_granularity_option,
    add_library_options,
    open_library,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    add_granularity_option(parser, "the config's cluster.granularity")


def run(args: argparse.Namespace) -> int:
    """Cluster the whole library afresh; matched albums keep their numbers and names."""
    with open_library(args) as library:
        report = library.recluster()
        for album in library.catalog.albums():
            print(f"  {album.number:>3}  {album.name}")
    if report.choice is not None:
        print(f"chose k={report.choice.k} ({report.choice.method} {report.choice.score:.3f})")
    print(
        f"reclustered {report.images} images into {report.albums} albums "
        f"({report.unsorted} unsorted) in {report.seconds:.1f} s"
    )
    return 0


COMMAND = Command("recluster", add_arguments, run)
