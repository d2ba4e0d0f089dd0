"""Albums as keywords and named persons as faces, kept current: after each album update, the
sidecars of the photos whose album or named persons changed since they were last tagged are
synced (tags/sidecars.py), and the catalog records what each sidecar now carries, so that the
next update touches only what changed again.

A photo's persons are the named persons its faces belong to (`Person 07` is never written),
each face a region of the upright photo; the record keeps them as one canonical string
(`persons_key`). Naming or renaming a person, or a face moving to another person or to none,
changes that string: only the photos with a face of a named person, or with persons recorded,
are compared, so a library without named persons does as little as before.

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

from autoalbum.albums.names import label_path
from autoalbum.albums.tree import UNSORTED_NUMBER
from autoalbum.config import TagsConfig
from autoalbum.faces.detector import Box
from autoalbum.faults import refused_write
from autoalbum.library.catalog import Catalog
from autoalbum.library.folders import below
from autoalbum.library.records import AlbumRecord
from autoalbum.tags.persons import Persons, Region
from autoalbum.tags.sidecars import Outcome, SidecarResult, TagsReport, sidecar_path, sync_tags

log = logging.getLogger(__name__)

SETTINGS_KEY = "tags_settings"  # in the catalog's meta: the settings the record was made under
SLICE = 256  # photos per sync and record; between slices a watchdog hears that work goes on
WARN_LINES = 10  # new failures logged one by one per update; the rest as a count

Labels = Mapping[Path, str | None]
Named = Mapping[Path, Persons]  # each photo's named persons; a photo left out has none


def region(name: str, box: Box) -> Region:
    """A face's box (left, top, right, bottom) as a region: its centre and size, held within
    the photo."""
    left, top, right, bottom = (
        min(max(v, 0.0), 1.0) for v in (box.left, box.top, box.right, box.bottom)
    )
    right, bottom = max(right, left), max(bottom, top)
    return Region(name, (left + right) / 2, (top + bottom) / 2, right - left, bottom - top)


def persons_key(persons: Persons) -> str:
    """What the record keeps of a photo's named persons: its size and each face's name and
    region as written, in one order."""
    faces = sorted([str(field) for field in r.key] for r in persons.regions)
    return json.dumps(
        [persons.width, persons.height, faces], ensure_ascii=False, separators=(",", ":")
    )


class Tagger:
    """Keeps the photos' sidecars carrying their albums and named persons, per one `tags:`
    config section."""

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
        """Each live photo's album label: its name, a sub-album's path of names (label_path);
        None for a photo in _unsorted."""
        albums = {a.id: a for a in self.catalog.albums()}

        def path(album: AlbumRecord) -> str:
            names = [album.name]
            while album.parent_id in albums and len(names) <= len(albums):
                album = albums[album.parent_id]
                names.append(album.name)
            return label_path(names[::-1])

        names = {a.id: None if a.number == UNSORTED_NUMBER else path(a) for a in albums.values()}
        return {
            member.path: names.get(album)
            for album, members in self.catalog.members().items()
            for member in members
        }

    def persons(self) -> dict[Path, Persons]:
        """Each live photo's named persons, for the photos that have any."""
        return {
            photo: Persons(width, height, tuple(region(name, box) for name, box in faces))
            for photo, ((width, height), faces) in self.catalog.named_faces().items()
        }

    def follow(self, tick: Callable[[], None] = lambda: None) -> None:
        """Sync the sidecars of photos whose album or named persons changed since they were
        last tagged. Raises only for a refused write (a full disk: faults.py), which pauses
        the daemon; what else fails is logged and tried again on the next update."""
        try:
            self._check_settings()
            persons = self.persons()
            changes = self._reachable(self._changes(persons))
            if changes:
                self._log(self._sync(changes, persons, dry_run=False, tick=tick))
        except Exception as error:  # tags are a courtesy: they never stop the albums or the daemon
            if refused_write(error):
                raise
            log.exception("could not update the photos' tags; the next album update tries again")

    def sync_all(self, *, dry_run: bool = False) -> TagsReport:
        """Every live photo's sidecar brought to its album and named persons, whatever the
        record says, and the entries of recorded photos that left the library taken out."""
        if not dry_run:
            self._check_settings()
        persons = self.persons()
        wanted = {**dict.fromkeys([*self.catalog.tagged(), *persons]), **self.labels()}
        return self._sync(wanted, persons, dry_run)

    def remove_all(self, *, dry_run: bool = False) -> TagsReport:
        """autoalbum's keywords and persons taken out of every photo's sidecar, live or
        recorded."""
        return self._sync(dict.fromkeys({*self.catalog.tagged(), *self.labels()}), {}, dry_run)

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
                    "keywords and persons written before stay (autoalbum tags --remove with "
                    "the old config takes them out)"
                )
            self.catalog.clear_tagged()
            self.catalog.set_meta(SETTINGS_KEY, settings)

    def _changes(self, persons: Named) -> dict[Path, str | None]:
        """Photos whose label or named persons differ from the recorded ones, with their labels
        (None: in no album, or it has left every album)."""
        changes = self.catalog.tag_changes(UNSORTED_NUMBER)
        changes = {**self._person_changes(persons), **changes}
        if changes and self.config.naming == "image.xmp":
            # IMG_1.jpg and IMG_1.cr2 share IMG_1.xmp, and a sync writes the labels and persons
            # of the photos it is given: give it all of a changed sidecar's photos.
            now = self.labels()
            changed = {sidecar_path(p, self.config) for p in changes}
            photos = now.keys() | self.catalog.tagged().keys() | persons.keys()
            changes = {p: now.get(p) for p in photos if sidecar_path(p, self.config) in changed}
        return changes

    def _person_changes(self, persons: Named) -> dict[Path, str | None]:
        """Photos whose named persons differ from the recorded ones, with their recorded
        labels (which are their labels now, unless `tag_changes` says otherwise)."""
        records = self.catalog.tagged_persons()
        changes = {}
        for photo in records.keys() | persons.keys():
            label, was = records.get(photo, (None, None))
            now = persons.get(photo)
            if (persons_key(now) if now else None) != was:
                changes[photo] = label
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
        self, wanted: Labels, persons: Named, dry_run: bool, tick: Callable[[], None] = lambda: None
    ) -> TagsReport:
        """Sync slice by slice, each photo of `wanted` to its label and its `persons`,
        recording each slice's successes as it goes."""
        results: list[SidecarResult] = []
        for piece in self._slices(wanted):
            named = {photo: persons[photo] for photo in piece if photo in persons}
            report = sync_tags(piece, self.config, dry_run=dry_run, persons=named)
            if not dry_run:
                self._record(piece, named, report)
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

    def _record(self, wanted: Labels, persons: Named, report: TagsReport) -> None:
        """What the sidecars now carry, for the photos whose sidecar did not fail."""
        photo_of = {Path(os.path.abspath(p)): p for p in wanted}  # a report's paths are absolute
        done = {
            photo_of[photo]: wanted[photo_of[photo]]
            for result in report.results
            if result.outcome is not Outcome.FAILED
            for photo in result.photos
        }
        named = {photo: persons_key(persons[photo]) for photo in done if photo in persons}
        with self.catalog.transaction():
            self.catalog.set_tagged(done, named)

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
