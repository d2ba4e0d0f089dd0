"""A first start on a backlog, under a service manager the test plays itself: READY at once,
a watchdog that hears from the daemon all along, progress in STATUS=, and a kill -9 in the
middle of the catch-up that loses at most the chunk being embedded."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from notify_daemon import Manager, start_daemon, wait_on
from tree_index import images

pytest.importorskip("skimage.data")
import skimage.data

PHOTOS = 1800
WATCHDOG_SECONDS = 4.0
SUBJECTS = ("chelsea", "coffee", "rocket", "astronaut")


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PHOTOS distinct small photos of four subjects, made once for the module."""
    folder = tmp_path_factory.mktemp("backlog")
    rng = np.random.default_rng(0)
    for subject in SUBJECTS:
        image = Image.fromarray(getattr(skimage.data, subject)()).convert("RGB")
        image.thumbnail((320, 320))  # decoding takes a while too, as in a real library
        for i in range(PHOTOS // len(SUBJECTS)):
            w, h = image.size
            left, top = int(rng.integers(0, w // 5)), int(rng.integers(0, h // 5))
            crop = image.crop((left, top, left + int(w * 0.8), top + int(h * 0.8)))
            pixels = np.asarray(crop, np.float32) * float(rng.uniform(0.8, 1.2))
            out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            out.save(folder / f"{subject}-{i:03d}.jpg", quality=80)
    return folder


def _config(root: Path, photos: Path) -> Path:
    config = root / "autoalbum.yaml"
    config.write_text(
        f"library:\n  folders: [{photos}]\n  albums: {root / 'albums'}\n  state: {root / 'state'}\n"
        "watch:\n  reconcile_minutes: 0\n"
    )
    return config


def _start(config: Path, manager: Manager, log: Path) -> subprocess.Popen[bytes]:
    return start_daemon(config, manager, log, WATCHDOG_SECONDS)


def _filed(root: Path) -> int:
    try:
        return len(images(root / "albums"))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def test_ready_at_once_watchdog_throughout_progress_shown(
    tmp_path: Path, backlog: Path, manager: Manager, embedder: object
) -> None:
    log = tmp_path / "daemon.log"
    started = time.monotonic()
    daemon = _start(_config(tmp_path, backlog), manager, log)
    try:
        wait_on(daemon, manager, lambda: _filed(tmp_path) == PHOTOS, log)
        finished = time.monotonic()
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
    (ready,) = manager.times("READY=1")
    assert ready - started < 15, "READY comes before the catch-up, not after it"
    assert finished - ready > 2 * WATCHDOG_SECONDS, "the backlog spans several intervals"
    pings = [ready, *manager.times("WATCHDOG=1"), finished]
    gaps = np.diff(sorted(p for p in pings if ready <= p <= finished))
    assert gaps.max() <= WATCHDOG_SECONDS, f"a watchdog gap of {gaps.max():.1f} s"
    progress = [s for s in manager.statuses() if s.startswith("catching up: ")]
    assert progress and all(f"of {PHOTOS:,} photos" in s for s in progress), manager.statuses()
    assert re.search(r"\d+/s, about \d+ (s|min) left", progress[-1])


def _catalogued(root: Path) -> dict[bytes, int]:
    """Path -> content id of every file the catalog holds as indexed (none while the daemon
    is still creating it)."""
    try:
        with sqlite3.connect(f"file:{root / 'state' / 'catalog.sqlite'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT path, content_id FROM files WHERE status = 'ok'").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {bytes(path): int(content) for path, content in rows}


def test_kill_9_mid_catch_up_keeps_every_committed_chunk(
    tmp_path: Path, backlog: Path, manager: Manager, embedder: object
) -> None:
    log = tmp_path / "daemon.log"
    config = _config(tmp_path, backlog)
    first = _start(config, manager, log)
    wait_on(first, manager, lambda: len(_catalogued(tmp_path)) >= 200, log)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=20)
    kept = _catalogued(tmp_path)
    assert 200 <= len(kept) < PHOTOS, "killed in the middle of the catch-up"
    second = _start(config, manager, log)
    try:
        wait_on(second, manager, lambda: _filed(tmp_path) == PHOTOS, log)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    after = _catalogued(tmp_path)
    assert {path: after[path] for path in kept} == kept, "what was committed stays as it was"
    assert len(after) == PHOTOS and len(set(after.values())) == PHOTOS, "nothing indexed twice"
    restart = log.read_text().split("watching")[-2]  # the second daemon's start
    assert f"{PHOTOS - len(kept)} photos to take in" in restart
