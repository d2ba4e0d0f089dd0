"""The daemon's status: what it writes (daemon.json, STATUS=) and `autoalbum status`, which
reads it with the catalog: what the library holds and whether a daemon is keeping it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autoalbum.config import Config, load_config
from autoalbum.durable import write_json_atomically
from autoalbum.faults import Refusal, fault_of, refusal, write_folders
from autoalbum.library.backup import kept_copy
from autoalbum.library.catalog import CATALOG_NAME, Catalog, Status
from autoalbum.library.folders import Folders, Offline
from autoalbum.library.lock import holder
from autoalbum.library.search_index import INDEX_FROM, META_NAME, IndexMeta, IndexUnusable
from autoalbum.notify import Notifier
from autoalbum.printable import duration, moment, printable
from autoalbum.service.backlog import CatchUp
from autoalbum.service.faces import FaceCatchUp, describe_faces
from autoalbum.service.pause import Pause, Room
from autoalbum.service.switch import ModelSwitch, describe_switch

STATUS_NAME = "daemon.json"  # written by the daemon in the state folder


class StatusBoard:
    """What the daemon shows of itself: daemon.json (read by `autoalbum status`) and systemd's
    STATUS= line, each written when what it says has changed."""

    def __init__(self, path: Path, notifier: Notifier) -> None:
        self.path = path
        self.notifier = notifier
        self.started = time.time()
        self._shown: tuple[object, ...] | None = None
        self._room = Room(path.parent)

    def show(
        self,
        *,
        running: bool,
        waiting: int,
        batches: int,
        catch_up: CatchUp | None,
        arrivals_since_recluster: int,
        polling: bool,
        switch: ModelSwitch | None = None,
        faces: FaceCatchUp | None = None,
        offline: Sequence[Offline] = (),
        paused: Pause | None = None,
    ) -> None:
        switched = switch.as_dict() if switch else None
        looking = faces.as_dict() if faces else None
        done = (switched and switched["done"], looking and looking["done"])
        away = tuple(offline)
        held = paused and (paused.describe(), paused.delay)
        now = (running, waiting, batches, catch_up and catch_up.done, polling, done, away, held)
        if now == self._shown:
            return
        status = {
            "pid": os.getpid(),
            "running": running,
            "started": self.started,
            "updated": time.time(),
            "pending": waiting,
            "batches": batches,
            "catch_up": catch_up.as_dict() if catch_up else None,
            "arrivals_since_recluster": arrivals_since_recluster,
            "polling": polling,
            "model_switch": switched,
            "faces": looking,
            "offline": [
                {"folder": os.fsdecode(o.folder), "reason": o.reason, "since": o.since}
                for o in away
            ],
            "paused": paused.as_dict() if paused else None,
        }
        if self._write(status, paused):
            self._shown = now  # else written again at the next call
        prefix = "".join(f"{o.describe()}; " for o in away)
        if paused is not None:
            self.notifier.status(f"{prefix}{paused.describe()}; {waiting} waiting")
        elif switch is not None:
            self.notifier.status(prefix + switch.describe())
        elif catch_up is not None:
            self.notifier.status(f"{prefix}catching up: {catch_up.describe()}")
        elif faces is not None:
            self.notifier.status(prefix + faces.describe())
        elif running:
            self.notifier.status(f"{prefix}watching; {batches} batches filed, {waiting} waiting")

    def _write(self, status: Mapping[str, object], paused: Pause | None) -> bool:
        """Write daemon.json; whether it was written. Where its folder refuses the write, a
        pause is written in the room kept for it (Room); STATUS= and the log say it anyway.
        The room is made again once not paused."""
        try:
            write_json_atomically(self.path, status, indent=2)
        except OSError as error:
            if fault_of(error) is None:
                raise
            if paused is None or not self._room.give_up():
                return False
            try:
                write_json_atomically(self.path, status, indent=2)
            except OSError:
                return False
            return True
        if paused is None:
            self._room.keep()
        return True


def _daemon_line(state: Path) -> str:
    pid = holder(state)
    if pid is None:
        return "daemon: not running"
    line = f"daemon: running (pid {pid if pid > 0 else 'unknown'})"
    status_file = state / STATUS_NAME
    if status_file.is_file():
        status = json.loads(status_file.read_text())
        line += f", {status.get('batches', 0)} batches filed, {status.get('pending', 0)} pending"
        if status.get("polling"):
            line += ", polling"
        if catch_up := status.get("catch_up"):
            line += f"\ncatching up: {CatchUp.from_dict(catch_up).describe()}"
        if switch := status.get("model_switch"):
            line += f"\n{describe_switch(switch)}"
        if faces := status.get("faces"):
            line += f"\n{describe_faces(faces)}"
        if paused := status.get("paused"):
            line += f"\n{_paused_line(paused)}"
    return line


def _paused_line(paused: dict[str, Any]) -> str:
    """`paused: state folder full (0 bytes free) for 3 min; free some space ...`."""
    refused = Refusal.from_dict(paused)
    took = duration(time.time() - float(paused.get("since", time.time())))
    return (
        f"paused: {refused.describe()} for {took}; {refused.advice()} and the daemon resumes "
        "by itself"
    )


def _folder_lines(config: Config, catalog: Catalog) -> list[str]:
    """The folders offline and the deletions held back, as the last look recorded them."""
    folders = Folders(config.library.folders, catalog, config.library.hold_deletions_hours)
    lines = [
        f"{o.describe()}: its photos are kept in their albums until it is back"
        for o in folders.offline()
    ]
    for folder, (count, since) in folders.held().items():
        lines.append(
            f"held back since {moment(since)}: "
            f"the removal of {count} photos that vanished at once from {printable(folder)} "
            "(autoalbum index --accept-deletions removes them now)"
        )
    return lines


def _ago(when: float) -> str:
    return f"{duration(time.time() - when)} ago"


def _corrections_lines(catalog: Catalog, latest: int = 5) -> list[str]:
    """How many corrections are in force, and the latest few (autoalbum corrections: all)."""
    from autoalbum.library.corrector import describe

    records = catalog.corrections()
    if not records:
        return ["corrections: none"]
    lines = [f"corrections: {len(records)} (autoalbum corrections lists them, undo ID undoes)"]
    return lines + [f"  {describe(catalog, r)}" for r in records[-latest:]]


def _people_lines(config: Config, catalog: Catalog) -> list[str]:
    """With people on: the persons, and how far faces have been looked for and grouped."""
    if not config.people.enabled:
        return []
    looked, faces, grouped = catalog.face_counts()
    line = (
        f"people: {len(catalog.persons()):,} persons; {looked:,} photos looked at, "
        f"{faces:,} faces, {grouped:,} in a person"
    )
    unseen = catalog.count_unseen_faces()
    return [line + (f"; {unseen:,} photos still to look at" if unseen else "")]


def _events_lines(config: Config, catalog: Catalog) -> list[str]:
    """With events on: how many events, and photos still without their capture read."""
    if not config.events.enabled:
        return []
    spans = catalog.event_spans()
    folders = sum(1 for _, _, photos in spans.values() if photos >= config.events.min_photos)
    line = f"events: {folders:,} with a folder"
    unread = catalog.count_unread_captures()
    return [line + (f"; {unread:,} photos' capture dates still to read" if unread else "")]


def _search_line(catalog: Catalog, state: Path) -> str:
    """The search index (library/search_index.py): what it holds, when it was written and how
    many photos are newer."""
    try:
        meta = IndexMeta.read(state / META_NAME)
        written = _ago((state / META_NAME).stat().st_mtime)
    except (IndexUnusable, OSError):
        return (
            f"search index: none yet (similar and duplicates build it from {INDEX_FROM:,} "
            "photos on, and the daemon when idle)"
        )
    newer = catalog.vector_count_after(meta.watermark)
    line = f"search index: {meta.count:,} photos, written {written}"
    return line + (f"; {newer:,} newer photos scanned until it is next written" if newer else "")


def library_status(config_path: Path, failures: int = 20) -> str:
    """A readable report; the catalog is only read."""
    config = load_config(config_path)
    return "\n".join([*_library_lines(config, failures), _copy_line(config.library.state)])


def _copy_line(state: Path) -> str:
    """When the catalog's copy (library/backup.py) was taken, if it was."""
    copy = kept_copy(state)
    if copy is None:
        return "catalog copy: none yet (one is taken after each recluster)"
    return (
        f"catalog copy: taken {copy.describe()}, {copy.size / 1e6:,.1f} MB "
        "(autoalbum restore puts it back if the catalog is damaged)"
    )


