"""Decode in a thread pool while the model embeds the previous batch."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.capture import Capture
from autoalbum.embedding.embedder import Embedder
from autoalbum.embedding.fingerprint import Fingerprint
from autoalbum.embedding.images import (
    DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    capture_of,
    decode_fingerprinted,
    decode_image,
    to_model_input,
)

if TYPE_CHECKING:
    from autoalbum.faces.finder import FaceFinder, Found, PhotoFaces

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class _Decoded:
    """One photo out of a decoding thread: the model's input, and on request the fingerprint
    of the bytes decoded and the faces found."""

    pixels: NDArray[np.uint8]
    fingerprint: Fingerprint | None
    found: Found | None
    capture: Capture | None


@dataclass(frozen=True)
class Failure:
    path: Path
    reason: str
    fingerprint: Fingerprint | None = None  # the content's, if it was read


@dataclass
class EmbeddedPhotos:
    """Vectors for the images that decoded, in input order, and the files that did not; with
    `fingerprint`, each image's fingerprint too, taken from the bytes that were decoded."""

    paths: list[Path] = field(default_factory=list)
    vectors: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    top_classes: NDArray[np.int64] | None = None
    failures: list[Failure] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    # With a face finder: each photo's faces found (None where not looked for), and described
    # unless only looked for.
    found: list[Found | None] = field(default_factory=list)
    faces: list[PhotoFaces] = field(default_factory=list)
    captures: list[Capture | None] = field(default_factory=list)  # one per path


def default_workers() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # load_for_model reports the problem


def _load(
    path: Path, size: int, max_pixels: int, fingerprint: bool, faces: FaceFinder | None
) -> _Decoded:
    """Decode once: for the model, and for faces at the size their detector scans."""
    side = max(size, faces.detect_side) if faces else size
    if fingerprint:
        image, digest = decode_fingerprinted(path, side, max_pixels)
    else:
        image, digest = decode_image(path, side, max_pixels), None
    found = faces.find(image) if faces else None
    return _Decoded(to_model_input(image, size), digest, found, capture_of(image))


def _decoded(
    paths: Sequence[Path],
    size: int,
    max_pixels: int,
    workers: int,
    window: int,
    fingerprint: bool,
    faces: FaceFinder | None,
    face_paths: Collection[Path] | None,
) -> Iterator[tuple[Path, _Decoded | ImageDecodeError]]:
    """Yield (path, pixels or error) in input order, decoding a window ahead.

    Within a window the biggest files start first (longest-processing-time scheduling): one
    large PNG left for last would otherwise keep a core busy while the other idles.
    """
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:

        def finder(path: Path) -> FaceFinder | None:
            return faces if face_paths is None or path in face_paths else None

        def submit(chunk: Sequence[Path]) -> list[tuple[Path, Future[_Decoded]]]:
            order = sorted(range(len(chunk)), key=lambda i: -_file_size(chunk[i]))
            futures = {
                i: pool.submit(_load, chunk[i], size, max_pixels, fingerprint, finder(chunk[i]))
                for i in order
            }
            return [(chunk[i], futures[i]) for i in range(len(chunk))]

        chunks = [paths[i : i + window] for i in range(0, len(paths), window)]
        pending = submit(chunks[0]) if chunks else []
        for following in [*chunks[1:], None]:
            upcoming = submit(following) if following else []
            for path, future in pending:
                yield _result(path, future)
            pending = upcoming


def _result(path: Path, future: Future[_Decoded]) -> tuple[Path, _Decoded | ImageDecodeError]:
    try:
        return path, future.result()
    except ImageDecodeError as error:
        return path, error


def _batches(
    decoded: Iterator[tuple[Path, _Decoded | ImageDecodeError]],
    batch_size: int,
    failures: list[Failure],
) -> Iterator[tuple[list[Path], list[_Decoded]]]:
    paths: list[Path] = []
    items: list[_Decoded] = []
    for path, item in decoded:
        if isinstance(item, ImageDecodeError):
            log.warning("skipping %s: %s", item.path, item.reason)
            failures.append(Failure(path, item.reason, item.fingerprint))
            continue
        paths.append(path)
        items.append(item)
        if len(paths) == batch_size:
            yield paths, items
            paths, items = [], []
    if paths:
        yield paths, items


def embed_paths(
    paths: Sequence[Path],
    embedder: Embedder,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    advance: Callable[[int], None] = lambda n: None,
    fingerprint: bool = False,
    faces: FaceFinder | None = None,
    face_paths: Collection[Path] | None = None,
    describe: bool = True,
) -> EmbeddedPhotos:
    """Decode and embed `paths`; unreadable files are collected as failures, never raised.
    With `fingerprint`, each file's fingerprint comes from the same read as its pixels; with
    `faces`, each photo's faces are found in the same decoded pixels (only `face_paths`' when
    given), and described unless not to `describe`."""
    result = EmbeddedPhotos()
    window = batch_size * 2
    workers = workers or default_workers()
    decoded = _decoded(
        paths, embedder.input_size, max_pixels, workers, window, fingerprint, faces, face_paths
    )
    vectors: list[NDArray[np.float32]] = []
    classes: list[NDArray[np.int64]] = []
    seen_failures = 0
    for batch_paths, batch in _batches(decoded, batch_size, result.failures):
        embedded = embedder.embed(np.stack([item.pixels for item in batch]))
        result.paths.extend(batch_paths)
        result.fingerprints.extend(i.fingerprint for i in batch if i.fingerprint is not None)
        result.captures.extend(i.capture for i in batch)
        if faces is not None:
            result.found.extend(i.found for i in batch)
            if describe:
                result.faces.extend(faces.describe([i.found for i in batch if i.found is not None]))
        vectors.append(embedded.vectors)
        if embedded.top_classes is not None:
            classes.append(embedded.top_classes)
        advance(len(batch_paths) + len(result.failures) - seen_failures)
        seen_failures = len(result.failures)
    advance(len(result.failures) - seen_failures)
    if vectors:
        result.vectors = np.concatenate(vectors)
    result.top_classes = np.concatenate(classes) if classes else None
    return result
