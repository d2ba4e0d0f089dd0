"""What the user did with a file browser in a tree of groups beside the albums (People/,
Events/), as the user's word on those groups.

The tree is compared folder by folder with what autoalbum last wrote there (its members pages).
The same gestures mean the same in each tree; what they change is the tree's own (a person's
faces, people_gestures.py; an event's photos, event_gestures.py):

| in the tree                                     | means                                        |
|-------------------------------------------------|----------------------------------------------|
| a photo's link moved from group A's folder to B | the photo belongs in B, not A, for good      |
| a photo's link deleted from A                   | it does not belong in A, ever                |
| every link of A moved into B                    | the same, photo by photo: the two merge      |
| A's folder renamed                              | the group is called so, for good             |
| a new folder with links                         | a group the user made, of those photos       |
| A's folder deleted                              | that group is not shown again                |

A link put into a folder that no photo left (copied, or made to an original) is a photo put in
that group. Each gesture is kept by every later grouping. The folders a gesture changed are
then recorded as the user left them, so the write after updates them in place without undoing
the user's links.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Generic, TypeVar

from autoalbum.albums.sidecar import Linked
from autoalbum.library import gestures
from autoalbum.library.catalog import Catalog
from autoalbum.library.records import Status
from autoalbum.library.views import renamed_folders, written_groups

log = logging.getLogger(__name__)

Group = TypeVar("Group")
_Adoption = Mapping[str, list[Linked]] | None


class GroupGestures(ABC, Generic[Group]):
    """Reads a tree of groups at `out` for gestures (a gesture_watch.Interpret) and records
    them in `catalog` through the tree's own meaning of each."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # what each gesture does to the tree's groups

    @abstractmethod
    def groups(self) -> Mapping[int, Group]:
        """The groups, by the number their folder has in the tree's index."""

    @abstractmethod
    def rename(self, group: Group, folder: str) -> bool:
        """Name the group after its folder (its path in the tree); whether it took."""

    @abstractmethod
    def add(self, folder: str) -> Group:
        """A group the user made as `folder` (its path in the tree)."""

    @abstractmethod
    def hide(self, group: Group, folder: str) -> None:
        """The group's folder was deleted: it is not shown again."""

    @abstractmethod
    def put(self, content: int, source: Group | None, target: Group, path: str) -> int:
        """A photo's link put into `target`'s folder (from `source`'s, or made anew); how
        many gestures that took (0 or 1)."""

    @abstractmethod
    def take_out(self, content: int, group: Group) -> int:
        """A photo's link deleted from `group`'s folder; how many gestures that took."""

    def changed(self) -> None:  # a hook: most trees need nothing more
        """Called after gestures were recorded."""

    # reading the tree

    def __call__(self, out: Path, folders: set[str] | None) -> tuple[int, _Adoption]:
        read = written_groups(out)
        if read is None:
            return 0, {}
        index, written = read
        if folders is not None:
            written = {f: links for f, links in written.items() if f in folders}
        found = gestures.found_paths(out, set(), folders)
        resolve = {os.path.realpath(m.path): m.path for ms in written.values() for m in ms}
        before = {f: {os.path.realpath(m.path) for m in ms} for f, ms in written.items()}
        now = {f: set(links) for f, links in found.items()}
        number = {shelf.folder: shelf.number for shelf in index.albums}
        with self.catalog.transaction():
            taken = self._record(before, now, number, resolve)
        if not taken:
            return 0, {}
        self.changed()
        if set(now) - set(before) or set(before) - set(now):
            return taken, None  # a folder made, renamed or deleted: the tree is written anew
        adopted = {
            folder: [
                Linked(resolve.get(original, original), name, 0.0)
                for original, name in sorted(found[folder].items())
            ]
            for folder in now
            if now[folder] != before.get(folder)
        }
        return taken, adopted

    def _record(
        self,
        before: dict[str, set[str]],
        now: dict[str, set[str]],
        number: Mapping[str, int],
        resolve: Mapping[str, str],
    ) -> int:
        groups = self.groups()
        group_of = {f: groups[n] for f, n in number.items() if n in groups}
        renamed = renamed_folders(before, now)
        taken = 0
        for old, new in renamed.items():
            if (group := group_of.get(old)) is not None and self.rename(group, new):
                group_of[new] = group
                taken += 1
        for folder in set(now) - set(before) - set(renamed.values()):
            if now[folder] and folder not in group_of:
                group_of[folder] = self.add(folder)
        for folder in set(before) - set(now) - set(renamed):
            if (group := group_of.get(folder)) is not None:
                self.hide(group, folder)
                taken += 1
        alias = {new: old for old, new in renamed.items()}
        for folder, photos in now.items():
            target = group_of.get(folder)
            if target is None:
                continue
            was = before.get(alias.get(folder, folder), set())
            for original in photos - was:
                source = next(
                    (group_of.get(f) for f, held in before.items()
                     if original in held and original not in now.get(f, set())),
                    None,
                )  # fmt: skip
                path = resolve.get(original, original)
                if (content := self._content(path)) is not None:
                    taken += self.put(content, source, target, path)
        arrived = {
            original
            for folder, photos in now.items()
            for original in photos - before.get(alias.get(folder, folder), set())
        }
        for folder, photos in before.items():
            source, home = group_of.get(folder), renamed.get(folder, folder)
            if source is None or home not in now:
                continue  # a folder deleted: its group is hidden
            for original in photos - now[home] - arrived:
                if (content := self._content(resolve.get(original, original))) is not None:
                    taken += self.take_out(content, source)
        return taken

    def _content(self, path: str) -> int | None:
        """The content of a linked photo of this library; None (logged) for any other file."""
        record = self.catalog.file(Path(path))
        if record is None or record.status is not Status.OK or record.content_id is None:
            log.warning("ignoring a link to %s: not an indexed photo of this library", path)
            return None
        return record.content_id
