"""The daemon's backlog: arrivals before the catch-up, a representative opening sample."""

from __future__ import annotations

from pathlib import Path

from autoalbum.service.backlog import CHUNK, SAMPLE, Backlog, CatchUp


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _paths(n: int, folder: str = "old") -> list[Path]:
    return [Path(f"/photos/{folder}/{i:05d}.jpg") for i in range(n)]


def test_arrivals_go_before_the_catch_up() -> None:
    backlog = Backlog(Clock())
    backlog.catch_up(_paths(300), sample_first=False)
    backlog.arrive(_paths(2, "new"))
    assert backlog.take() == (_paths(2, "new"), True)
    chunk, live = backlog.take()
    assert (chunk, live) == (_paths(300)[:CHUNK], False)
    assert len(backlog) == 300 - CHUNK


def test_a_first_start_leads_with_a_sample_of_the_whole_library() -> None:
    paths = _paths(10 * SAMPLE)
    backlog = Backlog(Clock())
    backlog.catch_up(paths, sample_first=True)
    sample, _ = backlog.take(first=True)
    assert len(sample) == SAMPLE
    # Spread over the library, not its first folder: every tenth has about a tenth.
    tenths = [sum(1 for p in sample if p in set(paths[i::10])) for i in range(10)]
    assert min(tenths) > SAMPLE / 20
    rest = []
    while backlog:
        rest += backlog.take()[0]
    assert sorted(sample + rest) == paths, "every photo exactly once"


def test_progress_counts_the_catch_up_and_ends_with_it() -> None:
    clock = Clock()
    backlog = Backlog(clock)
    assert backlog.progress is None
    backlog.catch_up(_paths(2 * CHUNK), sample_first=False)
    backlog.catch_up(_paths(2 * CHUNK), sample_first=False)  # found again: queued once
    backlog.take()
    clock.now += 4.0
    assert backlog.progress == CatchUp(CHUNK, 2 * CHUNK, 4.0)
    assert backlog.progress.describe() == f"{CHUNK} of {2 * CHUNK} photos (32/s, about 4 s left)"
    backlog.take()
    assert backlog.progress is None


def test_a_deleted_arrival_is_forgotten() -> None:
    backlog = Backlog(Clock())
    backlog.arrive(_paths(3, "new"))
    backlog.forget(_paths(1, "new"))
    assert backlog.take()[0] == _paths(3, "new")[1:]


def test_a_refused_chunk_goes_back_to_the_front_of_the_queue() -> None:
    backlog = Backlog(Clock())
    backlog.catch_up(_paths(300), sample_first=False)
    chunk, live = backlog.take()
    backlog.put_back(chunk, live=live)
    assert backlog.progress == CatchUp(0, 300, 0.0)
    backlog.arrive(_paths(2, "new"))
    arrivals, live = backlog.take()
    backlog.put_back(arrivals, live=live)
    backlog.arrive(_paths(3, "new")[2:])
    assert backlog.take() == (_paths(3, "new"), True)
    assert backlog.take() == (chunk, False)


def test_departures_wait_until_they_are_recorded() -> None:
    backlog = Backlog(Clock())
    backlog.arrive(_paths(2, "new"))
    backlog.depart(_paths(1, "new") + _paths(1))
    assert backlog.departures == _paths(1, "new") + _paths(1)
    assert backlog.take() == (_paths(2, "new")[1:], True), "a departed arrival is forgotten"
    backlog.recorded(_paths(1))
    assert backlog.departures == _paths(1, "new")
    assert not len(backlog)
