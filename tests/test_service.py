"""The real daemon as a subprocess on temp folders: arrivals, changes, crashes, signals."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from album_tags import albums_of, tags_of
from autoalbum.library.catalog import CATALOG_NAME, Catalog, Status
from autoalbum.library.codes import code_size, unpack
from catalog_rows import add_rows, clustered
from tree_index import images

pytest.importorskip("skimage.data")
import skimage.data

SUBJECTS = ("chelsea", "coffee", "rocket")


def _config_text(root: Path, settle: float = 0.3) -> str:
    return f"""
library:
  folders: [{root / "photos"}]
  albums: {root / "albums"}
  state: {root / "state"}
cluster:
  k: auto
  k_range: [2, 6]
recluster:
  after_new_images: 100000
  after_minutes: 600
watch:
  settle_seconds: {settle}
  reconcile_minutes: 0
"""


@pytest.fixture(scope="module")
def sources() -> dict[str, Image.Image]:
    return {name: Image.fromarray(getattr(skimage.data, name)()) for name in SUBJECTS}


def _variant(image: Image.Image, seed: int) -> Image.Image:
    """A different photo of the same subject: a random crop, slightly brighter or darker."""
    rng = np.random.default_rng(seed)
    w, h = image.size
    left, top = int(rng.integers(0, w // 6)), int(rng.integers(0, h // 6))
    crop = image.crop((left, top, left + int(w * 0.8), top + int(h * 0.8)))
    pixels = np.asarray(crop, dtype=np.float32) * float(rng.uniform(0.85, 1.15))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


class Daemon:
    """`autoalbum run` in a subprocess, with helpers to wait for what it does."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.config = root / "autoalbum.yaml"
        env = {**os.environ, "AUTOALBUM_CACHE": str(cache)}
        self.log = (root / "daemon.log").open("ab")
        self.start = self.log.tell()  # a restart appends to the log of the daemon before it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autoalbum.cli", "run", "--config", str(self.config),
             "--device", "cpu"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self.wait_for(lambda: b"watching" in self.output(), what="the daemon to start")

    def output(self) -> bytes:
        """What this daemon logged (not the one before it)."""
        return (self.root / "daemon.log").read_bytes()[self.start :]

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if condition():
                return time.monotonic() - started
            assert self.process.poll() is None, f"daemon died:\n{self.output().decode()}"
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output().decode()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=10)
        self.log.close()
        return code


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "photos").mkdir()
    (tmp_path / "autoalbum.yaml").write_text(_config_text(tmp_path))
    return tmp_path


@pytest.fixture
def daemon(root: Path, model_cache: Path) -> Iterator[Daemon]:
    process = Daemon(root, model_cache)
    yield process
    if process.process.poll() is None:
        process.stop(signal.SIGKILL)


def _linked(root: Path, strict: bool = False) -> dict[str, Path]:
    """Original file name -> the album folder linking to it.

    A link dangles for the moment between a user deleting a photo and the daemon noticing;
    `strict` fails on any dangling link, for the state at rest.
    """
    found = {}
    for link in (root / "albums").rglob("*"):
        if link.is_symlink():
            assert link.exists() or not strict, f"dangling symlink {link}"
            try:
                found[os.path.basename(os.readlink(link))] = link.parent
            except FileNotFoundError:  # a recluster swapped the tree while we listed it
                assert not strict, f"{link} vanished while the daemon was at rest"
    return found


def _subjects_per_album(root: Path) -> int:
    by_album: dict[Path, set[str]] = {}
    for name, album in _linked(root).items():
        by_album.setdefault(album, set()).add(name.split("-")[0])
    return max((len(subjects) for subjects in by_album.values()), default=0)


