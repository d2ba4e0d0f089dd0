"""The album tree's index files: a small top-level index.json and one members file per album.

Layout (schema_version 2)::

    albums/index.json                  every album (number, folder, label, size, its members
                                       file and the generation that file was written at), the
                                       files that failed, the tree's generation
    albums/.index/album-0007.json      album 7's photos: path, link (the entry's name in the
                                       album's folder) and distance, nearest to the centre first
    albums/07-espresso/...             the album's symlinks

Members files are named by album number (folders may be renamed), and live in a hidden folder
so that photo apps listing an album never show them. Every file is replaced whole by a rename.

A writer writes the members files first, then index.json with a new `generation`, and only
then deletes what index.json no longer names. A reader gets a consistent view by reading
index.json, then each members file it names: a file whose `generation` is not the one index.json
gives for it, or that has gone, was replaced meanwhile; the reader starts again (`read_tree`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from autoalbum import __version__
from autoalbum.durable import write_json_atomically

INDEX_SCHEMA_VERSION = 2
INDEX_NAME = "index.json"
MARKER_NAME = ".autoalbum"
MEMBERS_FOLDER = ".index"
OWN_KEYS = frozenset(
    {"schema_version", "generator", "created", "generation", "albums", "failures", "images"}
)
_READ_ATTEMPTS = 10


class IndexChanged(Exception):
    """A members file is not the one index.json names: the tree changed while being read."""


class Linked(NamedTuple):
    """A photo as its album's members file lists it. A tuple of strings: a members file of
    thousands of photos is read and written without making a Path of each."""

    path: str  # the original, absolute; os.fsencode gives back its bytes
    link: str  # the entry's name in the album's folder
    distance: float


@dataclass(frozen=True)
class Shelf:
    """An album as index.json lists it."""

    number: int
    folder: str
    label: str
    size: int
    generation: int  # when its members file was written
    parent: int | None = None  # the album it is a sub-album of, and whose folder holds its own

    @property
    def members(self) -> str:
        return members_file(self.number)


@dataclass(frozen=True)
class TreeIndex:
    """The top-level index.json."""

    generation: int
    albums: tuple[Shelf, ...]
    failures: tuple[tuple[Path, str], ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)  # sort's sources, k, ...


@dataclass(frozen=True)
class WrittenLink:
    """Where autoalbum last linked a photo: `folder/link`, in album `album`."""

    folder: str
    link: str
    album: int
    distance: float = 0.0


def members_file(number: int) -> str:
    """The members file of album `number`, relative to the tree: `.index/album-0007.json`."""
    return f"{MEMBERS_FOLDER}/album-{number:04d}.json"


def write_members(
    out: Path, number: int, folder: str, generation: int, photos: Sequence[Linked]
) -> None:
    (out / MEMBERS_FOLDER).mkdir(exist_ok=True)
    record = {
        "schema_version": INDEX_SCHEMA_VERSION,
        "number": number,
        "folder": folder,
        "generation": generation,
        "photos": [
            {"path": path, "link": link, "distance": round(distance, 6)}
            for path, link, distance in photos
        ],
    }
    write_json_atomically(out / members_file(number), record)


def write_index(out: Path, index: TreeIndex) -> None:
    """Write index.json, last, after every members file it names."""
    clash = OWN_KEYS.intersection(index.extra)
    if clash:
        raise ValueError(f"extra index keys {sorted(clash)} would replace autoalbum's own")
    record = {
        "schema_version": INDEX_SCHEMA_VERSION,
        "generator": f"autoalbum {__version__}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "generation": index.generation,
        **index.extra,
        "albums": [
            {
                "number": a.number,
                "name": a.folder,
                "label": a.label,
                "size": a.size,
                "members": a.members,
                "generation": a.generation,
                "parent": a.parent,
            }
            for a in index.albums
        ],
        "failures": [{"path": str(path), "reason": reason} for path, reason in index.failures],
    }
    write_json_atomically(out / INDEX_NAME, record, indent=2)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def raw_index(out: Path, *, marker: bool = True) -> dict[str, Any] | None:
    """index.json of a tree autoalbum made (its marker present, unless not `marker`), in any
    schema, else None."""
    if marker and not (out / MARKER_NAME).is_file():
        return None
    return _load(out / INDEX_NAME)


def parse_index(raw: Mapping[str, Any]) -> TreeIndex:
    """A schema-2 index.json; KeyError, TypeError or ValueError if it is damaged."""
    albums = tuple(
        Shelf(int(a["number"]), str(a["name"]), str(a["label"]), int(a["size"]),
              int(a["generation"]), _parent(a.get("parent")))
        for a in raw["albums"]
    )  # fmt: skip
    failures = tuple((Path(f["path"]), str(f["reason"])) for f in raw["failures"])
    extra = {k: v for k, v in raw.items() if k not in OWN_KEYS}
    return TreeIndex(int(raw["generation"]), albums, failures, extra)


def _parent(value: object) -> int | None:
    """An album's `parent` as index.json gives it: a number, or null (or absent) at the top."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an album's parent must be a number or null, got {value!r}")
    return value


def read_index(out: Path, *, marker: bool = True) -> TreeIndex | None:
    """The tree's index.json if autoalbum wrote it in this schema, else None."""
    raw = raw_index(out, marker=marker)
    if raw is None or raw.get("schema_version") != INDEX_SCHEMA_VERSION:
        return None
    try:
        return parse_index(raw)
    except (KeyError, TypeError, ValueError):
        return None


