"""What the trees beside the album tree have in common: People/ (people.py) and Events/
(timeline.py) are views of the same photos as groups with names, each grouped afresh at a
recluster, written by the album tree's own writer and read back for the user's gestures."""

from __future__ import annotations

from typing import Protocol


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
