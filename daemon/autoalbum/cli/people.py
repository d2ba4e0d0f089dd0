"""`autoalbum people`: the persons found in the library, and naming them."""

from __future__ import annotations

import argparse

from autoalbum.cli.options import Command, add_library_options, open_library
from autoalbum.cli.rename import add_rename_action
from autoalbum.errors import AutoalbumError
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser)
    add_rename_action(parser, "person", "the person's folder (Person 07), name or number")


def run(args: argparse.Namespace) -> int:
    """List the persons found in the photos (faces, photos, name); `people rename` names one."""
    with open_library(args) as library:
        if not library.config.people.enabled:
            raise AutoalbumError("people is off in this library's config (people.enabled)")
        people = library.people
        if args.action == "rename":
            old = library.rename_person(args.person, args.name)
            print(f"named {printable(old)} {printable(args.name)}")
            return 0
        counts = library.catalog.person_counts()
        looked, faces, grouped = library.catalog.face_counts()
        shown = {p.id for p in people.shown()}
        print(f"{looked} photos looked at, {faces} faces, {grouped} in a person; "
              f"{people.unseen()} photos still to look at")  # fmt: skip
        for person in library.catalog.persons():
            face_count, photos = counts.get(person.id, (0, 0))
            where = "" if person.id in shown else "  (no folder: too few photos)"
            print(f"{person.number:4d}  {printable(person.title)}: {face_count} faces in "
                  f"{photos} photos{where}")  # fmt: skip
    return 0


COMMAND = Command("people", add_arguments, run)