def _library_lines(config: Config, failures: int) -> list[str]:
    """What the library holds, its folders, albums and daemon, line by line."""
    state = config.library.state
    lines = [f"library: {', '.join(map(printable, config.library.folders))}", _daemon_line(state)]
    if not (state / CATALOG_NAME).is_file():
        return [*lines, "not indexed yet: run autoalbum index or autoalbum run"]
    try:
        catalog = Catalog(state / CATALOG_NAME)
    except Exception as error:  # a full state folder has no room for SQLite's shared memory
        found = refusal(error, write_folders(config))
        if found is None:
            raise
        return [*lines, f"catalog: can't be read now: {found.sentence()}; {found.advice()}"]
    with catalog:
        counts = catalog.count_files()
        pending = len(catalog.unassigned_ids())
        lines.append(
            f"files: {counts[Status.OK]} indexed, {counts[Status.FAILED]} failed, "
            f"{counts[Status.MISSING]} missing, {pending} pending (not yet in an album)"
        )
        sizes = {album: len(members) for album, members in catalog.members().items()}
        albums = [a for a in catalog.albums() if a.id in sizes]
        lines += _folder_lines(config, catalog)
        lines.append(f"albums: {len(albums)}")
        lines += [f"  {a.number:>3}  {sizes[a.id]:>6}  {printable(a.name)}" for a in albums]
        lines += _people_lines(config, catalog)
        lines += _events_lines(config, catalog)
        run = catalog.last_run("recluster")
        if run is None:
            lines.append("last recluster: never")
        else:
            score = f", {run.method} {run.score:.3f}" if run.score is not None else ""
            lines.append(
                f"last recluster: {_ago(run.started_at)}, {run.images} images, k={run.k}{score}, "
                f"{run.seconds:.1f} s"
            )
        lines.append(_search_line(catalog, state))
        lines += _corrections_lines(catalog)
        failed = catalog.files(Status.FAILED)
        lines += [
            f"  failed: {printable(f.path)}: {printable(f.reason)}" for f in failed[:failures]
        ]
        if len(failed) > failures:
            lines.append(f"  ... and {len(failed) - failures} more (--failures N)")
    return lines
