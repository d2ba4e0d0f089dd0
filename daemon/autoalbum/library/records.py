"""The records the catalog stores and hands out: files and their status, albums, runs."""

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


@dataclass(frozen=True)
class RunRecord:
    kind: str
    started_at: float
    seconds: float
    images: int
    k: int | None
    score: float | None
    method: str | None
