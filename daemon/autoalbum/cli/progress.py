"""Progress for long runs: a bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

log = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 5.0


@contextmanager
def progress(total: int, what: str, *, bar: bool | None = None) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; shows a tqdm bar when stderr is a terminal, else logs now and then."""
    use_bar = sys.stderr.isatty() if bar is None else bar
    if use_bar:
        with tqdm(total=total, desc=what, unit="img", file=sys.stderr, leave=False) as meter:

            def advance_bar(n: int) -> None:
                meter.update(n)

            yield advance_bar
        return
    done = 0
    last_log = time.monotonic()

    def advance(n: int) -> None:
        nonlocal done, last_log
        if n == 0:
            return
        done += n
        if time.monotonic() - last_log >= LOG_EVERY_SECONDS or done == total:
            last_log = time.monotonic()
            log.info("%s: %d/%d", what, done, total)

    yield advance
