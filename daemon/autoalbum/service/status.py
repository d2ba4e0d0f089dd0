"""The daemon's status: what it writes (daemon.json, STATUS=) and `autoalbum status`, which
reads it with the catalog: what the library holds and whether a daemon is keeping it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from autoalbum.config import load_config
from autoalbum.durable import write_json_atomically
from autoalbum.library.catalog import CATALOG_NAME, Catalog, Status
from autoalbum.library.lock import holder
from autoalbum.printable import printable
from autoalbum.service.backlog import CatchUp
from autoalbum.service.notify import Notifier
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
    ) -> None:
        switched = switch.as_dict() if switch else None
        done = switched and switched["done"]
        now = (running, waiting, batches, catch_up and catch_up.done, polling, done)
        if now == self._shown:
            return
        self._shown = now
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
        }
        write_json_atomically(self.path, status, indent=2)
        if switch is not None:
            self.notifier.status(switch.describe())
        elif catch_up is not None:
            self.notifier.status(f"catching up: {catch_up.describe()}")
        elif running:
            self.notifier.status(f"watching; {batches} batches filed, {waiting} waiting")


def _daemon_line(state: Path) -> str:
    pid = holder(state)
    if pid is None:
        return "daemon: not running"
    line = f"daemon: running (pid {pid})"
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
    return line


def _ago(moment: float) -> str:
    minutes = (time.time() - moment) / 60
    return f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"


def _corrections_lines(catalog: Catalog, latest: int = 5) -> list[str]:
    """How many corrections are in force, and the latest few (autoalbum corrections: all)."""
    from autoalbum.library.corrector import describe

    records = catalog.corrections()
    if not records:
        return ["corrections: none"]
    lines = [f"corrections: {len(records)} (autoalbum corrections lists them, undo ID undoes)"]
    return lines + [f"  {describe(catalog, r)}" for r in records[-latest:]]


def library_status(config_path: Path, failures: int = 20) -> str:
    """A readable report; the catalog is only read."""
    config = load_config(config_path)
    state = config.library.state
    lines = [f"library: {', '.join(map(printable, config.library.folders))}", _daemon_line(state)]
    if not (state / CATALOG_NAME).is_file():
        return "\n".join([*lines, "not indexed yet: run autoalbum index or autoalbum run"])
    with Catalog(state / CATALOG_NAME) as catalog:
        counts = catalog.count_files()
        pending = len(catalog.unassigned_ids())
        lines.append(
            f"files: {counts[Status.OK]} indexed, {counts[Status.FAILED]} failed, "
            f"{counts[Status.MISSING]} missing, {pending} pending (not yet in an album)"
        )
        sizes = {album: len(members) for album, members in catalog.members().items()}
        albums = [a for a in catalog.albums() if a.id in sizes]
        lines.append(f"albums: {len(albums)}")
        lines += [f"  {a.number:>3}  {sizes[a.id]:>6}  {printable(a.name)}" for a in albums]
        run = catalog.last_run("recluster")
        if run is None:
            lines.append("last recluster: never")
        else:
            score = f", {run.method} {run.score:.3f}" if run.score is not None else ""
            lines.append(
                f"last recluster: {_ago(run.started_at)}, {run.images} images, k={run.k}{score}, "
                f"{run.seconds:.1f} s"
            )
        lines += _corrections_lines(catalog)
        failed = catalog.files(Status.FAILED)
        lines += [
            f"  failed: {printable(f.path)}: {printable(f.reason)}" for f in failed[:failures]
        ]
        if len(failed) > failures:
            lines.append(f"  ... and {len(failed) - failures} more (--failures N)")
    return "\n".join(lines)
