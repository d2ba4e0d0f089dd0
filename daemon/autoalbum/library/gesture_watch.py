"""Watching the album folder for the user's gestures (gestures.py) at a cost proportional to
what changed, not to the library.

An album folder's stamp (inode, mtime) changes whenever a link in it comes, goes or is renamed,
and the album folder's listing whenever a folder does. autoalbum records the stamps each time
it has written or read the tree, and the next look compares:

- nothing changed (one stat per album folder): no gestures, nothing read;
- only some album folders' stamps changed: only those albums' members pages are read and only
  those folders listed. A link moved from A to B changes both A and B, a deleted link its
  folder, so the difference in them is the whole difference;
- the top level changed (an album folder added, removed, renamed or replaced, the tree swapped
  by another process), or there is no record yet: every album is read.

Hidden entries (the `.index` folder of members pages, rewritten on every write) and
symlinked folders are no album folders: they never count. The top folder's own mtime is part
of the idle check only; a file dropped beside the albums changes nothing else.

Stamps are taken before autoalbum's own write, and after it only the folders it wrote (their
members pages newer, in index.json) take their new stamp: a user's change in any other folder
meanwhile shows next time. A folder autoalbum wrote would hide a user's change made in it
during the write, and a change made in the same clock tick as a stamp leaves the mtime as it
was; such folders are *unsure* (`_record`): a written folder that changed, and any folder whose
mtime is within the timestamp granularity of when its stamp was taken (`_racy`). A look on
its own (`take`) reads the unsure folders again: by the names of their links only (none
resolved) while the stamp is as recorded, in full if the names differ from the members
pages'. The idle check (`changed`) reports them once their mtime can be trusted. The look
before a write leaves them unsure for later (`deferred`), as verifying means listing the
whole folder: a burst of arrivals then costs what arrived, not the albums it reached. A look
verifies VERIFY_PHOTOS photos' worth of folders, and leaves the rest for the next. So no
user change is lost without a periodic full re-read, and each folder autoalbum writes is
listed once more, soon after.

The stamps a look or write ends with are saved in the state folder (`STAMPS_NAME`, never in
the album folder) with the tree generation they belong to and the unsure folders, so that a new
process (a command, the daemon starting) looks as cheaply as a later look in the same one. They
are trusted only for the same album folder at the generation index.json gives now: a process
that stopped after writing the tree, before saving them, leaves them a generation behind, and a
stamps file damaged or of another version is none; the next look then reads every album. A
change the user made while nothing ran shows in the stamps as any other; a tree copied or moved
to another file system has other inodes, and is read whole.

Links only moved or deleted are then adopted (gestures.adoption, sidecar.adopt): the index
files of the folders they changed list the user's links where they are, under their names, so
that the write after the look updates those albums in place and leaves the user's links be.
The corrections are committed first, then the members pages, then index.json: a stop in
between takes the gestures again (the index files as before) or finds none (as after, or a
members page of another generation than index.json names, which also makes the next write
rebuild). Anything else the user did rebuilds the tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoalbum.albums import sidecar
from autoalbum.durable import write_json_atomically
from autoalbum.library.gestures import Interpret, tree_folders

log = logging.getLogger(__name__)

TREE_LOCK_NAME = "tree.lock"  # in the state folder: one writer or reader of the tree at a time
STAMPS_NAME = "tree-stamps.json"  # in the state folder: the stamps the last look ended with
STAMPS_VERSION = 1
# Photos' worth of unsure folders one look verifies (lists, and reads the pages of): about
# 0.2 s; the rest wait for the next look (a second later, when the daemon is idle).
VERIFY_PHOTOS = 20_000
# How long after a change its folder's mtime may still be the same, by timestamp granularity:
# a kernel clock tick (up to 10 ms; exFAT's 10 ms) where mtimes have a fraction of a second,
# else whole or two seconds (FAT, HFS+, ext3).
FINE_NS = 20_000_000
COARSE_NS = 2_000_000_000

Stamp = tuple[int, int]  # inode, mtime in ns


@dataclass(frozen=True)
class Stamps:
    """The album folder's stamp and each album folder's, and when they were taken."""

    top: Stamp
    folders: Mapping[str, Stamp]
    taken_ns: int

    def same_folders(self, other: Stamps) -> bool:
        """The same top level: the same tree, holding the same album folders (name, inode)."""
        return (
            self.top[0] == other.top[0]
            and self.folders.keys() == other.folders.keys()
            and all(stamp[0] == other.folders[name][0] for name, stamp in self.folders.items())
        )


def take_stamps(out: Path) -> Stamps | None:
    """Cheap to take: one stat per album folder (not hidden, not a symlink; sub-albums' as
    index.json lists them) and one of index.json; None if `out` can't be read."""
    taken_ns = time.time_ns()  # before the stats: a stamp is no older than this
    try:
        top = os.lstat(out)
        with os.scandir(out) as entries:
            folders = {
                e.name: _stamp(e.stat(follow_symlinks=False))
                for e in entries
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            }
    except OSError:
        return None
    for folder in tree_folders(out):  # sub-albums' folders, inside their albums'
        if "/" in folder and folder.split("/", 1)[0] in folders:
            with contextlib.suppress(OSError):
                info = os.lstat(out / folder)
                if stat.S_ISDIR(info.st_mode):
                    folders[folder] = _stamp(info)
    return Stamps(_stamp(top), folders, taken_ns)


