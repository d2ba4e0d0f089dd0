"""A model switch under the running daemon: the library re-embedded with the configured model,
a chunk per step, while its albums stay as they are and arrivals are filed with its own model.

Each chunk's vectors are committed beside the old ones (the next_vectors table), so a stop or a
crash loses at most one chunk and the next start carries on. When every live photo has one,
the library takes them in one transaction (Library.complete_switch): vectors of the two models
never meet in an album or a search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from autoalbum.embedding.embedder import Embedder, ModelIdentity
from autoalbum.embedding.pipeline import embed_paths
from autoalbum.library.library import Library
from autoalbum.library.records import Status
from autoalbum.service.backlog import CHUNK, CatchUp

log = logging.getLogger(__name__)


class ModelSwitch:
    """Re-embeds `library`'s live photos with `model`, one file per content, CHUNK at a time."""

    def __init__(
        self,
        library: Library,
        model: Embedder,
        target: ModelIdentity,
        clock: Callable[[], float],
    ) -> None:
        self.library = library  # replaced by the service on a config reload
        self.model = model
        self.target = target
        self._clock = clock
        self._started = clock()
        self._done_at_start = library.catalog.count_next_vectors()[0]
        log.info("%s", self.describe())

    @classmethod
    def under_way(cls, library: Library, clock: Callable[[], float]) -> ModelSwitch | None:
        """The switch `library` is in, when its configured model is not the one it holds."""
        target, model = library.switching, library.next_model
        if target is None or model is None:
            return None
        if library.arrivals_wait:
            log.warning("photos that arrive wait until the switch is complete")
        return cls(library, model, target, clock)

    def as_dict(self) -> dict[str, object]:
        """For daemon.json: the model, photos done and in all, and the pace of this run (the
        vectors kept from before a restart came free)."""
        done, total = self.library.catalog.count_next_vectors()
        pace = CatchUp(done, total, self._clock() - self._started, self._done_at_start)
        return {"to": self.target.title, **pace.as_dict()}

    def describe(self) -> str:
        return describe_switch(self.as_dict())

    def step(self) -> bool:
        """Embed the next chunk with the new model and commit it; True when none is left."""
        catalog = self.library.catalog
        ids = catalog.lacking_next_vector(CHUNK)
        if not ids:
            return True
        first = {catalog.paths_of(i)[0]: i for i in ids}
        settings = self.library.config.model
        result = embed_paths(
            list(first), self.model, batch_size=settings.batch_size,
            workers=settings.workers or None, max_pixels=settings.max_pixels,
        )  # fmt: skip
        if len(result.paths) and result.vectors.shape[1] != self.target.dim:
            raise AssertionError(f"{self.target} gave {result.vectors.shape[1]}-d vectors")
        with catalog.transaction():
            catalog.set_next_vectors([first[p] for p in result.paths], result.vectors)
            for failure in result.failures:
                self._fail(failure.path, failure.reason)
        return False

    def _fail(self, path: Path, reason: str) -> None:
        """A file the new model can't read counts as failed, as it would in a new library."""
        log.warning("skipping %s: %s", path, reason)
        record = self.library.catalog.file(path)
        if record is not None:
            failed = replace(record, status=Status.FAILED, reason=reason, content_id=None)
            self.library.catalog.put_file(failed)


def describe_switch(status: Mapping[str, Any]) -> str:
    """'switching model to efficientnet-lite2: 1,234 of 5,000 photos (30/s, about 2 min left)'."""
    return f"switching model to {status['to']}: {CatchUp.from_dict(status).describe()}"
