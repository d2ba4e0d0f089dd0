"""What the user did in the Events tree with a file browser, as the user's word on events (the
gestures of group_gestures.py, for events):

| in the Events folder                                  | means                                 |
|-------------------------------------------------------|---------------------------------------|
| a photo's link moved from one event's folder to another's | the photo belongs to that event   |
| a photo's link deleted from an event's folder         | the photo is in no event, never that one |
| every link of an event moved into another's folder    | the same, photo by photo: they merge  |
| an event's folder renamed (in its year's, or moved to another year's) | named so, for good    |
| a new folder with links (in a year's folder or at the top) | an event of those photos, so named |
| an event's folder deleted                             | that event is not shown again         |

Each is kept by every later grouping (timeline.py: a photo the user put in an event stays in it,
one taken out never goes back), and the events are grouped afresh before the next arrival is
placed, so it joins them as the user left them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from autoalbum.albums.tree import own_folder
from autoalbum.library.catalog import Catalog
from autoalbum.library.group_gestures import GroupGestures
from autoalbum.library.tables.events import EventRecord

log = logging.getLogger(__name__)


class EventGestures(GroupGestures[EventRecord]):
    """The Events tree's gestures, as photos put in events or kept out of them; `changed` is
    called after any."""

    def __init__(self, catalog: Catalog, changed: Callable[[], None]) -> None:
        super().__init__(catalog)
        self._changed = changed

    def groups(self) -> Mapping[int, EventRecord]:
        return {e.number: e for e in self.catalog.events()}  # year folders are no event

    def rename(self, group: EventRecord, folder: str) -> bool:
        name = own_folder(folder)  # the folder in its year's
        if name.startswith("."):
            return False
        self.catalog.name_event(group.id, name)
        log.info("Events folder renamed: the event is %s", name)
        return True

    def add(self, folder: str) -> EventRecord:
        log.info("new folder %s in the Events tree: an event of its photos", folder)
        return self.catalog.add_event(own_folder(folder))

    def hide(self, group: EventRecord, folder: str) -> None:
        self.catalog.hide_event(group.id)
        log.info("Events folder %s deleted: the event is not shown again", folder)

    def put(self, content: int, source: EventRecord | None, target: EventRecord, path: str) -> int:
        self.catalog.pin_to_event(content, target.id)
        return 1

    def take_out(self, content: int, group: EventRecord) -> int:
        return int(self.catalog.exclude_from_event(content, group.id))

    def changed(self) -> None:
        self._changed()
