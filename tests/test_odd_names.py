"""Any file name Linux allows goes through every command: non-UTF-8 bytes, newlines, leading
dashes and 255-byte names, in photo names and in folder names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tree_index import images

pytest.importorskip("skimage.data")
import skimage.data

# Each as bytes, the way the kernel sees it; the tests hand them to Python as str through
# os.fsdecode (undecodable bytes become lone surrogates, PEP 383).
ODD_NAMES = (
    b"caf\xe9-latin1.jpg",  # Latin-1 from an old camera or a FAT card: not UTF-8
    b"\xff\xfe-bytes.jpg",
    b"line\nbreak.jpg",
    b"-leading-dash.jpg",
    b"a" * 251 + b".jpg",  # the longest name ext4 allows
    "日本語-utf8.jpg".encode(),
)
SUBJECTS = ("chelsea", "coffee", "rocket")


def _photo(subject: str, seed: int) -> Image.Image:
    image = Image.fromarray(getattr(skimage.data, subject)())
    rng = np.random.default_rng(seed)
    w, h = image.size
    left, top = int(rng.integers(0, w // 6)), int(rng.integers(0, h // 6))
    crop = image.crop((left, top, left + int(w * 0.8), top + int(h * 0.8)))
    return crop.resize((crop.width // 2, crop.height // 2))


def _write_photos(folder: Path, count: int) -> list[Path]:
    """`count` ordinary photos plus one of each odd name, in a folder with an odd name too."""
    odd_folder = folder / os.fsdecode(b"dir-\xe9\ncard")
    odd_folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / f"{SUBJECTS[i % 3]}-{i:03d}.jpg"
        _photo(SUBJECTS[i % 3], i).save(path, quality=85)
        paths.append(path)
    for i, name in enumerate(ODD_NAMES):
        for parent in (folder, odd_folder):
            path = parent / os.fsdecode(name)
            _photo(SUBJECTS[i % 3], 100 + i).save(path, format="JPEG", quality=85)
            paths.append(path)
    return paths


def _cli(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        [sys.executable, "-m", "autoalbum.cli", *map(str, args)],
        capture_output=True, env=env, timeout=600,
    )  # fmt: skip
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


def _linked_targets(albums: Path) -> set[bytes]:
    """The originals the album tree links to, as absolute paths in bytes."""
    return {
        os.fsencode(os.path.realpath(link))
        for link in albums.rglob("*")
        if link.is_symlink() and link.name != "_failed"
    }


def _index_paths(albums: Path) -> set[bytes]:
    """Every photo path in index.json, turned back into bytes as the README says."""
    return {os.fsencode(image["path"]) for image in images(albums)}


def _config(root: Path) -> Path:
    config = root / "autoalbum.yaml"
    config.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 3\n"
        "watch:\n  settle_seconds: 0.3\n  reconcile_minutes: 0\n"
    )
    return config


def test_sort_and_report_take_any_name(tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "photos", 9)
    _cli("sort", tmp_path / "photos", "--out", tmp_path / "albums", "--k", "3")
    expected = {os.fsencode(p.absolute()) for p in photos}
    assert _index_paths(tmp_path / "albums") == expected
    assert {os.path.basename(t) for t in _linked_targets(tmp_path / "albums")} == {
        os.path.basename(os.fsencode(p)) for p in photos
    }
    _cli("report", "--from", tmp_path / "albums", "--out", tmp_path / "report")
    assert (tmp_path / "report" / "index.html").stat().st_size > 0


def test_library_commands_take_any_name(tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "photos", 9)
    config = _config(tmp_path)
    _cli("index", "--config", config)
    assert _index_paths(tmp_path / "albums") == {os.fsencode(p) for p in photos}
    _cli("recluster", "--config", config)
    odd = next(p for p in photos if b"\xe9" in os.fsencode(p.name))
    similar = _cli("similar", odd, "--config", config, "-n", "3").stdout
    assert len(similar.strip().splitlines()) == 3
    _cli("duplicates", "--config", config)
    _cli("status", "--config", config)
    _cli("report", "--config", config, "--out", tmp_path / "report")


def test_evaluate_takes_any_name(tmp_path: Path) -> None:
    for label in (os.fsdecode(b"cl\xe4ss-a"), "-b", "c\nc"):
        _write_photos(tmp_path / "set" / label, 3)
    out = _cli("evaluate", tmp_path / "set", "--k", "3", "--json").stdout
    assert json.loads(out)["images"] == 3 * (3 + 2 * len(ODD_NAMES))


def test_daemon_files_any_name(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    config = _config(tmp_path)
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "autoalbum.cli", "run", "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"watching" not in (tmp_path / "daemon.log").read_bytes():  # arrivals, not a scan
            assert daemon.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        photos = _write_photos(tmp_path / "photos", 9)
        expected = {os.fsencode(p) for p in photos}
        while time.monotonic() < deadline:
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text(errors="replace")
            index = tmp_path / "albums" / "index.json"
            if index.is_file() and _index_paths(tmp_path / "albums") == expected:
                break
            time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "daemon.log").read_text(errors="replace")[-3000:])
        assert _linked_targets(tmp_path / "albums") == expected
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        log.close()
    assert b"Traceback" not in (tmp_path / "daemon.log").read_bytes()
