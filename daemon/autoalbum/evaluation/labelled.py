"""A labelled folder's images and their vectors, for `autoalbum evaluate`.

The folder is FOLDER/<label>/<image>. Its vectors come, in this order of preference, from a
library's catalog when that holds every image unchanged and embedded by the same model, from
evaluate's own cache (keyed by embedder, paths, sizes and mtimes), or from embedding them now.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from autoalbum.config import Config
from autoalbum.durable import replacing
from autoalbum.embedding.embedder import (
    Embedder,
    LazyEmbedder,
    ModelError,
    ModelSpec,
    model_spec,
    normalise,
)
from autoalbum.embedding.model import cache_dir
from autoalbum.embedding.pipeline import embed_paths
from autoalbum.embedding.scan import find_images
from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import CATALOG_NAME, Catalog, FileRecord, Status

log = logging.getLogger(__name__)


class Features(Embedder, Protocol):
    """An embedder that names its vectors: the ONNX model's file name, or "pixels-32x32-rgb"."""

    name: str


class LazyModel(LazyEmbedder):
    """An ONNX model opened on first use: reused vectors need no session at all."""

    def __init__(self, spec: ModelSpec, open_model: Callable[[ModelSpec], Embedder]) -> None:
        # Named as OnnxEmbedder names its vectors, so that the name needs no session.
        super().__init__(lambda: open_model(spec), name=spec.path.name)


@dataclass(frozen=True)
class EmbeddedSet:
    vectors: NDArray[np.float32]  # one unit row per readable image, in path order
    readable: NDArray[np.bool_]  # one per path
    images_per_second: float | None  # None: not embedded by evaluate (from a catalog)
    source: str  # where they came from, in words


def labelled_images(folder: Path) -> tuple[list[Path], list[str]]:
    """Images under `folder`, labelled by their first-level subfolder."""
    root = Path(os.path.abspath(folder))  # as find_images makes them: "../x" resolved, links not
    paths = [p for p in find_images([folder]) if len(p.relative_to(root).parts) > 1]
    if not paths:
        raise AutoalbumError(
            f"{folder} has no class subfolders with images; evaluate needs FOLDER/<label>/<image>"
        )
    return paths, [p.relative_to(root).parts[0] for p in paths]


def vectors_for(
    paths: list[Path], features: Features, library: Config | None = None
) -> EmbeddedSet:
    """The library's stored vectors if it has them all, else cached ones, else embed now."""
    stored = from_catalog(paths, features, library) if library is not None else None
    return stored or _cached_or_embedded(paths, features)


def _library_model(config: Config) -> str | None:
    try:
        return model_spec(config.model).path.name
    except ModelError:
        return None


def _unchanged(record: FileRecord | None, path: Path) -> bool:
    """Indexed (embedded, or found unreadable) at the file's current size and mtime."""
    if record is None or record.status is Status.MISSING:
        return False
    if record.status is Status.OK and record.content_id is None:
        return False
    info = path.stat()
    return (record.size, record.mtime_ns) == (info.st_size, info.st_mtime_ns)


def from_catalog(paths: list[Path], features: Features, library: Config) -> EmbeddedSet | None:
    """The vectors a library stored for `paths`, if it indexed every one with this model."""
    catalog_file = library.library.state / CATALOG_NAME
    if not catalog_file.is_file() or _library_model(library) != features.name:
        log.info("library %s: no catalog of %s vectors to reuse", library.source, features.name)
        return None
    with Catalog(catalog_file) as catalog:
        records = [catalog.file(path) for path in paths]
        stale = sum(not _unchanged(r, p) for r, p in zip(records, paths, strict=True))
        if stale:
            log.info("%s: %d of %d images not indexed or changed since; embedding them all",
                     catalog_file, stale, len(paths))  # fmt: skip
            return None
        ids = [r.content_id for r in records if r is not None and r.status is Status.OK]
        vectors = normalise(catalog.vectors([i for i in ids if i is not None]))
    readable = np.array([r is not None and r.status is Status.OK for r in records], dtype=bool)
    return EmbeddedSet(vectors, readable, None, f"the library catalog {catalog_file}")


def _cache_file(paths: list[Path], features: Features) -> Path:
    digest = hashlib.sha256(features.name.encode())
    for path in paths:
        info = path.stat()
        digest.update(
            f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode("utf-8", "surrogateescape")
        )
    return cache_dir() / "evaluate" / f"{digest.hexdigest()[:20]}.npz"


def _cached_or_embedded(paths: list[Path], features: Features) -> EmbeddedSet:
    cache = _cache_file(paths, features)
    if cache.is_file():
        stored = np.load(cache)
        source = f"evaluate's cache (embedded earlier by {features.name})"
        return EmbeddedSet(stored["vectors"], stored["readable"], float(stored["rate"]), source)
    started = time.monotonic()
    result = embed_paths(paths, features)
    rate = len(paths) / max(time.monotonic() - started, 1e-9)
    readable = np.isin(np.array([str(p) for p in paths]), [str(p) for p in result.paths])
    cache.parent.mkdir(parents=True, exist_ok=True)
    with replacing(cache) as stream:  # a reader never sees half a file
        np.savez(stream, vectors=result.vectors, readable=readable, rate=rate)
    return EmbeddedSet(result.vectors, readable, rate, f"embedded now by {features.name}")