def read_members(out: Path, album: Shelf) -> list[Linked]:
    """The photos of `album` as index.json names it; IndexChanged if its file was replaced or
    removed since (read index.json again), ValueError if it is damaged."""
    raw = _load(out / album.members)
    if raw is None:
        if not (out / album.members).exists():
            raise IndexChanged(f"{album.members} is gone")
        raise ValueError(f"{out / album.members} is not readable JSON")
    if raw.get("generation") != album.generation or raw.get("number") != album.number:
        raise IndexChanged(f"{album.members} is of another generation")
    try:
        return [Linked(str(p["path"]), str(p["link"]), float(p["distance"])) for p in raw["photos"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{out / album.members} is damaged: {error!r}") from None


def read_tree(
    out: Path, *, marker: bool = True, folders: Collection[str] | None = None
) -> tuple[TreeIndex, dict[int, list[Linked]]] | None:
    """A consistent view of the tree: index.json and every album's photos (by number), or only
    those of the albums whose folder is one of `folders`, read as the module docstring says;
    None if there is no schema-2 tree. ValueError if it is damaged or keeps changing."""
    for _ in range(_READ_ATTEMPTS):
        index = read_index(out, marker=marker)
        if index is None:
            return None
        try:
            return index, {
                a.number: read_members(out, a)
                for a in index.albums
                if folders is None or a.folder in folders
            }
        except IndexChanged:
            continue
    raise ValueError(f"{out} kept changing while it was read; try again")


def read_album(out: Path, number: int) -> tuple[Shelf, list[Linked]] | None:
    """One album as index.json lists it and its photos: two small files, whatever the size of
    the library. None if the tree has no such album."""
    for _ in range(_READ_ATTEMPTS):
        index = read_index(out)
        shelf = next((a for a in index.albums if a.number == number), None) if index else None
        if shelf is None:
            return None
        try:
            return shelf, read_members(out, shelf)
        except IndexChanged:
            continue
    raise ValueError(f"{out} kept changing while it was read; try again")


def written_links(out: Path, folders: Collection[str] | None = None) -> dict[Path, WrittenLink]:
    """Every photo's link as autoalbum last wrote it, or only those in `folders`: photo ->
    (folder, link, album). Reads only those albums' members files."""
    return {Path(path): link for path, link in written_paths(out, folders).items()}


def written_paths(out: Path, folders: Collection[str] | None = None) -> dict[str, WrittenLink]:
    """`written_links` by the photos' paths as the members files give them (str, as
    `Linked.path`): no Path made per photo."""
    tree = read_tree(out, folders=folders)
    if tree is None:
        return {}
    folder = {a.number: a.folder for a in tree[0].albums}
    written = {}
    for number, photos in tree[1].items():
        name = folder[number]
        for path, link, distance in photos:
            written[path] = WrittenLink(name, link, number, distance)
    return written


def adopt(out: Path, photos: Mapping[str, Sequence[Linked]]) -> set[int] | None:
    """Record these album folders' photos (by folder) as the tree's own, as if autoalbum had
    written them: their members files at a new generation first, then index.json with their
    sizes. Returns the numbers of the albums recorded; None if the tree has no schema-2 index
    or no album in one of these folders (nothing is written then)."""
    if not photos:
        return set()
    index = read_index(out)
    if index is None:
        return None
    number = {shelf.folder: shelf.number for shelf in index.albums}
    if not set(photos) <= set(number):
        return None
    generation = index.generation + 1
    for folder, linked in photos.items():
        write_members(out, number[folder], folder, generation, linked)
    shelves = tuple(
        replace(s, size=len(photos[s.folder]), generation=generation)
        if s.folder in photos else s
        for s in index.albums
    )  # fmt: skip
    write_index(out, TreeIndex(generation, shelves, index.failures, index.extra))
    return {number[folder] for folder in photos}


def upgrade(out: Path) -> bool:
    """Convert a schema-1 tree's index.json in place, keeping every link's name: members files
    first, then the new index.json. Returns whether there was one to convert."""
    raw = raw_index(out)
    if raw is None or raw.get("schema_version") != 1:
        return False
    try:
        by_folder: dict[str, list[Linked]] = {str(a["name"]): [] for a in raw["albums"]}
        for image in raw["images"]:
            link = str(image["link"]).split("/", 1)[1]
            by_folder[str(image["album"])].append(
                Linked(str(image["path"]), link, float(image["distance"]))
            )
        shelves = tuple(
            Shelf(int(a["number"]), str(a["name"]), str(a["label"]),
                  len(by_folder[str(a["name"])]), 1)
            for a in raw["albums"]
        )  # fmt: skip
        failures = tuple((Path(f["path"]), str(f["reason"])) for f in raw["failures"])
    except (KeyError, TypeError, ValueError, IndexError):
        return False
    for shelf in shelves:
        write_members(out, shelf.number, shelf.folder, 1, by_folder[shelf.folder])
    extra = {k: v for k, v in raw.items() if k not in OWN_KEYS}
    write_index(out, TreeIndex(1, shelves, failures, extra))
    return True


def remove_members(out: Path, number: int) -> None:
    (out / members_file(number)).unlink(missing_ok=True)


def is_members_file(name: str) -> bool:
    """A file autoalbum writes in MEMBERS_FOLDER (or a temporary one of its atomic writes)."""
    return (name.startswith("album-") or name.startswith(".album-")) and (
        name.endswith(".json") or name.endswith(".tmp")
    )


def member_names(out: Path) -> list[str]:
    try:
        return sorted(os.listdir(out / MEMBERS_FOLDER))
    except FileNotFoundError:
        return []
