"""A library's store: the catalog (SQLite), vectors included, and the model that made them.

Libraries before schema 6 kept a second copy of every vector in a FAISS file; the catalog's
migration takes them over, and opening it deletes that file."""

from __future__ import annotations

import logging
from pathlib import Path

from autoalbum.embedding.embedder import ModelIdentity
from autoalbum.errors import AutoalbumError
from autoalbum.library.backup import KeptCopy, remove_stale_copies, take_copy
from autoalbum.library.catalog import CATALOG_NAME, Catalog

log = logging.getLogger(__name__)

OLD_INDEX_NAME = "vectors.faiss"  # the vector index of schema 5 and before, in the state folder


class ModelMismatchError(AutoalbumError):
    """The library's vectors come from another model than the one configured."""

    def __init__(self, state: Path, stored: str, model: ModelIdentity) -> None:
        super().__init__(
            f"the library in {state} holds vectors made by {stored}, but the configured model is "
            f"{model}; vectors of two models can't be compared, so autoalbum won't mix them. "
            f"Set the config's model section back to the library's model; or run the daemon "
            f"(autoalbum run) with the new model, which re-embeds the library in the background "
            f"and switches the albums over when it is done; or point library.state at a new "
            f"folder to build a library with {model.title} (every photo is embedded again)"
        )
        self.stored = stored
        self.model = model


class Stores:
    """The catalog in one state folder; the parts of a library share one."""

    def __init__(self, state: Path, *, check: bool = True) -> None:
        self.state = state
        # migrated, and committed, as it opens; checked for damage with `check` (catalog.py)
        self.catalog = Catalog(state / CATALOG_NAME, check=check)
        old_index = state / OLD_INDEX_NAME
        if old_index.exists():
            old_index.unlink()
            log.info("deleted %s: the catalog holds the vectors now", old_index)
        remove_stale_copies(state)  # a copy's temporary file left by a process that died

    def close(self) -> None:
        self.catalog.close()

    def keep_copy(self) -> KeptCopy | None:
        """Replace the catalog's kept copy (backup.py) with one of it as it is now; None when
        it can't be taken (logged), the old copy kept."""
        return take_copy(self.catalog.db, self.state)

    def check_model_identity(self, model: ModelIdentity) -> None:
        """Vectors of one library come from one model: the first model it meets becomes its
        own, and any other is refused (ModelMismatchError) before it embeds a photo."""
        digest, dim = self.catalog.meta("model"), int(self.catalog.meta("dim") or 0)
        if digest == model.digest:
            return
        if digest is None and dim == model.dim:
            # Libraries from before model identities recorded only the dimension, and the only
            # bundled model then was Lite0.
            log.warning("the library in %s recorded no model; taking its %d-d vectors as %s's",
                        self.state, dim, model)  # fmt: skip
        elif dim:
            title = self.catalog.meta("model_title")
            stored = f"{title} ({digest})" if digest else f"a {dim}-d model"
            raise ModelMismatchError(self.state, stored, model)
        with self.catalog.transaction():
            self.catalog.set_meta("model", model.digest)
            self.catalog.set_meta("model_title", model.title)

    def identity(self, prefix: str = "") -> ModelIdentity | None:
        """The library's model (or with prefix "next_", the one it is switching to)."""
        digest = self.catalog.meta(f"{prefix}model")
        if digest is None:
            return None
        title = self.catalog.meta(f"{prefix}model_title") or ""
        return ModelIdentity(title, digest, int(self.catalog.meta(f"{prefix}dim") or 0))

    def begin_switch(self, model: ModelIdentity) -> None:
        """Record that the library is switching to `model`; vectors already made by it for
        this switch stay, those of an earlier switch to another model go."""
        if self.identity("next_") == model:
            return
        with self.catalog.transaction():
            self.catalog.clear_next_vectors()
            self.catalog.set_meta("next_model", model.digest)
            self.catalog.set_meta("next_model_title", model.title)
            self.catalog.set_meta("next_dim", str(model.dim))

    def cancel_switch(self) -> None:
        """The configured model is the library's own again: drop a switch left unfinished."""
        if self.catalog.meta("next_model") is None:
            return
        log.info("the library's own model is configured again: dropping the model switch")
        with self.catalog.transaction():
            self.catalog.clear_next_vectors()
            self.catalog.delete_meta("next_model", "next_model_title", "next_dim")

    def take_next_model(self) -> None:
        """Inside the switch's transaction: the next model's vectors and identity become the
        library's (library.py recentres the albums in the same transaction)."""
        model = self.identity("next_")
        assert model is not None, "no model switch to complete"
        gone = self.catalog.take_next_vectors()
        if gone:
            log.info("dropped %d contents whose files are all gone", gone)
        self.catalog.set_meta("model", model.digest)
        self.catalog.set_meta("model_title", model.title)
        self.catalog.set_meta("dim", str(model.dim))
        self.catalog.delete_meta("next_model", "next_model_title", "next_dim")

    def check_model(self, dim: int) -> None:
        """Vectors about to be stored fit the library's; the first ones set its dimension. The
        model itself was checked when it opened (check_model_identity)."""
        if not dim:
            return
        stored = int(self.catalog.meta("dim") or 0)
        if stored and stored != dim:
            raise AutoalbumError(
                f"the library in {self.state} holds {stored}-d vectors but the model gives "
                f"{dim}-d ones; use a new library.state folder for a different model"
            )
        if not stored:
            with self.catalog.transaction():
                self.catalog.set_meta("dim", str(dim))
