"""`autoalbum sample-photos`: a few real photos to try autoalbum on."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoalbum.cli.options import Command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="FOLDER")


def run(args: argparse.Namespace) -> int:
    """Write a small set of real sample photos to try autoalbum on."""
    from autoalbum.samples import write_sample_photos

    written = write_sample_photos(args.folder)
    print(f"wrote {len(written)} sample photos to {args.folder}")
    return 0


COMMAND = Command("sample-photos", add_arguments, run, described=False)
