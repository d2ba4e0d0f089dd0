"""The records the catalog stores and hands out: files and their status, albums, runs and the
user's corrections."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class Status(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"
    MISSING = "missing"


@dataclass(frozen=True)
class FileRecord:
    path: Path
    size: int
    mtime_ns: int
    hash: str | None
    status: Status
    reason: str | None
    content_id: int | None


@dataclass(frozen=True)
class AlbumRecord:
    id: int
    number: int
    name: str
    user_named: bool
    centroid: NDArray[np.float32] | None
    user_made: bool = False  # made by the user from examples: kept whatever the clustering says
    folder: str | None = None  # a folder name the user chose, kept as typed
    parent_id: int | None = None  # the album it is a sub-album of; None at the top


@dataclass(frozen=True)
class RunRecord:
    kind: str
    started_at: float
    seconds: float
    images: int
    k: int | None
    score: float | None
    method: str | None


class CorrectionKind(str, enum.Enum):
    PIN = "pin"  # the photo belongs to album_id
    EXCLUDE = "exclude"  # the photo is never in album_id
    MERGE = "merge"  # album_id's photos belong to target_id; album_id is never recreated
    RETIRE = "retire"  # album_id is gone: its photos go to their next-nearest albums
    ALBUM = "album"  # album_id was made by the user from examples (its pins name it parent)


@dataclass(frozen=True)
class CorrectionRecord:
    id: int
    kind: CorrectionKind
    content_id: int | None
    album_id: int
    target_id: int | None
    parent: int | None
    origin: str  # "cli" or "browser"
    created_at: float
    undone_at: float | None
