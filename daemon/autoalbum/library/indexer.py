"""Incremental indexing: bring the catalog up to date with the photo folders.

Only new or changed content is embedded: unchanged files are recognised by size and mtime,
moved and duplicate files by their content hash. Work is committed in chunks of CHUNK files, so
a crash loses at most one chunk; the vector index is saved by the caller (`Stores.save_index`)
and repaired from the catalog at the next start if a crash came first.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoalbum.config import LibraryConfig, ModelConfig
from autoalbum.embedding.embedder import Embedder
from autoalbum.embedding.pipeline import Failure, embed_paths
from autoalbum.embedding.scan import find_images
from autoalbum.library.records import FileRecord, Status
from autoalbum.library.stores import Stores

log = logging.getLogger(__name__)

Progress = Callable[[int], Callable[[int], None]]  # total -> advance(n)
CHUNK = 128  # files taken in per commit: about two seconds of embedding on two cores
_Stat = tuple[Path, int, int]  # path, size, mtime_ns


@dataclass(frozen=True)
class IndexReport:
    found: int
    unchanged: int
    embedded: int
    relinked: int  # new paths whose content was already known: moves and duplicates
    missing: int
    failed: tuple[Failure, ...]
    seconds: float

    @property
    def changed(self) -> bool:
        """Whether any file came, went or failed: the albums need another look."""
        return bool(self.embedded or self.relinked or self.missing or self.failed)


def file_hash(path: Path) -> str:
    """Content hash (BLAKE2b, 128 bits) of a file, read in 1 MiB chunks."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Indexer:
    """Records files, contents and vectors in the stores; embeds only what is new."""

    def __init__(
        self,
        library: LibraryConfig,
        model: ModelConfig,
        stores: Stores,
        embedder: Embedder,
    ) -> None:
        self.library = library
        self.model = model
        self.stores = stores
        self.embedder = embedder  # lazy: loads the model only when something needs embedding

    def scan(self, tick: Callable[[], None] = lambda: None) -> list[Path]:
        """The photos in the folders now, less the ignored ones; `tick` once per folder."""
        library = self.library
        paths = find_images(
            library.folders,
            exclude=[library.albums, library.state],
            follow_symlinks=library.follow_symlinks,
            tick=tick,
        )
        ignored = library.ignore
        return [p for p in paths if not any(fnmatch.fnmatch(p.name, pat) for pat in ignored)]

    def vanished(self, present: Sequence[Path]) -> list[Path]:
        """Catalogued files not among `present` and not yet known to be missing."""
        found = set(present)
        return [
            record.path
            for record in self.stores.catalog.files()
            if record.status is not Status.MISSING and record.path not in found
        ]

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
        relinked, embedded, failures = 0, 0, []
        for start in range(0, len(stats), CHUNK):
            chunk = stats[start : start + CHUNK]
            linked, to_embed, failed = self._hash_and_relink(chunk)
            advance(linked + len(failed))
            relinked += linked
            embedded += self._embed_new(to_embed, failed, advance)
            failures += failed
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

    def changed(self, paths: Sequence[Path], tick: Callable[[], None]) -> list[Path]:
        """The paths whose files are new or changed since they were indexed; `tick` now and
        then, for a watchdog."""
        found = []
        for start in range(0, len(paths), CHUNK):
            found += [stat[0] for stat in self._changed(paths[start : start + CHUNK])[0]]
            tick()
        return found

    def _changed(self, paths: Sequence[Path]) -> tuple[list[_Stat], int]:
        """Files whose size or mtime differ from the catalog's (or that are new)."""
        changed, unchanged = [], 0
        for path in paths:
            try:
                info = path.stat()
            except OSError as error:
                log.warning("skipping %s: %s", path, error.strerror)
                continue
            record = self.stores.catalog.file(path)
            if (
                record is not None
                and record.status is not Status.MISSING
                and (record.size, record.mtime_ns) == (info.st_size, info.st_mtime_ns)
            ):
                unchanged += 1
            else:
                changed.append((path, info.st_size, info.st_mtime_ns))
        return changed, unchanged

    def _hash_and_relink(
        self, stats: Sequence[_Stat]
    ) -> tuple[int, dict[str, list[_Stat]], list[Failure]]:
        """Link files with known content at once; group the rest by hash for embedding."""
        catalog = self.stores.catalog
        relinked = 0
        to_embed: dict[str, list[_Stat]] = defaultdict(list)
        failures: list[Failure] = []
        with catalog.transaction():
            for path, size, mtime_ns in stats:
                try:
                    digest = file_hash(path)
                except OSError as error:
                    reason = (
                        "file vanished"
                        if isinstance(error, FileNotFoundError)
                        else (f"unreadable: {error.strerror}")
                    )
                    failures.append(Failure(path, reason))
                    catalog.put_file(
                        FileRecord(path, size, mtime_ns, None, Status.FAILED, reason, None)
                    )
                    continue
                content = catalog.content_by_hash(digest)
                if content is None:
                    to_embed[digest].append((path, size, mtime_ns))
                    continue
                relinked += 1
                catalog.put_file(FileRecord(path, size, mtime_ns, digest, Status.OK, None, content))
        return relinked, to_embed, failures

    def _embed_new(
        self,
        to_embed: dict[str, list[_Stat]],
        failures: list[Failure],
        advance: Callable[[int], None],
    ) -> int:
        """Embed one file per new hash; record contents, files and failures in one commit."""
        if not to_embed:
            return 0
        representative = {entries[0][0]: digest for digest, entries in to_embed.items()}
        model = self.model
        result = embed_paths(
            list(representative),
            self.embedder,
            batch_size=model.batch_size,
            workers=model.workers or None,
            max_pixels=model.max_pixels,
            advance=advance,
        )
        self.stores.check_model(result.vectors.shape[1] if len(result.paths) else 0)
        catalog = self.stores.catalog
        new_ids = []
        with catalog.transaction():
            for row, path in enumerate(result.paths):
                digest = representative[path]
                top = int(result.top_classes[row]) if result.top_classes is not None else None
                content = catalog.add_content(digest, result.vectors[row], top)
                new_ids.append(content)
                for member, size, mtime_ns in to_embed[digest]:
                    catalog.put_file(
                        FileRecord(member, size, mtime_ns, digest, Status.OK, None, content)
                    )
            for failure in result.failures:
                digest = representative[failure.path]
                for member, size, mtime_ns in to_embed[digest]:
                    catalog.put_file(
                        FileRecord(
                            member, size, mtime_ns, digest, Status.FAILED, failure.reason, None
                        )
                    )
                    failures.append(Failure(member, failure.reason))
        if new_ids:
            self.stores.index.add(np.asarray(new_ids, dtype=np.int64), result.vectors)
        advance(sum(len(entries) for entries in to_embed.values()) - len(representative))
        return len(new_ids)
