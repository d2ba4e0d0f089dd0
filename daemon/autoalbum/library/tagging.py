"""Albums as keywords, kept current: after each album update, the sidecars of the photos whose
album changed since they were last tagged are synced (tags/sidecars.py), and the catalog
records what each sidecar now carries, so that the next update touches only what changed again.

A sidecar that fails is logged and left out of the record, so every later update tries it
again. The record holds for the settings it was written under: when tags.root, location,
mirror or naming change, it is forgotten and every photo is tagged anew; the keywords written
under the old settings stay (`autoalbum tags --remove` with the old config takes them out).
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

from autoalbum.albums.tree import UNSORTED_NUMBER
from autoalbum.config import TagsConfig
from autoalbum.faults import refused_write
from autoalbum.library.catalog import Catalog
from autoalbum.library.folders import below
from autoalbum.tags.sidecars import Outcome, SidecarResult, TagsReport, sidecar_path, sync_tags

log = logging.getLogger(__name__)

SETTINGS_KEY = "tags_settings"  # in the catalog's meta: the settings the record was made under
SLICE = 256  # photos per sync and record; between slices a watchdog hears that work goes on
WARN_LINES = 10  # new failures logged one by one per update; the rest as a count

Labels = Mapping[Path, str | None]


class Tagger:
    """Keeps the photos' sidecars carrying their albums, per one `tags:` config section."""

    def __init__(
        self,
        config: TagsConfig,
        catalog: Catalog,
        offline: Callable[[], Collection[Path]] = frozenset,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self._offline = offline  # the photo folders that are not there (library/folders.py)
        self._warned: set[tuple[Path, str]] = set()  # failures logged already, not repeated

    def labels(self) -> dict[Path, str | None]:
        """Each live photo's album name; None for a photo in _unsorted."""
        names = {
            a.id: None if a.number == UNSORTED_NUMBER else a.name for a in self.catalog.albums()
        }
        return {
            member.path: names.get(album)
            for album, members in self.catalog.members().items()
            for member in members
        }

    def follow(self, tick: Callable[[], None] = lambda: None) -> None:
        """Sync the sidecars of photos whose album changed since they were last tagged. Raises
        only for a refused write (a full disk: faults.py), which pauses the daemon; what else
        fails is logged and tried again on the next update."""
        try:
            self._check_settings()
            changes = self._reachable(self._changes())
            if changes:
                self._log(self._sync(changes, dry_run=False, tick=tick))
        except Exception as error:  # tags are a courtesy: they never stop the albums or the daemon
            if refused_write(error):
                raise
            log.exception("could not update the photos' tags; the next album update tries again")

    def sync_all(self, *, dry_run: bool = False) -> TagsReport:
        """Every live photo's sidecar brought to its album, whatever the record says, and the
        keywords of recorded photos that left the library taken out."""
        if not dry_run:
            self._check_settings()
        return self._sync({**dict.fromkeys(self.catalog.tagged()), **self.labels()}, dry_run)

    def remove_all(self, *, dry_run: bool = False) -> TagsReport:
        """autoalbum's keywords taken out of every photo's sidecar, live or recorded."""
        return self._sync(dict.fromkeys({*self.catalog.tagged(), *self.labels()}), dry_run)

    def _settings(self) -> str:
        config = self.config
        mirror = str(config.mirror) if config.mirror else None
        return json.dumps([config.root, config.location, mirror, config.naming])

    def _check_settings(self) -> None:
        """Forget the record when the keywords it describes were written under other settings."""
        settings, before = self._settings(), self.catalog.meta(SETTINGS_KEY)
        if before == settings:
            return
        with self.catalog.transaction():
            if before is not None and self.catalog.tagged():
                log.warning(
                    "tags.root, location, mirror or naming changed: tagging every photo anew; "
                    "keywords written before stay (autoalbum tags --remove with the old config "
                    "takes them out)"
                )
            self.catalog.clear_tagged()
            self.catalog.set_meta(SETTINGS_KEY, settings)

    def _changes(self) -> dict[Path, str | None]:
        """Photos whose label differs from the recorded one (None: it has left every album)."""
        changes = self.catalog.tag_changes(UNSORTED_NUMBER)
        if changes and self.config.naming == "image.xmp":
            # IMG_1.jpg and IMG_1.cr2 share IMG_1.xmp, and a sync writes the labels of the
            # photos it is given: give it all of a changed sidecar's photos.
            now = self.labels()
            changed = {sidecar_path(p, self.config) for p in changes}
            photos = now.keys() | self.catalog.tagged().keys()
            changes = {p: now.get(p) for p in photos if sidecar_path(p, self.config) in changed}
        return changes

    def _reachable(self, changes: dict[Path, str | None]) -> dict[Path, str | None]:
        """The changes whose sidecars can be written now: beside the photos, none in an
        offline folder (an empty mount point is no place for them); those wait, unrecorded,
        until it is back."""
        offline = self._offline()
        if not offline or self.config.location != "beside":
            return changes
        return {p: label for p, label in changes.items() if not below(p, offline)}

    def _sync(
        self, wanted: Labels, dry_run: bool, tick: Callable[[], None] = lambda: None
    ) -> TagsReport:
        """Sync slice by slice, recording each slice's successes as it goes."""
        results: list[SidecarResult] = []
        for piece in self._slices(wanted):
            report = sync_tags(piece, self.config, dry_run=dry_run)
            if not dry_run:
                self._record(piece, report)
            results.extend(report.results)
            tick()
        return TagsReport(tuple(results), dry_run)

    def _slices(self, wanted: Labels) -> Iterator[dict[Path, str | None]]:
        """About SLICE photos at a time, in sidecar order; a shared sidecar's never split."""
        by_sidecar: dict[Path, dict[Path, str | None]] = defaultdict(dict)
        for photo, label in wanted.items():
            by_sidecar[sidecar_path(photo, self.config)][photo] = label
        piece: dict[Path, str | None] = {}
        for _sidecar, photos in sorted(by_sidecar.items()):
            piece.update(photos)
            if len(piece) >= SLICE:
                yield piece
                piece = {}
        if piece:
            yield piece

    def _record(self, wanted: Labels, report: TagsReport) -> None:
        """What the sidecars now carry, for the photos whose sidecar did not fail."""
        photo_of = {Path(os.path.abspath(p)): p for p in wanted}  # a report's paths are absolute
        done = {
            photo_of[photo]: wanted[photo_of[photo]]
            for result in report.results
            if result.outcome is not Outcome.FAILED
            for photo in result.photos
        }
        with self.catalog.transaction():
            self.catalog.set_tagged(done)

    def _log(self, report: TagsReport) -> None:
        """A summary when sidecars changed; each failure once (up to WARN_LINES at a time)."""
        for line in report.lines():
            log.debug("%s", line)
        if report.having(Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED):
            log.info("%s", report.summary())
        new = [r for r in report.failed if (r.sidecar, r.reason) not in self._warned]
        for result in new[:WARN_LINES]:
            log.warning("%s", result.describe())
        if len(new) > WARN_LINES:
            log.warning(
                "and %d more sidecars skipped; `autoalbum tags --dry-run` lists them all",
                len(new) - WARN_LINES,
            )
        self._warned.update((r.sidecar, r.reason) for r in new)
