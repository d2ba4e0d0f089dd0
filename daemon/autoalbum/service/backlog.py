"""The daemon's queue of photos to take in: arrivals first, then the catch-up, a chunk at a time.

A catch-up (what changed while the daemon was stopped, or a whole library on a first start)
is work inside the running service, not a step before it: it is taken a chunk at a time, so
the service stays ready, pings its watchdog, stops within a chunk, and files a photo dropped
meanwhile at once. Its first chunk is a random sample of the whole, so the first albums,
clustered from it, stand for the library rather than for its first folder.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Photos in a first catch-up's opening sample: what the first albums are clustered from
# (spectral clustering wants a few hundred), about five seconds of embedding on two cores.
SAMPLE = 320
CHUNK = 128  # photos taken in per step afterwards: a couple of seconds of work


@dataclass(frozen=True)
class CatchUp:
    """How far a long run over photos (a catch-up, a model switch) has got; `earlier` of the
    `done` ones were done before this run and count towards neither its time nor its pace."""

    done: int
    total: int
    seconds: float
    earlier: int = 0

    @property
    def rate(self) -> float:
        """Photos per second in this run so far."""
        return (self.done - self.earlier) / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate else None

    def describe(self) -> str:
        """'1,234 of 23,469 photos (75/s, about 5 min left)'."""
        text = f"{self.done:,} of {self.total:,} photos"
        if self.rate:
            left = self.seconds_left or 0.0
            when = f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"
            text += f" ({self.rate:.0f}/s, about {when} left)"
        return text

    def as_dict(self) -> dict[str, float | int | None]:
        """For daemon.json; `rate` and `seconds_left` are for readers other than autoalbum."""
        return {
            "done": self.done,
            "total": self.total,
            "seconds": round(self.seconds, 2),
            "earlier": self.earlier,
            "rate": round(self.rate, 2),
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left),
        }

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> CatchUp:
        return cls(
            int(saved["done"]),
            int(saved["total"]),
            float(saved["seconds"]),
            int(saved.get("earlier", 0)),
        )


class Backlog:
    """Paths waiting to be indexed: arrivals before the catch-up, each path once."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._arrivals: dict[Path, None] = {}
        self._catch_up: deque[Path] = deque()
        self._queued: set[Path] = set()
        self._departed: dict[Path, None] = {}  # gone, not yet recorded as gone
        self._arrived_while_scanning: set[Path] | None = None  # None: no scan beside them
        self._done = 0
        self._total = 0
        self._started = 0.0

    def __len__(self) -> int:
        return len(self._arrivals) + len(self._catch_up)

    def arrive(self, paths: Sequence[Path]) -> None:
        """Photos that just settled: they go first."""
        for path in paths:
            self._arrivals[path] = None
        if self._arrived_while_scanning is not None:
            self._arrived_while_scanning.update(paths)

    def scan_begins(self) -> None:
        """A scan that runs beside the arrivals begins (service/intake.py): what arrives from
        now on is newer than what it finds gone."""
        self._arrived_while_scanning = set()

    def scan_found_gone(self, paths: Sequence[Path]) -> list[Path]:
        """Photos such a scan found gone depart, but for those that arrived while it ran: the
        walk may have passed their folder before they came, and the watcher's word on them
        is newer. Returns those that depart."""
        arrived, self._arrived_while_scanning = self._arrived_while_scanning or set(), None
        gone = [path for path in paths if path not in arrived]
        self.depart(gone)
        return gone

    def catch_up(self, paths: Sequence[Path], *, sample_first: bool) -> None:
        """Photos found by a scan; with `sample_first`, a random sample of them leads."""
        fresh = [p for p in paths if p not in self._queued]
        if sample_first and len(fresh) > SAMPLE:
            picked = set(random.Random(len(fresh)).sample(range(len(fresh)), SAMPLE))
            fresh = [fresh[i] for i in sorted(picked)] + [
                p for i, p in enumerate(fresh) if i not in picked
            ]
        if not self._catch_up:
            self._done, self._total, self._started = 0, 0, self._clock()
        self._catch_up.extend(fresh)
        self._queued.update(fresh)
        self._total += len(fresh)

    def forget(self, paths: Sequence[Path]) -> None:
        """Photos deleted before their turn."""
        for path in paths:
            self._arrivals.pop(path, None)

    def depart(self, paths: Sequence[Path]) -> None:
        """Photos gone (deleted, moved away): recorded before the next chunk is taken in."""
        self.forget(paths)
        self._departed.update(dict.fromkeys(paths))

    @property
    def departures(self) -> list[Path]:
        """The photos gone and not yet recorded, oldest first."""
        return list(self._departed)

    def recorded(self, paths: Sequence[Path]) -> None:
        """These departures are in the catalog now."""
        for path in paths:
            self._departed.pop(path, None)

    def put_back(self, chunk: Sequence[Path], *, live: bool) -> None:
        """A chunk whose taking in was refused (a full disk): first in line again."""
        if live:
            self._arrivals = {**dict.fromkeys(chunk), **self._arrivals}
            return
        fresh = [path for path in chunk if path not in self._queued]
        self._catch_up.extendleft(reversed(fresh))
        self._queued.update(fresh)
        self._done -= len(fresh)

    def take(self, *, first: bool = False) -> tuple[list[Path], bool]:
        """The next chunk, and whether it holds arrivals (which want their albums at once);
        `first` makes a catch-up chunk the size of the opening sample."""
        if self._arrivals:
            chunk = list(self._arrivals)[:CHUNK]
            for path in chunk:
                del self._arrivals[path]
            return chunk, True
        size = SAMPLE if first else CHUNK
        chunk = [self._catch_up.popleft() for _ in range(min(size, len(self._catch_up)))]
        self._queued.difference_update(chunk)
        self._done += len(chunk)
        return chunk, False

    @property
    def progress(self) -> CatchUp | None:
        """The running catch-up's progress, or None when there is none."""
        if not self._total or (not self._catch_up and self._done >= self._total):
            return None
        return CatchUp(self._done, self._total, self._clock() - self._started)
