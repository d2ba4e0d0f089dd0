"""Incremental indexing: bring the catalog up to date with the photo folders.

Only new or changed content is embedded: unchanged files are recognised by size and mtime,
moved and duplicate files by their content hash. A photo is read once where possible: a file
whose quick key (size, head and tail) no content and no other file in its chunk has is certainly
new, so it goes straight to the decoder, which hashes the bytes it decodes; only the others are
hashed whole first. Contents from before quick keys have none: a file of the size of one of
their files is hashed first too, and such a content gets its key when a file of it is.

Work is committed in chunks of CHUNK files, vectors included, so a crash loses at most one
chunk.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autoalbum.config import LibraryConfig, ModelConfig
from autoalbum.embedding.embedder import Embedder
from autoalbum.embedding.fingerprint import fingerprint_file, quick_key
from autoalbum.embedding.pipeline import EmbeddedPhotos, Failure, embed_paths
from autoalbum.embedding.scan import find_images
from autoalbum.library import captures
from autoalbum.library.catalog import Catalog
from autoalbum.library.people import People
from autoalbum.library.records import FileRecord, Status
from autoalbum.library.stores import Stores
from autoalbum.library.tables import path_of, stored

log = logging.getLogger(__name__)

Progress = Callable[[int], Callable[[int], None]]  # total -> advance(n)
CHUNK = 128  # files taken in per commit: about two seconds of embedding on two cores
_Stat = tuple[Path, int, int]  # path, size, mtime_ns


@dataclass(frozen=True)
class IndexReport:
    found: int
    unchanged: int
    embedded: int
    relinked: int  # new paths whose content was known or came twice: moves and duplicates
    missing: int
    failed: tuple[Failure, ...]
    seconds: float

    @property
    def changed(self) -> bool:
        """Whether any file came, went or failed: the albums need another look."""
        return bool(self.embedded or self.relinked or self.missing or self.failed)


@dataclass
class Scan:
    """What a scan of the photo folders found: the photos, the folders holding any, and the
    subfolders that could not be read (whose photos are not among them)."""

    paths: list[Path] = field(default_factory=list)
    holding: set[Path] = field(default_factory=set)
    unreadable: list[Path] = field(default_factory=list)


@dataclass
class _Sorted:
    """A chunk's changed files, sorted by what they need."""

    relinked: int = 0  # known content, linked already
    new: list[_Stat] = field(default_factory=list)  # certainly new content: decode once
    hashed: dict[str, list[_Stat]] = field(default_factory=dict)  # unknown: decode one each
    failures: list[Failure] = field(default_factory=list)


