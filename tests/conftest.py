"""Shared fixtures: a per-session model cache and the real bundled model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
from notify_daemon import Manager


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build models into a temp cache so tests never touch the user's ~/.cache."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOALBUM_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> OnnxEmbedder:
    """The real EfficientNet-Lite0 model on the CPU."""
    return OnnxEmbedder(bundled_model_spec(), Device.CPU)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves threads running behind it."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leaked:
        thread.join(timeout=2)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads leaked: {still}"


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    """A notify socket of the test's own, as systemd's side of sd_notify."""
    made = Manager(tmp_path)
    yield made
    made.close()
