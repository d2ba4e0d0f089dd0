"""Which photo folders are there: an unmounted drive is not a deletion.

A watched folder that is missing, not a folder, unreadable, empty, on another device than
recorded with none of its photos to be found (the mount went away), or without the
`.autoalbum-root` marker it once held, is *offline*: its photos are kept, links, albums,
corrections and keywords included, and the links dangle until it is back. A full scan that
finds none of a folder's catalogued photos takes it offline too. It is back when it holds some
of its photos again, and nothing has changed meanwhile: nothing is re-embedded, no album
renumbered.

Deletions are screened as well: when more than MASS_SHARE of a folder's photos, and more than
MASS_MIN, vanish at once, they are held back for `hold_hours` (or until `autoalbum index
--accept-deletions`). Ordinary deletions go through at once.

The catalog remembers each folder's device, marker, state and held deletions under the meta
key "folders", so a restart or a CLI command sees what the daemon saw.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from autoalbum.library.catalog import Catalog
from autoalbum.printable import moment, printable

log = logging.getLogger(__name__)

MARKER = ".autoalbum-root"  # dropped in a folder by the user: without it, the folder is away
MASS_SHARE = 0.5  # more than this share of a folder's photos vanishing at once is held back
MASS_MIN = 100  # ... if it is more than this many photos
SAMPLE = 16  # catalogued photos looked for to tell a folder that is back from an empty one
_META = "folders"


@dataclass(frozen=True)
class Offline:
    """A folder that is not there, why, and since when (seconds since the epoch)."""

    folder: Path
    reason: str
    since: float

    def describe(self) -> str:
        """One line: which folder is offline, why, and since when."""
        return f"offline since {moment(self.since)}: {printable(self.folder)} ({self.reason})"


@dataclass
class _Record:
    device: int | None = None
    marker: bool = False
    reason: str | None = None  # offline when set
    since: float | None = None
    held: int = 0  # deletions held back
    held_since: float | None = None


class Folders:
    """The watched folders' availability and the deletions held back (module doc)."""

    def __init__(
        self,
        folders: Sequence[Path],
        catalog: Catalog,
        hold_hours: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folders = tuple(folders)
        self.catalog = catalog
        self.hold_seconds = hold_hours * 3600
        self._clock = clock
        self._saved = catalog.meta(_META) or "{}"
        saved = json.loads(self._saved)
        self._records = {f: _Record(**saved.get(_key(f), {})) for f in self.folders}

    def offline(self) -> list[Offline]:
        """The folders recorded offline, as the last look left them."""
        return [
            Offline(folder, record.reason, record.since or 0.0)
            for folder, record in self._records.items()
            if record.reason is not None
        ]

    def available(self) -> list[Path]:
        """The folders to scan: those not offline."""
        return [folder for folder, record in self._records.items() if record.reason is None]

    def look(self, *, accept: bool = False) -> list[Offline]:
        """Probe every folder and record what changed; returns the folders offline. `accept`
        takes an empty folder, a missing marker or another device as the user's doing: the
        folder is there."""
        for folder, record in self._records.items():
            self._record(folder, record, self._probe(folder, record, accept))
        self._save()
        return self.offline()

    def scanned(self, holding: Collection[Path]) -> None:
        """After a full scan of the available folders, `holding` those in which it found
        photos: one with catalogued photos of which it found none is offline too."""
        for folder in self.available():
            if folder not in holding and (reason := self._holds_none(folder)):
                self._record(folder, self._records[folder], reason)
        self._save()

    def screen(
        self, vanished: Sequence[Path], unreadable: Collection[Path] = (), *, accept: bool = False
    ) -> list[Path]:
        """The vanished paths to mark missing now: none below an offline folder or an
        unreadable subfolder, and none of a mass deletion still held back (module doc), unless
        `accept`."""
        if not vanished:
            return []
        self.look(accept=accept)
        offline = {o.folder for o in self.offline()}
        by_folder: dict[Path, list[Path]] = {}
        kept: list[Path] = []  # outside every watched folder: a folder taken out of the config
        for path in vanished:
            folder = _folder_of(path, self.folders)
            if folder is None:
                kept.append(path)
            elif folder not in offline and not below(path, unreadable):
                by_folder.setdefault(folder, []).append(path)
        for folder, paths in by_folder.items():
            if self._let_through(folder, self._count(paths), accept):
                kept += paths
        self._save()
        return kept

    def _let_through(self, folder: Path, count: int, accept: bool) -> bool:
        """Whether `count` photos of `folder` vanishing at once may be removed now."""
        record = self._records[folder]
        live = self.catalog.live_under(folder)
        now = self._clock()
        mass = count > MASS_MIN and count > MASS_SHARE * live
        if not mass or accept or not self.hold_seconds:
            record.held, record.held_since = 0, None
            return True
        since = record.held_since if record.held_since is not None else now
        if now - since >= self.hold_seconds:
            log.warning("removing %d photos of %s held back since %s", count,
                        printable(folder), time.ctime(since))  # fmt: skip
            record.held, record.held_since = 0, None
            return True
        if record.held != count:
            log.warning(
                "%d of the %d photos in %s vanished at once: holding back their removal for "
                "%g hours (an unmounted drive is not a deletion); to remove them now, run "
                "autoalbum index --accept-deletions", count, live, printable(folder),
                self.hold_seconds / 3600,
            )  # fmt: skip
        record.held, record.held_since = count, since
        return False

    def held(self) -> dict[Path, tuple[int, float]]:
        """Folders with deletions held back: how many, and since when."""
        return {
            folder: (record.held, record.held_since or 0.0)
            for folder, record in self._records.items()
            if record.held
        }

    def _count(self, paths: Sequence[Path]) -> int:
        """Photos the vanished paths stand for: a vanished folder counts what it held."""
        catalog = self.catalog
        return sum(1 if catalog.file(p) is not None else catalog.live_under(p) for p in paths)

    def _probe(self, folder: Path, record: _Record, accept: bool) -> str | None:
        """Why `folder` is offline now, or None; notes its device and marker."""
        try:
            info = folder.stat()
            if not stat.S_ISDIR(info.st_mode):
                return "not a folder"
            with os.scandir(folder) as entries:
                empty = next(entries, None) is None
        except FileNotFoundError:
            return "missing"
        except OSError as error:
            return f"unreadable ({error.strerror})"
        marked = (folder / MARKER).exists()
        if accept:
            record.marker = marked
        elif record.marker and not marked:
            return f"its {MARKER} marker is missing"
        elif empty and self.catalog.live_under(folder):
            return "empty"
        elif record.device not in (None, info.st_dev) and not self._some_there(folder):
            return "on another device, and none of its photos is there"
        elif record.reason is not None and not self._some_there(folder):
            return record.reason
        record.marker = record.marker or marked
        record.device = info.st_dev
        return None

    def _some_there(self, folder: Path) -> bool:
        """Whether any of a sample of the folder's catalogued photos exists (or none is
        catalogued)."""
        sample = self.catalog.some_live_under(folder, SAMPLE)
        return not sample or any(os.path.lexists(path) for path in sample)

    def _holds_none(self, folder: Path) -> str | None:
        live = self.catalog.live_under(folder)
        return f"holds none of its {live} photos" if live else None

    def _record(self, folder: Path, record: _Record, reason: str | None) -> None:
        """Note the folder's state, logging a change."""
        if reason == record.reason:
            return
        if reason is None:
            away = self._clock() - (record.since or self._clock())
            log.info("%s is back after %.0f s offline", printable(folder), away)
            record.reason, record.since = None, None
            return
        if record.reason is None:
            record.since = self._clock()
            log.warning(
                "%s is offline (%s): its photos are kept as they are, with their albums, "
                "until it is back", printable(folder), reason,
            )  # fmt: skip
        record.reason = reason

    def _save(self) -> None:
        """Record the folders' state in the catalog, when it changed (most looks change
        nothing, and write nothing)."""
        records = {_key(folder): asdict(record) for folder, record in self._records.items()}
        saved = json.dumps(records, sort_keys=True)
        if saved == self._saved:
            return
        with self.catalog.transaction():
            self.catalog.set_meta(_META, saved)
        self._saved = saved


def _key(folder: Path) -> str:
    """A folder as a JSON key: its bytes, undecodable ones as \\udcXX escapes."""
    return os.fsdecode(folder)


def below(path: Path, folders: Iterable[Path]) -> bool:
    """Whether `path` is one of `folders` or inside one."""
    return any(path == folder or folder in path.parents for folder in folders)


def _folder_of(path: Path, folders: Sequence[Path]) -> Path | None:
    """The watched folder `path` is in (the deepest, if folders nest), or None."""
    holding = [folder for folder in folders if below(path, (folder,))]
    return max(holding, key=lambda folder: len(folder.parts), default=None)
