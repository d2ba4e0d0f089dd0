"""Square JPEG thumbnails for the HTML report, of whole photos or of faces, made once and then
reused.

A thumbnail is named after a hash of its photo's path, size and mtime (and a face's box), so an
edited or replaced photo gets a new one and an unchanged photo never costs a decode again.
Originals are only read.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from autoalbum.durable import replacing
from autoalbum.embedding.images import ImageDecodeError, decode_image
from autoalbum.faces.detector import Box

log = logging.getLogger(__name__)

THUMB_SIDE = 240
QUALITY = 82
FACE_ZOOM = 1.8  # a face's square is this many times the face's side: the head, not just a face
_THUMB_FILE = re.compile(r"[0-9a-f]{32}\.jpg")


@dataclass(frozen=True)
class Crop:
    """A face's square of a photo: its box (in [0, 1] of the upright photo) with a margin."""

    path: Path
    box: Box


Source = Path | Crop  # a thumbnail of the whole photo, or of one face in it


@dataclass(frozen=True)
class Thumb:
    """The thumbnail's file name in the thumbnail folder, or why there is none."""

    name: str | None
    reason: str | None = None


@dataclass(frozen=True)
class Thumbnails:
    thumbs: dict[Source, Thumb]
    made: int
    reused: int
    failed: int
    removed: int  # stale thumbnails of photos no longer shown


def _path(source: Source) -> Path:
    return source if isinstance(source, Path) else source.path


def thumb_name(source: Source) -> str:
    """`<hash of path, size, mtime, thumbnail side (and face box)>.jpg`; raises OSError if the
    photo is gone."""
    path = _path(source)
    info = path.stat()
    key = f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0{THUMB_SIDE}"
    if isinstance(source, Crop):
        box = source.box
        key += f"\0{box.left:.5f} {box.top:.5f} {box.right:.5f} {box.bottom:.5f} {FACE_ZOOM}"
    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=16)
    return f"{digest.hexdigest()}.jpg"


def _min_side(source: Source) -> int:
    """The short side to decode at for the thumbnail's square to hold THUMB_SIDE pixels."""
    if isinstance(source, Path):
        return THUMB_SIDE
    box = source.box
    # The face's square spans at least this share of the photo's short side.
    share = min(1.0, max(box.right - box.left, box.bottom - box.top, 0.01) * FACE_ZOOM)
    return math.ceil(THUMB_SIDE / share)


def face_square(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The square around a face, FACE_ZOOM times its side, moved (or shrunk) into the photo."""
    width, height = size
    face = max((box.right - box.left) * width, (box.bottom - box.top) * height)
    side = max(1, min(round(face * FACE_ZOOM), width, height))
    centre_x, centre_y = (box.left + box.right) / 2 * width, (box.top + box.bottom) / 2 * height
    left = min(max(round(centre_x - side / 2), 0), width - side)
    top = min(max(round(centre_y - side / 2), 0), height - side)
    return left, top, left + side, top + side


def _make(source: Source, target: Path) -> str | None:
    """Make `target` from `source`; returns why it could not be made, or None."""
    try:
        # Draft mode decodes a JPEG at 1/2..1/8 scale; EXIF orientation is applied.
        image = decode_image(_path(source), min_side=_min_side(source))
    except ImageDecodeError as error:
        return error.reason
    if isinstance(source, Crop):
        image = image.crop(face_square(source.box, image.size))
    thumb = ImageOps.fit(image, (THUMB_SIDE, THUMB_SIDE), Image.Resampling.BICUBIC)
    try:
        with replacing(target) as stream:
            thumb.save(stream, "JPEG", quality=QUALITY)
    except OSError as error:
        return f"cannot write the thumbnail {target}: {error.strerror or error}"
    return None


def _one(source: Source, folder: Path) -> tuple[Thumb, bool]:
    """The thumbnail of `source` and whether it had to be made."""
    try:
        name = thumb_name(source)
    except FileNotFoundError:
        return Thumb(None, "file vanished"), True
    except OSError as error:
        return Thumb(None, f"unreadable: {error.strerror or error}"), True
    if (folder / name).is_file():
        return Thumb(name), False
    reason = _make(source, folder / name)
    return (Thumb(None, reason) if reason else Thumb(name)), True


def _prune(folder: Path, keep: set[str]) -> int:
    """Delete the thumbnails that are not in `keep`."""
    removed = 0
    for entry in folder.iterdir():
        if entry.name not in keep and _THUMB_FILE.fullmatch(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def make_thumbnails(
    sources: Sequence[Source], folder: Path, workers: int | None = None
) -> Thumbnails:
    """Thumbnails of `sources` (photos and faces) in `folder`: reuse those made before, make
    the missing ones, delete the rest.

    A photo that can't be thumbnailed gets a reason instead and never stops the others.
    """
    folder.mkdir(parents=True, exist_ok=True)
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumbnail") as pool:
        results = list(pool.map(lambda source: _one(source, folder), sources))
    thumbs = {source: thumb for source, (thumb, _) in zip(sources, results, strict=True)}
    failed = sum(thumb.name is None for thumb, _ in results)
    made = sum(fresh for thumb, fresh in results if thumb.name is not None)
    keep = {thumb.name for thumb in thumbs.values() if thumb.name is not None}
    removed = _prune(folder, keep)
    reused = len(sources) - made - failed
    log.debug("thumbnails: %d made, %d reused, %d failed", made, reused, failed)
    return Thumbnails(thumbs, made, reused, failed, removed)