def _unreadable(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "file vanished"
    return f"unreadable: {error.strerror}"


class Indexer:
    """Records files, contents and vectors in the catalog; embeds only what is new."""

    def __init__(
        self,
        library: LibraryConfig,
        model: ModelConfig,
        stores: Stores,
        embedder: Embedder,
        people: People | None = None,
    ) -> None:
        self.library = library
        self.model = model
        self.stores = stores
        self.embedder = embedder  # lazy: loads the model only when something needs embedding
        self.people = people  # with people on: faces found in the same decoded pixels
        self.new_faces: list[int] = []  # faces stored since the caller last took them
        self.new_contents: list[int] = []  # contents added since the caller last took them
        self._face_model_checked = False

    def scan(self, folders: Sequence[Path], tick: Callable[[], None] = lambda: None) -> Scan:
        """The photos in `folders` now, less the ignored ones; `tick` once per folder."""
        library, ignored = self.library, self.library.ignore
        scan = Scan()
        found: dict[Path, None] = {}
        for folder in folders:
            paths = find_images(
                [folder],
                exclude=[library.albums, library.state],
                follow_symlinks=library.follow_symlinks,
                tick=tick,
                unreadable=scan.unreadable.append,
            )
            kept = [p for p in paths if not any(fnmatch.fnmatch(p.name, pat) for pat in ignored)]
            if kept:
                scan.holding.add(folder)
            found.update(dict.fromkeys(kept))
        scan.paths = sorted(found)
        return scan

    def vanished(self, present: Sequence[Path], catalog: Catalog | None = None) -> list[Path]:
        """Catalogued files not among `present` and not yet known to be missing; `catalog`:
        a connection of the caller's thread, if not the stores'."""
        found = {stored(path) for path in present}  # bytes: a third of a Path's memory
        known = (catalog or self.stores.catalog).known_paths()
        return [path_of(raw) for raw in known if raw not in found]

    def update(
        self,
        paths: Sequence[Path],
        vanished: Sequence[Path] = (),
        progress: Progress | None = None,
    ) -> IndexReport:
        """Take in files that may be new or changed, a chunk and a commit at a time, and mark
        files that are gone missing. `progress` counts every changed file."""
        started = time.monotonic()
        stats, unchanged = self._changed(paths)
        advance = progress(len(stats)) if progress else lambda n: None
        # Sizes that may be a content of a catalog from before quick keys: hashed first.
        unkeyed = self.stores.catalog.sizes_without_quick_key() if stats else set()
        relinked, embedded, failures = 0, 0, []
        for start in range(0, len(stats), CHUNK):
            chunk = self._sort(stats[start : start + CHUNK], unkeyed)
            advance(chunk.relinked + len(chunk.failures))
            new, linked = self._embed_new(chunk, advance)
            relinked += chunk.relinked + linked
            embedded += new
            failures += chunk.failures
        missing = self._mark_missing(vanished)
        return IndexReport(
            found=len(paths),
            unchanged=unchanged,
            embedded=embedded,
            relinked=relinked,
            missing=missing,
            failed=tuple(failures),
            seconds=time.monotonic() - started,
        )

    def _mark_missing(self, vanished: Sequence[Path]) -> int:
        catalog = self.stores.catalog
        with catalog.transaction():
            missing = catalog.mark_missing(vanished)
            for path in vanished:
                if catalog.file(path) is None:  # a deleted folder: all files below it
                    missing += catalog.mark_missing_under(path)
        return missing

    def changed(
        self, paths: Sequence[Path], tick: Callable[[], None], catalog: Catalog | None = None
    ) -> list[Path]:
        """The paths whose files are new or changed since they were indexed; `tick` now and
        then, for a watchdog; `catalog`: a connection of the caller's thread, if not the
        stores'."""
        found = []
        for start in range(0, len(paths), CHUNK):
            chunk = paths[start : start + CHUNK]
            found += [stat[0] for stat in self._changed(chunk, catalog)[0]]
            tick()
        return found

    def _changed(
        self, paths: Sequence[Path], catalog: Catalog | None = None
    ) -> tuple[list[_Stat], int]:
        """Files whose size or mtime differ from the catalog's (or that are new)."""
        changed, unchanged = [], 0
        known = (catalog or self.stores.catalog).sizes_and_times(paths)
        for path in paths:
            try:
                info = path.stat()
            except OSError as error:
                log.warning("skipping %s: %s", path, error.strerror)
                continue
            seen = known.get(stored(path))
            if seen is not None and seen[2] != Status.MISSING.value and seen[:2] == (
                info.st_size, info.st_mtime_ns,
            ):  # fmt: skip
                unchanged += 1
            else:
                changed.append((path, info.st_size, info.st_mtime_ns))
        return changed, unchanged

    def _sort(self, stats: Sequence[_Stat], unkeyed: Collection[int]) -> _Sorted:
        """Send files with a quick key of their own to the decoder; hash the rest whole and
        link those whose content is known; record the unreadable."""
        chunk = _Sorted()
        keys: dict[Path, str | None] = {}
        catalog = self.stores.catalog
        with catalog.transaction():
            for stat in stats:
                try:
                    keys[stat[0]] = quick_key(stat[0])
                except OSError as error:
                    self._fail(chunk, stat, _unreadable(error))
            counts = Counter(keys.values())
            known = catalog.known_quick_keys({key for key in keys.values() if key})
            for stat in stats:
                if stat[0] not in keys:
                    continue
                key = keys[stat[0]]
                # No key: not a regular file, which the decoder will say.
                if key is None or (
                    counts[key] == 1 and key not in known and stat[1] not in unkeyed
                ):
                    chunk.new.append(stat)
                else:
                    self._hash_and_relink(stat, chunk)
        return chunk

    def _hash_and_relink(self, stat: _Stat, chunk: _Sorted) -> None:
        """Link a file with known content at once; group the others by hash for embedding."""
        try:
            fingerprint = fingerprint_file(stat[0])
        except OSError as error:
            self._fail(chunk, stat, _unreadable(error))
            return
        catalog = self.stores.catalog
        content = catalog.content_by_hash(fingerprint.full)
        if content is None or catalog.lacks_vector(content):
            chunk.hashed.setdefault(fingerprint.full, []).append(stat)
            return
        catalog.set_quick_key(content, fingerprint.quick)
        catalog.put_file(FileRecord(*stat, fingerprint.full, Status.OK, None, content))
        chunk.relinked += 1

    def _fail(self, chunk: _Sorted, stat: _Stat, reason: str, digest: str | None = None) -> None:
        self.stores.catalog.put_file(FileRecord(*stat, digest, Status.FAILED, reason, None))
        chunk.failures.append(Failure(stat[0], reason))

    def _embed_new(self, chunk: _Sorted, advance: Callable[[int], None]) -> tuple[int, int]:
        """Embed each new file and one file per unknown hash, fingerprinted as they are
        decoded; record contents, files and failures in one commit. Returns the number of new
        contents and of files linked to content known after all."""
        # Each file to decode, with the files that share its content (hashed ones only).
        sharing = {stat[0]: [stat] for stat in chunk.new}
        expected = {entries[0][0]: digest for digest, entries in chunk.hashed.items()}
        sharing.update((entries[0][0], entries) for entries in chunk.hashed.values())
        if not sharing:
            return 0, 0
        result = self._embed(list(sharing), advance)
        catalog = self.stores.catalog
        new, linked = 0, 0
        with catalog.transaction():
            for row, path in enumerate(result.paths):
                fingerprint = result.fingerprints[row]
                content = catalog.content_by_hash(fingerprint.full)
                if content is None:
                    content = self._add_content(result, row)
                    new += 1
                elif catalog.lacks_vector(content):  # lost with a damaged catalog
                    catalog.refill_vector(content, result.vectors[row])
                    new += 1
                else:  # it changed after its quick key was read, or was hashed in a race
                    catalog.set_quick_key(content, fingerprint.quick)
                    linked += 1
                same = sharing[path]
                if expected.get(path, fingerprint.full) != fingerprint.full:
                    log.info("%s changed while being indexed; taking it in again later", path)
                    same = same[:1]  # the others were not decoded: leave them for next time
                for stat in same:
                    catalog.put_file(FileRecord(*stat, fingerprint.full, Status.OK, None, content))
                linked += len(same) - 1
            for failure in result.failures:
                read = failure.fingerprint.full if failure.fingerprint else None
                digest = expected.get(failure.path, read)
                for stat in sharing[failure.path]:
                    self._fail(chunk, stat, failure.reason, digest)
        advance(sum(len(entries) - 1 for entries in chunk.hashed.values()))
        return new, linked

    def _embed(self, paths: list[Path], advance: Callable[[int], None]) -> EmbeddedPhotos:
        model = self.model
        if self.people is not None and not self._face_model_checked:
            self.people.check_model()
            self._face_model_checked = True
        result = embed_paths(
            paths,
            self.embedder,
            batch_size=model.batch_size,
            workers=model.workers or None,
            max_pixels=model.max_pixels,
            advance=advance,
            fingerprint=True,
            faces=self.people.finder if self.people is not None else None,
        )
        self.stores.check_model(result.vectors.shape[1] if len(result.paths) else 0)
        return result

    def _add_content(self, result: EmbeddedPhotos, row: int) -> int:
        top = int(result.top_classes[row]) if result.top_classes is not None else None
        fingerprint = result.fingerprints[row]
        content = self.stores.catalog.add_content(
            fingerprint.full, result.vectors[row], top, fingerprint.quick
        )
        if self.people is not None and result.faces:
            self.new_faces += self.people.store(content, result.faces[row])
        if (capture := result.captures[row]) is not None:
            self.stores.catalog.set_capture(content, captures.completed(capture))
        self.new_contents.append(content)
        return content