def _stamp(info: os.stat_result) -> Stamp:
    return info.st_ino, info.st_mtime_ns


def _racy(stamp: Stamp, taken_ns: int) -> bool:
    """Whether a change just after `taken_ns` could leave this mtime as it is."""
    mtime = stamp[1]
    window = COARSE_NS if mtime % 1_000_000_000 == 0 else FINE_NS
    return mtime >= taken_ns - window


@dataclass(frozen=True)
class Look:
    """What a look for the user's gestures took, and what the tree write after it must do."""

    taken: int = 0  # gestures taken as corrections
    # The albums (by number) whose index files now list the user's links where the user put
    # them: the write updates them in place. None: the tree must be rebuilt.
    adopted: frozenset[int] | None = frozenset()

    @property
    def rebuild(self) -> bool:
        return self.adopted is None


class GestureWatch:
    """Takes what the user did in a tree of links `out` (the album folder, the People folder)
    as `interpret` reads it, before each tree write and when asked, reading only what changed
    since autoalbum last wrote or read it; its stamps are saved in the state folder as
    `stamps`."""

    def __init__(
        self,
        out: Path,
        state: Path,
        interpret: Interpret,
        stamps: str = STAMPS_NAME,
    ) -> None:
        self.out = out
        self.state = state
        self.interpret = interpret
        self.stamps_name = stamps
        self.seen: Stamps | None = None  # as last written or read; None: read it all next
        self.unsure: set[str] = set()  # album folders to read again, stamps notwithstanding
        self.loaded = False  # whether the saved stamps were looked for
        # Unsure folders the last look left unverified: still unsure after the write.
        self.deferred: set[str] = set()
        self.saved: dict[str, Any] | None = None  # as this process last saved them

    def _load(self) -> None:
        """Once per process, before its first look: the stamps the last look (of any process)
        ended with, when they belong to this album folder at its current generation."""
        if self.loaded:
            return
        self.loaded = True
        saved = load_stamps(self.state / self.stamps_name, self.out)
        if saved is not None:
            self.seen, self.unsure = saved

    def write(self, write: Callable[[Look], None]) -> int:
        """Under the tree lock: the user's gestures become corrections, then `write(look)`
        writes the tree (updating the albums `look` adopted, or rebuilt when it says so).
        Returns how many gestures."""
        with tree_lock(self.state):
            self._load()
            before = take_stamps(self.out)
            look = self._look(before, verify=False)
            self._write(before, lambda: write(look))
        return look.taken

    def take(self, write: Callable[[Look], None]) -> int:
        """Under the tree lock: the user's gestures become corrections, and `write(look)`
        writes the tree if there were any. Returns how many."""
        with tree_lock(self.state):
            self._load()
            before = take_stamps(self.out)
            look = self._look(before)
            if look.taken:
                self._write(before, lambda: write(look))
            else:
                self._record(before, before)
        return look.taken

    def _write(self, before: Stamps | None, write: Callable[[], None]) -> None:
        """Write the tree, keeping the user's empty folders, and record the stamps after."""
        index = sidecar.read_index(self.out)
        with keeping_new_folders(self.out, before, index):
            write()
        self._record(before, take_stamps(self.out), None if index is None else index.generation)

    def changed(self) -> bool:
        """Cheap (one stat per album folder): whether the album folder changed since autoalbum
        last wrote or read it, or holds an unsure folder that can be read for sure now."""
        self._load()
        now, seen = take_stamps(self.out), self.seen
        if now is None or seen is None:
            return (now is None) != (seen is None)
        if (now.top, now.folders) != (seen.top, seen.folders):
            return True
        return any(not _racy(seen.folders[f], now.taken_ns) for f in self.unsure)

    def _to_read(self, now: Stamps, verify: bool) -> set[str] | None:
        """The album folders to look into: those changed since `seen`, and (`verify`) the
        unsure ones that don't hold the links their members pages list; None for all of them
        (the top level changed, or nothing was seen yet). Unsure folders not verified stay
        unsure (`deferred`)."""
        seen = self.seen
        if seen is None or not now.same_folders(seen):
            return None
        changed = {f for f, stamp in now.folders.items() if stamp != seen.folders[f]}
        unsure = (self.unsure & now.folders.keys()) - changed
        verified = self._share(unsure) if verify and unsure else set()
        self.deferred = unsure - verified
        if verified - self._as_listed(verified):
            # What changed may have another side (a link moved) among those not verified:
            # read them all.
            self.deferred = set()
            return changed | unsure
        return changed

    def _share(self, unsure: set[str]) -> set[str]:
        """The unsure folders one look verifies: up to VERIFY_PHOTOS photos' worth (by
        index.json's sizes), at least one folder; the rest wait for the next look, so that a
        look at a big library never holds up arrivals for long."""
        index = sidecar.read_index(self.out)
        size = {} if index is None else {shelf.folder: shelf.size for shelf in index.albums}
        share: set[str] = set()
        photos = 0
        for folder in sorted(unsure):
            if share and photos + size.get(folder, 0) > VERIFY_PHOTOS:
                break
            share.add(folder)
            photos += size.get(folder, 0)
        return share

    def _as_listed(self, folders: set[str]) -> set[str]:
        """Of these album folders, those whose links are by name the ones their members pages
        lists: unsure folders mostly are, and this is read without resolving a link. (A link
        the user replaced by one of the same name, in the moment autoalbum wrote beside it,
        would pass.)"""
        try:
            tree = sidecar.read_tree(self.out, folders=folders) if folders else None
        except ValueError:
            return set()
        if tree is None:
            return set()
        number = {shelf.folder: shelf.number for shelf in tree[0].albums}
        return {
            f
            for f in folders
            if f in number and _link_names(self.out / f) == {p.link for p in tree[1][number[f]]}
        }

    def _look(self, now: Stamps | None, *, verify: bool = True) -> Look:
        """Record the gestures made in the folders to read as corrections, then, when they are
        links moved or deleted only, record the folders they changed as autoalbum's own.
        Unsure folders are verified (listed, their pages read) only with `verify`."""
        self.deferred = set()
        folders = None if now is None else self._to_read(now, verify)
        if now is None or folders == set():
            return Look()
        taken, photos = self.interpret(self.out, folders)
        if not taken:
            return Look()
        return Look(taken, self._adopt(photos))

    def _adopt(self, photos: Mapping[str, list[sidecar.Linked]] | None) -> frozenset[int] | None:
        """Record these album folders' photos (sidecar.adopt); the albums recorded, or None
        when the tree must be rebuilt instead."""
        if photos is None:
            return None
        try:
            adopted = sidecar.adopt(self.out, photos)
        except OSError as error:
            log.warning("rebuilding the album tree %s: %s", self.out, error)
            return None
        return None if adopted is None else frozenset(adopted)

    def _record(
        self, before: Stamps | None, after: Stamps | None, since: int | None = None
    ) -> None:
        """Keep the stamps after a look, and a write that followed it (`_keep`), and save
        them for the next process."""
        self._keep(before, after, since)
        self._save()

    def _save(self) -> None:
        """Save the stamps with the generation they belong to (none: remove them); a failure
        only costs the next process a full look."""
        path = self.state / self.stamps_name
        index = sidecar.read_index(self.out)
        try:
            if self.seen is None or index is None:
                self.saved = None
                path.unlink(missing_ok=True)
                return
            record = stamps_record(self.out, index.generation, self.seen, self.unsure)
            if record != self.saved:
                write_json_atomically(path, record)
                self.saved = record
        except OSError as error:
            log.warning("can't save the album folder's stamps in %s (%s): the next process "
                        "reads every album once", path, error)  # fmt: skip
            self.saved = None

    def _keep(self, before: Stamps | None, after: Stamps | None, since: int | None = None) -> None:
        """The stamps after a look, and a write that followed it: what the next look compares
        with. The stamps after the write for the folders it wrote (whose members pages are
        newer than generation `since`), unsure when they changed: the user may have changed
        them too meanwhile. The stamps before it for every other folder, so that a user's
        change in them meanwhile is read next time. A tree new or swapped in whole was built
        out of the user's sight. And unsure, any folder stamped too soon after a change."""
        if after is None:
            self.seen, self.unsure = None, set()
            return
        if before is None or after.top[0] != before.top[0]:
            self.seen, self.unsure = after, _racy_ones(after)
            return
        if after.folders == before.folders:
            self.seen, self.unsure = (
                after,
                _racy_ones(after) | (self.deferred & after.folders.keys()),
            )
            return
        index = sidecar.read_index(self.out)
        if not after.same_folders(before) and not _ours(before, after, index):
            self.seen, self.unsure = None, set()  # a folder came or went: read it all next
            return
        wrote = set() if index is None else {
            shelf.folder for shelf in index.albums if since is None or shelf.generation > since
        }  # fmt: skip
        kept = {f: before.folders.get(f, s) if f not in wrote else s
                for f, s in after.folders.items()}  # fmt: skip
        self.seen = Stamps(after.top, kept, after.taken_ns)
        changed = {f for f in wrote & kept.keys() if kept[f] != before.folders.get(f)}
        self.unsure = changed | _racy_ones(self.seen) | (self.deferred & kept.keys())


