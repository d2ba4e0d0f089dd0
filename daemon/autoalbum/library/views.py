"""What the trees beside the album tree have in common: People/ (people.py) and Events/
(timeline.py) are views of the same photos as groups with names (persons, events), each grouped
afresh at a recluster, written by the album tree's own writer (albums/tree.py, update.py: an
index.json and a members file per group, updated in place) and read back for the user's
gestures (gesture_watch.py, with what they mean for each tree)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from autoalbum.albums.tree import INDEX_NAME, Album, Row, remove_ours, write_albums
from autoalbum.albums.update import update_albums
from autoalbum.library.gesture_watch import GestureWatch, Look
from autoalbum.library.gestures import Interpret

log = logging.getLogger(__name__)


class View(Protocol):
    """A tree of groups beside the albums, kept by a library while it is enabled."""

    @property
    def folder_changed(self) -> bool:
        """Whether its folder changed since autoalbum last wrote or read it."""
        ...

    def regroup(self) -> object:
        """Group every photo afresh, keeping the groups' identities and the user's names."""
        ...

    def write_tree(self) -> None:
        """The user's gestures taken, then the tree brought up to date with the catalog."""
        ...

    def take_gestures(self) -> int:
        """The user's gestures taken, and the tree written if there were any."""
        ...

    def forget(self) -> None:
        """Turned off: its data and its tree go."""
        ...


class GroupTree:
    """The folder of a view: its groups written as album folders, its gestures watched."""

    kind = ""  # index.json's "kind"

    def __init__(self, tree: Path, state: Path, interpret: Interpret, stamps: str) -> None:
        self.tree = tree
        self.gestures = GestureWatch(tree, state, interpret, stamps=stamps)

    def groups(self) -> tuple[Sequence[Album], dict[int, list[Row]]]:
        """The groups with a folder, and each one's photos (absolute path, distance)."""
        raise NotImplementedError

    def write_tree(self) -> None:
        """What the user did in the tree first, then the tree brought up to date with the
        catalog: in place where it exists."""
        self.gestures.write(self._write)

    def take_gestures(self) -> int:
        """What the user did in the tree, recorded; the tree written if anything."""
        return self.gestures.take(self._write)

    @property
    def folder_changed(self) -> bool:
        return self.gestures.changed()

    @property
    def tree_exists(self) -> bool:
        return (self.tree / INDEX_NAME).is_file()

    def _write(self, look: Look) -> None:
        groups, photos = self.groups()
        if not groups and not self.tree.exists():
            return
        in_place = not look.rebuild and self.tree_exists
        if in_place and update_albums(self.tree, groups, photos, max_changed=1.0) is not None:
            return
        write_albums(self.tree, groups, photos=photos, extra={"kind": self.kind})

    def remove_tree(self) -> None:
        """The tree deleted, but for files of the user's in it."""
        if self.tree_exists:
            kept = remove_ours(self.tree)
            if kept:
                log.warning("kept %d files of yours in %s", len(kept), self.tree)


def absolute(rows: list[tuple[str, float]]) -> list[Row]:
    """A group's photos as the tree takes them."""
    return [(os.path.abspath(path), distance) for path, distance in rows]
