"""The album tree's index files read as any program would: plain JSON, following the reading
protocol the README gives (index.json, then each members page it names, at its generation)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoalbum.albums.tree import Album
from autoalbum.albums.update import rows, update_albums


def index_files(out: Path) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """index.json and every album's members pages, by number (their photos joined, page after
    page), as one consistent view."""
    for _ in range(20):
        index = json.loads((out / "index.json").read_bytes())
        assert index["schema_version"] == 3, index["schema_version"]
        try:
            members = {album["number"]: _pages(out, album) for album in index["albums"]}
        except (FileNotFoundError, Replaced):  # replaced meanwhile: read index.json again
            time.sleep(0.05)
            continue
        return index, members
    raise AssertionError(f"{out} kept changing")


class Replaced(Exception):
    """A members page is not of the generation index.json names."""


def _pages(out: Path, album: dict[str, Any]) -> dict[str, Any]:
    """An album's members pages as one: number, folder, photos."""
    pages = [json.loads((out / page["file"]).read_bytes()) for page in album["members"]]
    for page, listed in zip(pages, album["members"], strict=True):
        if page["generation"] != listed["generation"]:
            raise Replaced(listed["file"])
    return {
        "number": pages[0]["number"],
        "folder": pages[0]["folder"],
        "photos": [photo for page in pages for photo in page["photos"]],
    }


def images(out: Path) -> list[dict[str, Any]]:
    """Every photo in the tree: path, album (its folder), link (relative to `out`), distance."""
    index, members = index_files(out)
    return [
        {"path": photo["path"], "album": album["name"],
         "link": f"{album['name']}/{photo['link']}", "distance": photo["distance"]}
        for album in index["albums"]
        for photo in members[album["number"]]["photos"]
    ]  # fmt: skip


def fake_photo(folder: Path, name: str) -> Path:
    """A file that stands for a photo in tree tests: never read."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"never read")
    return folder / name


def update(
    out: Path,
    albums: list[Album],
    only: list[int] | None = None,
    failures: Sequence[tuple[Path, str]] = (),
) -> tuple[int, int] | None:
    """update_albums comparing the albums numbered in `only` (None: all)."""
    photos = {a.number: rows(a) for a in albums if only is None or a.number in only}
    return update_albums(out, albums, photos, failures=failures)
