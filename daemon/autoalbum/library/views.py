"""What the trees beside the album tree have in common: People/ (people.py) and Events/
(timeline.py) are views of the same photos as groups with names (persons, events), each grouped
afresh at a recluster, written by the album tree's own writer (albums/tree.py, update.py: an
index.json and members pages per group, updated in place) and read back for the user's
gestures (gesture_watch.py, with what they mean for each tree)."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums import sidecar
from autoalbum.albums.sidecar import Linked
from autoalbum.albums.tree import INDEX_NAME, Album, Row, remove_ours, write_albums
from autoalbum.albums.update import update_albums
from autoalbum.library.gesture_watch import GestureWatch, Look
from autoalbum.library.gestures import Interpret

log = logging.getLogger(__name__)

Figures = TypeVar("Figures")


class View(Protocol):
    """A tree of groups beside the albums, kept by a library while it is enabled."""

    stale: set[int] | None  # the groups the next write compares; None: all

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
        # The groups (ids) whose folders may differ from the catalog; None: any. An arrival
        # costs the groups it joined, not the library.
        self.stale: set[int] | None = None
        # While a write asks for the groups: the only ones whose photos may have changed since
        # the last write (None: any), so a view can keep what it knows of the others.
        self.compared: set[int] | None = None

    def note(self, group_ids: Collection[int]) -> None:
        """These groups gained or lost photos: the next write compares them."""
        if self.stale is not None:
            self.stale.update(group_ids)

    def groups(self) -> list[tuple[int, Album]]:
        """The groups with a folder: (group id, the group as the tree shows it)."""
        raise NotImplementedError

    def photos(self, group_ids: Collection[int]) -> dict[int, list[Row]]:
        """Each of these groups' photos (absolute path, distance), by group id."""
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
        """In place, comparing only the stale groups (every group after a regrouping or a
        gesture); rebuilt where that can't be done."""
        stale, self.stale = self.stale, None  # should this fail, the next one compares all
        if look.taken:
            stale = None
        self.compared = stale
        try:
            shown = self.groups()
        finally:
            self.compared = None
        if not shown and not self.tree.exists():
            self.stale = set()
            return
        groups = [group for _, group in shown]
        number = {group_id: group.number for group_id, group in shown}
        compared = list(number) if stale is None else [g for g in number if g in stale]
        if not look.rebuild and self.tree_exists:
            photos = {number[g]: rows for g, rows in self.photos(compared).items()}
            if update_albums(self.tree, groups, photos, max_changed=1.0) is not None:
                self.stale = set()
                return
        photos = {number[g]: rows for g, rows in self.photos(list(number)).items()}
        write_albums(self.tree, groups, photos=photos, extra={"kind": self.kind})
        self.stale = set()

    def remove_tree(self) -> None:
        """The tree deleted, but for files of the user's in it."""
        if self.tree_exists:
            kept = remove_ours(self.tree)
            if kept:
                log.warning("kept %d files of yours in %s", len(kept), self.tree)


class PerGroup(Generic[Figures]):
    """Figures of each group of a view (an event's span, a person's counts) as the last write
    read them: read whole, or, in a write that compares only some groups (GroupTree.compared),
    only theirs read again. At a million photos, reading every group's takes seconds."""

    def __init__(self) -> None:
        self._figures: dict[int, Figures] | None = None

    def get(
        self,
        changed: Collection[int] | None,
        read: Callable[[Collection[int] | None], dict[int, Figures]],
    ) -> dict[int, Figures]:
        """Every group's figures, those of the `changed` groups (None: all) read again by
        `read` (given None: every group's)."""
        if self._figures is None or changed is None:
            self._figures = read(None)
        else:
            for group in changed:
                self._figures.pop(group, None)
            self._figures.update(read(changed))
        return self._figures

    def forget(self) -> None:
        """Read every group's next time: another process may have changed them."""
        self._figures = None


def absolute(rows: list[tuple[str, float]]) -> list[Row]:
    """A group's photos as the tree takes them."""
    return [(os.path.abspath(path), distance) for path, distance in rows]


def continuing(
    labels: NDArray[np.int64], before: NDArray[np.int64], skip: Collection[int] = ()
) -> dict[int, int]:
    """After a regrouping, each new group (label >= 0) -> the old group (id >= 0) it
    continues: the one most of its members were in, each old group continued once, largest
    overlaps first. Members at the rows in `skip` don't count."""
    overlap: Counter[tuple[int, int]] = Counter(
        (int(label), int(old))
        for row, (label, old) in enumerate(zip(labels, before, strict=True))
        if label >= 0 and old >= 0 and row not in skip
    )
    heir: dict[int, int] = {}
    taken: set[int] = set()
    for (label, old), _ in overlap.most_common():
        if label not in heir and old not in taken:
            heir[label] = old
            taken.add(old)
    return heir


def written_groups(out: Path) -> tuple[sidecar.TreeIndex, dict[str, list[Linked]]] | None:
    """What autoalbum last wrote in a tree of groups, by folder; None when it is not there."""
    try:
        read = sidecar.read_tree(out) if (out / sidecar.MARKER_NAME).is_file() else None
    except (OSError, ValueError):
        return None
    if read is None:
        return None
    index, members = read
    return index, {shelf.folder: members[shelf.number] for shelf in index.albums}


def renamed_folders(before: Mapping[str, set[str]], now: Mapping[str, set[str]]) -> dict[str, str]:
    """Folder -> its new name: a folder gone, and a new folder holding at least half of its
    photos (by original)."""
    renamed: dict[str, str] = {}
    for folder in set(before) - set(now):
        if not before[folder]:
            continue  # a folder of folders (an Events year): its groups' renames tell
        best = max(
            (f for f in set(now) - set(before) if f not in renamed.values()),
            key=lambda f: len(now[f] & before[folder]),
            default=None,
        )
        if best is not None and 2 * len(now[best] & before[folder]) >= len(before[folder]):
            renamed[folder] = best
    return renamed