def stamps_record(out: Path, generation: int, stamps: Stamps, unsure: set[str]) -> dict[str, Any]:
    """The saved form of the stamps of album folder `out` at tree `generation` (JSON: names
    with undecodable bytes survive as escapes, durable.json_text). `taken_ns` is left out: the
    next look compares with the stamps, not with when they were taken."""
    return {
        "version": STAMPS_VERSION,
        "out": os.path.abspath(out),
        "generation": generation,
        "top": list(stamps.top),
        "folders": {name: list(stamp) for name, stamp in sorted(stamps.folders.items())},
        "unsure": sorted(unsure),
    }


def load_stamps(path: Path, out: Path) -> tuple[Stamps, set[str]] | None:
    """The stamps and unsure folders saved in `path`, if they are of album folder `out` at the
    generation its index.json gives now; None if not, or if they are missing or damaged."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    index = sidecar.read_index(out)
    try:
        if (
            index is None
            or raw["version"] != STAMPS_VERSION
            or raw["out"] != os.path.abspath(out)
            or raw["generation"] != index.generation
        ):
            return None
        top = _parse_stamp(raw["top"])
        folders = {str(name): _parse_stamp(stamp) for name, stamp in raw["folders"].items()}
        unsure = {str(name) for name in raw["unsure"]}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return Stamps(top, folders, 0), unsure & folders.keys()


def _parse_stamp(value: object) -> Stamp:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"not a stamp: {value!r}")
    inode, mtime = value
    if not isinstance(inode, int) or not isinstance(mtime, int):
        raise ValueError(f"not a stamp: {value!r}")
    return inode, mtime


def _racy_ones(stamps: Stamps) -> set[str]:
    return {f for f, s in stamps.folders.items() if _racy(s, stamps.taken_ns)}


def _ours(before: Stamps, after: Stamps, index: sidecar.TreeIndex | None) -> bool:
    """Whether every album folder that came or went during a write in place was autoalbum's:
    those that came are listed in its `index` after the write, those that went are not."""
    if index is None:
        return False
    listed = {shelf.folder for shelf in index.albums}
    came = after.folders.keys() - before.folders.keys()
    went = before.folders.keys() - after.folders.keys()
    kept = after.folders.keys() & before.folders.keys()
    return (
        came <= listed
        and not went & listed
        and all(after.folders[f][0] == before.folders[f][0] for f in kept)
    )


@contextlib.contextmanager
def tree_lock(state: Path) -> Iterator[None]:
    """Held while the album tree is read for gestures or written: by one process at a time
    (the daemon, a command), so that nobody's half-written tree is read as the user's work."""
    state.mkdir(parents=True, exist_ok=True)
    with (state / TREE_LOCK_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def keeping_new_folders(
    out: Path, stamps: Stamps | None, index: sidecar.TreeIndex | None
) -> Iterator[None]:
    """Empty folders the user made in the album folder (an album to be, before its first link)
    are made again after a tree swap, which would lose them. Only the folders `index` (the
    tree's index.json) does not list, usually none, are looked into."""
    empty: list[str] = []
    if stamps is not None and stamps.folders:
        listed = {shelf.folder for shelf in index.albums} if index is not None else set()
        empty = [f for f in stamps.folders if f not in listed and _empty(out / f)]
    yield
    for folder in empty:
        with contextlib.suppress(OSError):
            (out / folder).mkdir(exist_ok=True)


def _link_names(folder: Path) -> set[str] | None:
    try:
        with os.scandir(folder) as entries:
            return {e.name for e in entries if e.is_symlink()}
    except OSError:
        return None


def _empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False