def _write_photos(
    folder: Path, sources: dict[str, Image.Image], count: int, start: int = 0
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        subject = SUBJECTS[i % len(SUBJECTS)]
        path = folder / f"{subject}-{i:04d}.jpg"
        _variant(sources[subject], i).save(path, quality=85)
        paths.append(path)
    return paths


def _status(root: Path, model_cache: Path) -> str:
    env = {**os.environ, "AUTOALBUM_CACHE": str(model_cache)}
    return subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", "status", "--config", str(root / "autoalbum.yaml")],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip


def test_burst_of_photos_all_land_in_albums(
    root: Path,
    daemon: Daemon,
    sources: dict[str, Image.Image],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    staging = tmp_path_factory.mktemp("card")
    paths = _write_photos(staging, sources, 200)
    for path in paths:
        shutil.copy(path, root / "photos" / path.name)
    daemon.wait_for(lambda: len(_linked(root)) == 200, what="200 photos in albums")
    # The library grew from nothing: a background recluster follows and the albums settle on
    # one subject each (the first albums were formed from the first few photos to arrive).
    daemon.wait_for(lambda: _subjects_per_album(root) == 1, what="one subject per album")
    assert daemon.stop() == 0


def test_changes_are_reflected(
    root: Path, daemon: Daemon, sources: dict[str, Image.Image], model_cache: Path
) -> None:
    photos = root / "photos"
    _write_photos(photos, sources, 12)
    daemon.wait_for(lambda: len(_linked(root)) == 12, what="12 photos in albums")

    (photos / "chelsea-0000.jpg").unlink()
    daemon.wait_for(lambda: "chelsea-0000.jpg" not in _linked(root), what="a delete")

    (photos / "sub").mkdir()
    os.rename(photos / "coffee-0001.jpg", photos / "sub" / "renamed-coffee.jpg")
    daemon.wait_for(
        lambda: "renamed-coffee.jpg" in _linked(root) and "coffee-0001.jpg" not in _linked(root),
        what="a move",
    )
    _variant(sources["coffee"], 999).save(photos / "rocket-0002.jpg", quality=85)  # modified
    coffee_album = _linked(root)["renamed-coffee.jpg"]
    daemon.wait_for(lambda: _linked(root).get("rocket-0002.jpg") == coffee_album, what="a modify")

    (photos / "empty.jpg").write_bytes(b"")
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with (photos / "slow.jpg").open("wb") as half:
        data = (photos / "rocket-0005.jpg").read_bytes()
        half.write(data[: len(data) // 2])
    time.sleep(0.1)
    with (photos / "slow.jpg").open("ab") as rest:
        rest.write(data[len(data) // 2 :] + b"\0")  # completed; a byte more makes it a new file
    daemon.wait_for(lambda: "slow.jpg" in _linked(root), what="the completed half-written file")
    status = _status(root, model_cache)
    assert "daemon: running" in status
    assert "empty.jpg: empty file" in status and "corrupt.jpg" in status
    assert daemon.process.poll() is None, "bad files must not stop the service"
    assert daemon.stop() == 0
    _linked(root, strict=True)


def _pending(root: Path) -> int | None:
    path = root / "state" / "daemon.json"
    return int(json.loads(path.read_text())["pending"]) if path.is_file() else None


def test_status_counts_photos_waiting_to_be_filed(root: Path, model_cache: Path) -> None:
    (root / "autoalbum.yaml").write_text(_config_text(root, settle=60))  # never settle here
    daemon = Daemon(root, model_cache)
    try:
        with contextlib.ExitStack() as copies:  # still being copied: open, not closed
            for name in ("a.jpg", "b.jpg"):
                stream = copies.enter_context((root / "photos" / name).open("wb"))
                stream.write(b"still being copied")
                stream.flush()
            daemon.wait_for(
                lambda: _pending(root) == 2, what="2 pending in daemon.json", timeout=20
            )
            assert "0 batches filed, 2 pending" in _status(root, model_cache)
    finally:
        assert daemon.stop() == 0


def _tagged(root: Path) -> set[str]:
    return {p.name for p in (root / "photos").glob("*.xmp") if b"autoalbum/" in p.read_bytes()}


def test_arrivals_get_their_album_as_a_keyword(
    root: Path, sources: dict[str, Image.Image], model_cache: Path
) -> None:
    (root / "autoalbum.yaml").write_text(_config_text(root) + "tags:\n  enabled: true\n")
    daemon = Daemon(root, model_cache)
    try:
        paths = _write_photos(root / "photos", sources, 6)
        daemon.wait_for(lambda: len(_tagged(root)) == 6, what="6 photos with sidecar keywords")
        photo = _write_photos(root / "photos", sources, 1, start=6)[0]
        daemon.wait_for(lambda: f"{photo.name}.xmp" in _tagged(root), what="a late arrival's")
    finally:
        assert daemon.stop() == 0
    assert set(tags_of(root / "photos")) == {p.name for p in [*paths, photo]}
    assert tags_of(root / "photos") == albums_of(root / "albums")


def test_sigterm_exits_cleanly_within_five_seconds(root: Path, daemon: Daemon) -> None:
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5


def test_sighup_with_broken_config_keeps_the_old_one(
    root: Path, daemon: Daemon, sources: dict[str, Image.Image]
) -> None:
    good = (root / "autoalbum.yaml").read_text()
    (root / "autoalbum.yaml").write_text(good + "\nbogus_section: 1\n")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: b"keeping the old one" in daemon.output(), what="the reload refusal")
    _write_photos(root / "photos", sources, 3)
    daemon.wait_for(lambda: len(_linked(root)) == 3, what="photos after a refused reload")
    assert daemon.stop() == 0


def test_second_daemon_on_one_library_is_refused(
    root: Path, daemon: Daemon, model_cache: Path
) -> None:
    env = {**os.environ, "AUTOALBUM_CACHE": str(model_cache)}
    second = subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", "run", "--config", str(root / "autoalbum.yaml")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert second.returncode == 1
    assert "another autoalbum daemon" in second.stderr


def test_kill_9_mid_burst_then_restart(
    root: Path, model_cache: Path, sources: dict[str, Image.Image]
) -> None:
    first = Daemon(root, model_cache)
    paths = _write_photos(root / "photos", sources, 90)
    first.wait_for(lambda: b"batch:" in first.output(), what="the first batch")
    first.stop(signal.SIGKILL)
    second = Daemon(root, model_cache)
    try:
        second.wait_for(lambda: len(_linked(root)) == 90, what="all 90 photos after restart")
    finally:
        assert second.stop() == 0
    _linked(root, strict=True)
    with Catalog(root / "state" / CATALOG_NAME) as catalog:
        files = catalog.files(Status.OK)
        assert sorted(f.path for f in files) == sorted(paths), "each photo indexed exactly once"
        ids = catalog.content_ids()
        assert len(ids) == 90
        assert len(catalog.codes(ids)) == 90, "one vector per content"
    assert images(root / "albums")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", ["autoalbum.service", "autoalbum-user.service"])
def test_systemd_units_verify(unit: str, tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "systemd" / unit).read_text()
    executable = shutil.which("autoalbum") or str(Path(sys.executable).parent / "autoalbum")
    # verify insists that ExecStart exists; point it at this install's autoalbum.
    for installed in (
        "/opt/autoalbum/.venv/bin/autoalbum",
        "%h/.local/share/autoalbum/venv/bin/autoalbum",
    ):
        text = text.replace(installed, executable)
    (tmp_path / unit).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / unit)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Type=notify" in text and "WatchdogSec=" in text and "ProtectSystem=strict" in text


def test_switches_model_under_the_running_daemon(
    root: Path, model_cache: Path, sources: dict[str, Image.Image]
) -> None:
    """lite0 to lite1 on a real library: the albums stay, an arrival lands during the switch,
    and every vector is Lite1's when it completes."""
    _write_photos(root / "photos", sources, 30)
    daemon = Daemon(root, model_cache)
    try:
        daemon.wait_for(lambda: len(_linked(root)) == 30, what="the first 30 photos")
        config = root / "autoalbum.yaml"
        config.write_text(config.read_text() + "model:\n  name: lite1\n")
        daemon.process.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: b"switching model to" in daemon.output(), what="the switch")
        (arrival,) = _write_photos(root / "photos", sources, 1, start=30)
        assert (root / "albums" / "index.json").is_file(), "the old albums stay"
        daemon.wait_for(lambda: arrival.name in _linked(root), what="the arrival")
        daemon.wait_for(lambda: b"switched model to" in daemon.output(), what="the switch's end")
        daemon.wait_for(lambda: b"reclustered 31 images" in daemon.output(), what="a recluster")
    finally:
        assert daemon.stop() == 0
    assert len(_linked(root, strict=True)) == 31
    with Catalog(root / "state" / CATALOG_NAME) as catalog:
        assert catalog.meta("model_title") == "efficientnet-lite1"
        assert catalog.meta("next_model") is None
        dim = int(catalog.meta("dim") or 0)
        sizes = {len(unpack(row[0])) for row in catalog.db.execute("SELECT code FROM vectors")}
        assert sizes == {code_size(dim)}, "every vector is Lite1's"
        assert len(catalog.codes(catalog.content_ids())) == 31


def test_the_idle_daemon_builds_the_search_index_in_a_thread(
    root: Path, model_cache: Path, sources: dict[str, Image.Image]
) -> None:
    """A library big enough for a search index (catalogued rows standing in for 2,400 photos
    kept elsewhere) gets one from the daemon once it is idle; photos still arrive meanwhile."""
    add_rows(root / "state", clustered(2_400))
    daemon = Daemon(root, model_cache)
    try:
        _write_photos(root / "photos", sources, 3)
        meta_path = root / "state" / "search-index.json"
        daemon.wait_for(meta_path.exists, what="the search index", timeout=90)
        daemon.wait_for(lambda: len(_linked(root)) == 3, what="3 photos in albums")
        assert json.loads(meta_path.read_text())["watermark"] >= 2_400
        daemon.wait_for(
            lambda: b"brought the search index up to date" in daemon.output(), what="its log line"
        )
    finally:
        assert daemon.stop() == 0
