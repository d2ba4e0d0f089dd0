"""The albums as the album tree says and as the photos' sidecars say, read back by ExifTool;
photos and tags settings to make sidecars for."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest
from PIL import Image

from autoalbum.config import TagsConfig
from tree_index import images, index_files

FIELDS = ("Subject", "HierarchicalSubject", "TagsList")


Naming = Literal["image.ext.xmp", "image.xmp"]
Location = Literal["beside", "mirror"]


def exiftool(*args: str) -> list[dict[str, Any]]:
    """ExifTool's JSON records for `args`; the test is skipped where ExifTool is missing."""
    if shutil.which("exiftool") is None:
        pytest.skip("no exiftool on PATH (apt-get install libimage-exiftool-perl)")
    done = subprocess.run(["exiftool", "-j", *args], capture_output=True, text=True, check=True)
    records: list[dict[str, Any]] = json.loads(done.stdout)
    return records


def make_photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, format="JPEG")
    return path


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def tags_config(
    tmp_path: Path, location: Location = "beside", naming: Naming = "image.ext.xmp"
) -> TagsConfig:
    mirror = tmp_path / "mirror" if location == "mirror" else None
    return TagsConfig(enabled=True, location=location, mirror=mirror, naming=naming)


def _values(record: dict[str, Any], name: str) -> list[str]:
    value = record.get(name, [])
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def tags_of(folder: Path, root: str = "autoalbum") -> dict[str, list[str]]:
    """Photo name -> the album labels its sidecar carries under `root`, for every sidecar in
    `folder` that carries any; each checked to stand in all three keyword fields alike."""
    sidecars = sorted(str(p) for p in folder.rglob("*.xmp"))
    if not sidecars:
        return {}
    fields = ["-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP-digiKam:TagsList"]
    found = {}
    for record in exiftool(*fields, *sidecars):
        subject, hierarchy, tags = (_values(record, name) for name in FIELDS)
        labels = [t.removeprefix(f"{root}/") for t in tags if t.startswith(f"{root}/")]
        assert [h for h in hierarchy if h.startswith(f"{root}|")] == [
            f"{root}|{label}" for label in labels
        ], record
        assert set(labels) <= set(subject), record
        if labels:
            found[Path(record["SourceFile"]).name.removesuffix(".xmp")] = labels
    return found


def albums_of(albums: Path) -> dict[str, list[str]]:
    """Photo name -> [its album's label], per the album tree's index.json; _unsorted left out."""
    index, _members = index_files(albums)
    label = {album["name"]: album["label"] for album in index["albums"]}
    return {
        Path(image["path"]).name: [label[image["album"]]]
        for image in images(albums)
        if image["album"] != "_unsorted"
    }
