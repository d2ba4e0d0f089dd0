"""The real daemon (a subprocess, the real model) and a user at a file browser: what they do in
the album folder, while it runs or while it is stopped, holds through its reclusters and
restarts, and its own tree swaps are never taken for the user's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from autoalbum.library.catalog import CATALOG_NAME, Catalog

pytest.importorskip("skimage.data")
from test_service import SUBJECTS, Daemon, _write_photos


@pytest.fixture(scope="module")
def sources() -> dict[str, Image.Image]:
    import skimage.data

    return {name: Image.fromarray(getattr(skimage.data, name)()) for name in SUBJECTS}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "photos").mkdir()
    (tmp_path / "autoalbum.yaml").write_text(f"""
library:
  folders: [{tmp_path / "photos"}]
  albums: {tmp_path / "albums"}
  state: {tmp_path / "state"}
cluster:
  k: 3
recluster:
  after_new_images: 10
  after_minutes: 600
watch:
  settle_seconds: 0.3
  reconcile_minutes: 0
""")
    return tmp_path


@pytest.fixture
def started(root: Path, model_cache: Path) -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for daemon in daemons:
        if daemon.process.poll() is None:
            daemon.stop(signal.SIGKILL)


def albums(root: Path) -> dict[str, set[str]]:
    """Album folder -> names of the originals its links point to."""
    tree: dict[str, set[str]] = {}
    for folder in (root / "albums").iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            tree[folder.name] = {
                os.path.basename(os.readlink(link))
                for link in folder.iterdir()
                if link.is_symlink()
            }
    return tree


def home(root: Path, subject: str) -> str:
    """The album folder holding most photos of `subject`."""
    counts = Counter(
        folder for folder, names in albums(root).items() for name in names
        if name.startswith(subject)
    )  # fmt: skip
    return counts.most_common(1)[0][0]


def where(root: Path, name: str) -> str:
    (folder,) = [f for f, names in albums(root).items() if name in names]
    return folder


def kinds(root: Path) -> list[str]:
    with Catalog(root / "state" / CATALOG_NAME) as catalog:
        return sorted(c.kind.value for c in catalog.corrections())


def cli(root: Path, model_cache: Path, *args: str) -> str:
    env = {**os.environ, "AUTOALBUM_CACHE": str(model_cache)}
    return subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", args[0], "--config", str(root / "autoalbum.yaml"),
         *args[1:]],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip


def reclustered(daemon: Daemon, before: int) -> None:
    """Wait for the daemon's next recluster, after `before` of them."""
    daemon.wait_for(lambda: daemon.output().count(b"reclustered") > before, what="recluster")


def settled(daemon: Daemon, root: Path, photos: int) -> None:
    """Wait until every photo is linked and the daemon is idle."""
    daemon.wait_for(
        lambda: sum(len(n) for n in albums(root).values()) == photos, what=f"{photos} links"
    )


def test_gestures_hold_through_reclusters_and_restarts(
    root: Path, model_cache: Path, sources: dict[str, Image.Image], started: list[Daemon]
) -> None:
    photos = root / "photos"
    _write_photos(photos, sources, 12)
    started.append(daemon := Daemon(root, model_cache))
    settled(daemon, root, 12)
    out = root / "albums"
    chelsea, coffee, rocket = (home(root, s) for s in SUBJECTS)
    assert len({chelsea, coffee, rocket}) == 3, albums(root)

    # while it runs: a link moved to another album, a link deleted
    os.rename(out / chelsea / "chelsea-0000.jpg", out / coffee / "chelsea-0000.jpg")
    (out / rocket / "rocket-0002.jpg").unlink()
    daemon.wait_for(lambda: kinds(root) == ["exclude", "pin"], what="two corrections")
    daemon.wait_for(lambda: "rocket-0002.jpg" in str(albums(root)), what="the tree rewritten")

    def check() -> None:
        assert where(root, "chelsea-0000.jpg") == home(root, "coffee")
        assert where(root, "rocket-0002.jpg") != home(root, "rocket")

    check()
    for batch in range(2):  # two reclusters by the daemon: its own swaps record nothing
        before = daemon.output().count(b"reclustered")
        _write_photos(photos, sources, 10, start=100 + 10 * batch)
        reclustered(daemon, before)
        settled(daemon, root, 22 + 10 * batch)
        check()
        assert kinds(root) == ["exclude", "pin"]
    assert daemon.stop() == 0

    # while it is stopped: a folder renamed, a new folder of moved links; `index` takes them
    os.rename(out / home(root, "rocket"), out / "Rockets")
    (out / "Mugs").mkdir()
    coffee = home(root, "coffee")
    mugs = sorted(n for n in albums(root)[coffee] if n.startswith("coffee"))[:3]
    for name in mugs:
        os.rename(out / coffee / name, out / "Mugs" / name)
    cli(root, model_cache, "index", "--device", "cpu")
    assert kinds(root) == ["album", "exclude", "pin", "pin", "pin", "pin"]
    assert home(root, "rocket").lower().endswith("rockets")
    assert where(root, mugs[0]).lower().endswith("mugs")

    # a restart, and a merge and a retire made while stopped, taken by `run`
    mugs_folder, coffee, rockets = where(root, mugs[0]), home(root, "coffee"), home(root, "rocket")
    for name in albums(root)[mugs_folder]:
        os.rename(out / mugs_folder / name, out / coffee / name)
    shutil.rmtree(out / rockets)
    started.append(daemon := Daemon(root, model_cache))
    daemon.wait_for(lambda: "retire" in kinds(root) and "merge" in kinds(root), what="merge")
    for batch in range(2):
        before = daemon.output().count(b"reclustered")
        _write_photos(photos, sources, 10, start=200 + 10 * batch)
        reclustered(daemon, before)
        settled(daemon, root, 42 + 10 * batch)
        tree = albums(root)
        assert not any(f.lower().endswith(("mugs", "rockets")) for f in tree), tree
        assert all(where(root, m) == home(root, "coffee") for m in mugs)
        assert where(root, "chelsea-0000.jpg") == home(root, "coffee")
    assert "corrections: 8" in cli(root, model_cache, "status")
    assert daemon.stop() == 0
