"""Square JPEG thumbnails for the HTML report, made once and then reused.

A thumbnail is named after a hash of its photo's path, size and mtime, so an edited or replaced
photo gets a new one and an unchanged photo never costs a decode again. Originals are only read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from autoalbum.durable import replacing
from autoalbum.embedding.images import ImageDecodeError, decode_image

log = logging.getLogger(__name__)

THUMB_SIDE = 240
QUALITY = 82
_THUMB_FILE = re.compile(r"[0-9a-f]{32}\.jpg")


@dataclass(frozen=True)
class Thumb:
    """The thumbnail's file name in the thumbnail folder, or why there is none."""

    name: str | None
    reason: str | None = None


@dataclass(frozen=True)
class Thumbnails:
    thumbs: dict[Path, Thumb]
    made: int
    reused: int
    failed: int
    removed: int  # stale thumbnails of photos no longer shown


def thumb_name(path: Path) -> str:
    """`<hash of path, size, mtime and thumbnail side>.jpg`; raises OSError if `path` is gone."""
    info = path.stat()
    key = f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0{THUMB_SIDE}"
    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=16)
    return f"{digest.hexdigest()}.jpg"


def _make(path: Path, target: Path) -> str | None:
    """Make `target` from `path`; returns why it could not be made, or None."""
    try:
        # Draft mode decodes a JPEG at 1/2..1/8 scale; EXIF orientation is applied.
        image = decode_image(path, min_side=THUMB_SIDE)
    except ImageDecodeError as error:
        return error.reason
    thumb = ImageOps.fit(image, (THUMB_SIDE, THUMB_SIDE), Image.Resampling.BICUBIC)
    try:
        with replacing(target) as stream:
            thumb.save(stream, "JPEG", quality=QUALITY)
    except OSError as error:
        return f"cannot write the thumbnail {target}: {error.strerror or error}"
    return None


def _one(path: Path, folder: Path) -> tuple[Thumb, bool]:
    """The thumbnail of `path` and whether it had to be made."""
    try:
        name = thumb_name(path)
    except FileNotFoundError:
        return Thumb(None, "file vanished"), True
    except OSError as error:
        return Thumb(None, f"unreadable: {error.strerror or error}"), True
    if (folder / name).is_file():
        return Thumb(name), False
    reason = _make(path, folder / name)
    return (Thumb(None, reason) if reason else Thumb(name)), True


def _prune(folder: Path, keep: set[str]) -> int:
    """Delete the thumbnails that are not in `keep`."""
    removed = 0
    for entry in folder.iterdir():
        if entry.name not in keep and _THUMB_FILE.fullmatch(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def make_thumbnails(paths: Sequence[Path], folder: Path, workers: int | None = None) -> Thumbnails:
    """Thumbnails of `paths` in `folder`: reuse those made before, make the missing ones.

    A photo that can't be thumbnailed gets a reason instead and never stops the others.
    """
    folder.mkdir(parents=True, exist_ok=True)
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumbnail") as pool:
        results = list(pool.map(lambda path: _one(path, folder), paths))
    thumbs = {path: thumb for path, (thumb, _) in zip(paths, results, strict=True)}
    failed = sum(thumb.name is None for thumb, _ in results)
    made = sum(fresh for thumb, fresh in results if thumb.name is not None)
    keep = {thumb.name for thumb in thumbs.values() if thumb.name is not None}
    removed = _prune(folder, keep)
    log.debug("thumbnails: %d made, %d reused, %d failed", made, len(paths) - made - failed, failed)
    return Thumbnails(thumbs, made, len(paths) - made - failed, failed, removed)
