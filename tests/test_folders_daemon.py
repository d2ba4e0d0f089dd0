"""The real daemon with its photo folder unplugged and plugged in again: it keeps running,
removes nothing, says so in its status, and takes the folder back by itself."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from PIL import Image

from test_service import SUBJECTS, Daemon, _linked, _write_photos

pytest.importorskip("skimage.data")
import skimage.data


def _offline(root: Path) -> list[str]:
    status = root / "state" / "daemon.json"
    if not status.is_file():
        return []
    return [o["reason"] for o in json.loads(status.read_text()).get("offline", [])]


def _embedded(daemon: Daemon) -> int:
    """Photos the daemon logged as embedded, in all its batches."""
    return sum(int(n) for n in re.findall(rb"(\d+) embedded", daemon.output()))


def test_an_unplugged_folder_is_kept_and_taken_back(tmp_path: Path, model_cache: Path) -> None:
    root, photos = tmp_path, tmp_path / "photos"
    (root / "autoalbum.yaml").write_text(
        f"library:\n  folders: [{photos}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 3\n"
        "watch:\n  settle_seconds: 0.3\n  reconcile_minutes: 0\n  check_folders_seconds: 0.5\n"
    )
    sources = {name: Image.fromarray(getattr(skimage.data, name)()) for name in SUBJECTS}
    _write_photos(photos, sources, 9)
    daemon = Daemon(root, model_cache)
    try:
        daemon.wait_for(lambda: len(_linked(root)) == 9, what="9 photos in albums")
        before = _linked(root)
        photos.rename(root / "unmounted")
        photos.mkdir()  # the empty mount point
        daemon.wait_for(lambda: _offline(root) == ["empty"], what="the folder offline")
        assert _linked(root) == before, "every link kept, dangling"
        photos.rmdir()
        (root / "unmounted").rename(photos)
        daemon.wait_for(lambda: _offline(root) == [], what="the folder back")
        _write_photos(photos, sources, 1, start=9)  # seen only if the folder is watched anew
        daemon.wait_for(lambda: len(_linked(root)) == 10, what="an arrival after the return")
        assert {name: _linked(root)[name] for name in before} == before
        daemon.wait_for(lambda: _embedded(daemon) >= 10, what="the arrival's batch logged")
        assert _embedded(daemon) == 10, "nothing embedded twice"
        assert b"is offline (empty)" in daemon.output() and b"is back after" in daemon.output()
    finally:
        if daemon.process.poll() is None:
            daemon.stop(signal.SIGTERM)
    assert daemon.process.returncode == 0
