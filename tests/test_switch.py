"""A model switch under the running daemon (service/switch.py), step by step on a real temp
library: two stand-in models of different dimensions, the old albums kept throughout, arrivals
filed during the switch, and no vector of the old model left when it completes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from autoalbum.albums.tree import INDEX_NAME
from autoalbum.config import Config
from autoalbum.embedding.embedder import Embedder, Embeddings, ModelIdentity, normalise
from autoalbum.library.codes import code_size, unpack
from autoalbum.library.library import Library
from autoalbum.library.lock import LibraryLock
from autoalbum.library.stores import ModelMismatchError
from autoalbum.notify import Notifier
from autoalbum.service import switch
from autoalbum.service.daemon import Service
from autoalbum.service.status import library_status
from colour_library import ColourEmbedder, links, photo
from test_daemon import Rig

OLD = ModelIdentity("colour-4x4", "4x4", 48)
NEW = ModelIdentity("colour-2x2", "2x2", 12)


class OldModel(ColourEmbedder):
    """The library's model: a 4x4 grid of mean colours, 48-d."""

    identity = OLD


class NewModel(ColourEmbedder):
    """The model switched to: a 2x2 grid of mean colours, 12-d."""

    identity = NEW

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        self.images_seen += len(images)
        grid = images.reshape(len(images), 2, 8, 2, 8, 3).mean(axis=(2, 4))
        centred = grid.reshape(len(images), -1).astype(np.float32) - 127.5
        return Embeddings(normalise(centred), None, None)


class SwitchRig(Rig):
    """A running service whose configured model a test can change, and whose library's own
    model it can hide (`earlier` None: as if model.path had been deleted)."""

    def __init__(self, root: Path, initial: int, **settings: Any) -> None:
        self.configured: Embedder = OldModel()
        self.earlier: Embedder | None = OldModel()
        super().__init__(root, initial, **settings)

    def open_library(self, config: Config) -> Library:  # type: ignore[override]
        configured = self.configured

        def earlier(identity: ModelIdentity) -> Embedder | None:
            return self.earlier if identity == OLD else None

        return Library(config, lambda: configured, earlier_model=earlier)

    def restart(self) -> None:
        config = self.service.config
        self.service = Service(
            config, open_library=self.open_library, watch=self.watch,
            lock=LibraryLock(config.library.state), notifier=Notifier(environ={}),
            clock=self.clock,
        )  # fmt: skip

    def switch_to_new(self) -> None:
        self.configured = NewModel()
        self.service.reload()
        self.service.step()
        assert self.service.switching is not None

    def step_until_switched(self) -> int:
        """Steps until the switch is complete, the album tree there after each; how many."""
        steps = 0
        while self.service.switching is not None:
            assert steps < 100, "the switch did not complete"
            self.service.step()
            assert (self.root / "albums" / INDEX_NAME).is_file(), "the albums went away"
            steps += 1
        return steps

    def albums(self) -> set[tuple[int, str]]:
        members = self.service.library.catalog.members()
        return {
            (a.number, a.name) for a in self.service.library.catalog.albums() if a.id in members
        }


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(switch, "CHUNK", 5)


def assert_all_new(library: Library) -> None:
    """Every vector and centre is the new model's; nothing of the old is left."""
    catalog = library.catalog
    assert library.catalog.meta("model") == NEW.digest
    assert catalog.meta("model_title") == NEW.title
    assert catalog.meta("dim") == str(NEW.dim)
    assert catalog.meta("next_model") is None
    sizes = {len(unpack(row[0])) for row in catalog.db.execute("SELECT code FROM vectors")}
    assert sizes == {code_size(NEW.dim)}, "codes of the new model's dimension only"
    assert catalog.db.execute("SELECT COUNT(*) FROM next_vectors").fetchone()[0] == 0
    ids = catalog.db.execute("SELECT content_id FROM vectors ORDER BY content_id").fetchall()
    assert [row[0] for row in ids] == list(catalog.content_ids()), "one vector per content"
    centres = [a.centroid for a in catalog.albums() if a.centroid is not None]
    assert centres and {len(c) for c in centres} == {NEW.dim}


def test_switches_models_while_the_old_albums_stay_and_arrivals_land(tmp_path: Path) -> None:
    rig = SwitchRig(tmp_path, 24)
    with rig.service.running():
        before = rig.albums()
        rig.switch_to_new()
        status = rig.status()["model_switch"]
        assert isinstance(status, dict)
        assert status["to"] == NEW.title and status["total"] == 24 and status["done"] == 5
        shown = library_status(tmp_path / "autoalbum.yaml")
        assert "switching model to colour-2x2: 5 of 24 photos" in shown
        (arrival,) = rig.arrive(1)
        catalog = rig.service.library.catalog
        assert catalog.meta("model") == OLD.digest, "arrivals are filed with the old model"
        assert any(arrival.name in names.split() for names in links(tmp_path).values())
        rig.step_until_switched()
        assert rig.reclustered_at() == 25
        assert_all_new(rig.service.library)
        assert rig.albums() == before, "the albums keep their numbers and names"
        assert any(arrival.name in names.split() for names in links(tmp_path).values())
        assert rig.status()["model_switch"] is None


def test_a_restart_carries_on_with_the_switch(tmp_path: Path) -> None:
    rig = SwitchRig(tmp_path, 24)
    with rig.service.running():
        rig.switch_to_new()
        rig.service.step()
    rig.restart()
    with rig.service.running():
        switching = rig.service.switching
        assert switching is not None
        assert switching.as_dict()["done"] == 10, "the vectors made before the stop are kept"
        assert rig.step_until_switched() == 4
        assert_all_new(rig.service.library)


def test_arrivals_wait_for_the_switch_when_the_old_model_is_gone(tmp_path: Path) -> None:
    rig = SwitchRig(tmp_path, 12)
    rig.earlier = None
    with rig.service.running():
        rig.switch_to_new()
        (arrival,) = rig.arrive(1)
        assert rig.service.backlog == 1
        rig.step_until_switched()
        deadline = time.monotonic() + 30
        while rig.service.backlog:
            assert time.monotonic() < deadline
            rig.service.step()
        assert any(arrival.name in names.split() for names in links(tmp_path).values())
        rig.reclustered_at()
        assert_all_new(rig.service.library)


def test_switching_back_drops_the_switch(tmp_path: Path) -> None:
    rig = SwitchRig(tmp_path, 12)
    with rig.service.running():
        rig.switch_to_new()
        rig.configured = OldModel()
        rig.service.reload()
        rig.service.step()
        assert rig.service.switching is None
        catalog = rig.service.library.catalog
        assert catalog.meta("next_model") is None
        assert catalog.db.execute("SELECT COUNT(*) FROM next_vectors").fetchone()[0] == 0


def test_commands_other_than_the_daemon_refuse_another_model(tmp_path: Path) -> None:
    rig = SwitchRig(tmp_path, 4)
    photo(tmp_path / "photos" / "new.png", "red", 99)
    model = NewModel()
    with (
        Library(rig.service.config, lambda: model) as library,
        pytest.raises(ModelMismatchError, match="autoalbum run"),
    ):
        library.index_files()
