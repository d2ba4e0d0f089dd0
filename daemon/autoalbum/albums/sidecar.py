"""The album tree's index files: a small top-level index.json and each album's members pages.

Layout (schema_version 3)::

    albums/index.json                    every album (number, folder, label, size, its members
                                         pages and the generation each was written at), the
                                         files that failed, the tree's generation
    albums/.index/album-0007.json        album 7's first PAGE_PHOTOS photos: path, link (the
    albums/.index/album-0007.p0001.json  entry's name in the album's folder) and distance;
                                         then its next page, and so on
    albums/07-espresso/...               the album's symlinks

Members pages are named by album number (folders may be renamed), and live in a hidden folder
so that photo apps listing an album never show them. Every file is replaced whole by a rename.
An album's photos are split into pages so that an arrival rewrites the page it joins (the
last), not the album: a write costs what changed, whatever the album's size. A tree written
whole lists each album nearest to its centre first; arrivals then join the last page, so
across pages the photos are in no particular order (sort by distance for nearest first).

A writer writes the pages that changed first, then index.json with a new `generation`, and
only then deletes what index.json no longer names. A reader gets a consistent view by reading
index.json, then each page it names: a page whose `generation` is not the one index.json gives
for it, or that has gone, was replaced meanwhile; the reader starts again (`read_tree`).

Schema 2 (one members file per album) and schema 1 (index.json listing every photo) trees are
converted on their next update, keeping every link's name (`upgrade`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from autoalbum import __version__
from autoalbum.durable import write_json_atomically

INDEX_SCHEMA_VERSION = 3
PAGE_PHOTOS = 1_000  # photos per members page: about 100 KB of JSON
PRETTY_ALBUMS = 1_000  # index.json is indented while it lists no more albums than this
INDEX_NAME = "index.json"
MARKER_NAME = ".autoalbum"
MEMBERS_FOLDER = ".index"
OWN_KEYS = frozenset(
    {"schema_version", "generator", "created", "generation", "albums", "failures", "images"}
)
_READ_ATTEMPTS = 10


class IndexChanged(Exception):
    """A members page is not the one index.json names: the tree changed while being read."""


class Linked(NamedTuple):
    """A photo as its album's members page lists it. A tuple of strings: pages of thousands of
    photos are read and written without making a Path of each."""

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
    pages: tuple[int, ...]  # the generation each members page was written at, the first first
    parent: int | None = None  # the album it is a sub-album of, and whose folder holds its own

    @property
    def generation(self) -> int:
        """When a page of it was last written."""
        return max(self.pages)

    @property
    def members(self) -> list[str]:
        """Its members pages, relative to the tree."""
        return [members_file(self.number, page) for page in range(len(self.pages))]


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


def members_file(number: int, page: int = 0) -> str:
    """Members page `page` of album `number`, relative to the tree: `.index/album-0007.json`,
    then `.index/album-0007.p0001.json`, ..."""
    suffix = f".p{page:04d}" if page else ""
    return f"{MEMBERS_FOLDER}/album-{number:04d}{suffix}.json"


def paged(photos: Sequence[Linked]) -> list[list[Linked]]:
    """Photos cut into members pages of PAGE_PHOTOS, in order; one empty page for none."""
    return [list(photos[i : i + PAGE_PHOTOS]) for i in range(0, len(photos), PAGE_PHOTOS)] or [[]]


def write_page(
    out: Path, number: int, page: int, folder: str, generation: int, photos: Sequence[Linked]
) -> None:
    (out / MEMBERS_FOLDER).mkdir(exist_ok=True)
    record = {
        "schema_version": INDEX_SCHEMA_VERSION,
        "number": number,
        "page": page,
        "folder": folder,
        "generation": generation,
        "photos": [
            {"path": path, "link": link, "distance": round(distance, 6)}
            for path, link, distance in photos
        ],
    }
    write_json_atomically(out / members_file(number, page), record)


def write_members(
    out: Path, number: int, folder: str, generation: int, photos: Sequence[Linked]
) -> tuple[int, ...]:
    """All of an album's photos as members pages at `generation`; returns the pages'
    generations (Shelf.pages). Pages beyond them are left for `prune_pages`."""
    pages = paged(photos)
    for page, linked in enumerate(pages):
        write_page(out, number, page, folder, generation, linked)
    return (generation,) * len(pages)


def write_index(out: Path, index: TreeIndex) -> None:
    """Write index.json, last, after every members page it names."""
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
                "members": [
                    {"file": file, "generation": generation}
                    for file, generation in zip(a.members, a.pages, strict=True)
                ],
                "parent": a.parent,
            }
            for a in index.albums
        ],
        "failures": [{"path": str(path), "reason": reason} for path, reason in index.failures],
    }
    # Indented for reading by eye, up to PRETTY_ALBUMS groups; a bigger one (an Events tree of
    # decades) is written compact: Python's C encoder, 4 times as fast, a third smaller.
    pretty = len(index.albums) <= PRETTY_ALBUMS
    write_json_atomically(out / INDEX_NAME, record, indent=2 if pretty else None)


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
    """A schema-3 index.json; KeyError, TypeError or ValueError if it is damaged."""
    albums = tuple(
        Shelf(int(a["number"]), str(a["name"]), str(a["label"]), int(a["size"]),
              _pages(int(a["number"]), a["members"]), _parent(a.get("parent")))
        for a in raw["albums"]
    )  # fmt: skip
    failures = tuple((Path(f["path"]), str(f["reason"])) for f in raw["failures"])
    extra = {k: v for k, v in raw.items() if k not in OWN_KEYS}
    return TreeIndex(int(raw["generation"]), albums, failures, extra)


def _pages(number: int, members: object) -> tuple[int, ...]:
    """An album's pages' generations as index.json lists them, each under its own name."""
    if not isinstance(members, list) or not members:
        raise ValueError(f"album {number}'s members must be a list of pages, got {members!r}")
    pages = tuple(int(page["generation"]) for page in members)
    if [page["file"] for page in members] != [members_file(number, i) for i in range(len(pages))]:
        raise ValueError(f"album {number}'s members pages are misnamed: {members!r}")
    return pages


def _parent(value: object) -> int | None:
    """An album's `parent` as index.json gives it: a number, or null (or absent) at the top."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"an album's parent must be a number or null, got {value!r}")
    return value


def read_index(out: Path, *, marker: bool = True) -> TreeIndex | None:
    """The tree's index.json if autoalbum wrote it in this schema, else None. Parsed once
    per version of the file (by its stat, as gestures.tree_folders lists it: it is only ever
    replaced whole), however often a write and the gesture watch ask: a tree of 46,000
    events' is 7 MB."""
    if marker and not (out / MARKER_NAME).is_file():
        return None
    try:
        info = (out / INDEX_NAME).stat()
    except OSError:
        return None
    return _parsed(os.fspath(out), info.st_ino, info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=8)
def _parsed(out: str, _inode: int, _mtime_ns: int, _size: int) -> TreeIndex | None:
    """`read_index` of the index.json with this stat."""
    raw = _load(Path(out) / INDEX_NAME)
    if raw is None or raw.get("schema_version") != INDEX_SCHEMA_VERSION:
        return None
    try:
        return parse_index(raw)
    except (KeyError, TypeError, ValueError):
        return None


def read_page(out: Path, album: Shelf, page: int) -> list[Linked]:
    """Members page `page` of `album` as index.json names it; IndexChanged if it was replaced
    or removed since (read index.json again), ValueError if it is damaged."""
    name = members_file(album.number, page)
    raw = _load(out / name)
    if raw is None:
        if not (out / name).exists():
            raise IndexChanged(f"{name} is gone")
        raise ValueError(f"{out / name} is not readable JSON")
    if (raw.get("generation"), raw.get("number"), raw.get("page")) != (
        album.pages[page],
        album.number,
        page,
    ):
        raise IndexChanged(f"{name} is of another generation")
    try:
        return _linked(raw["photos"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{out / name} is damaged: {error!r}") from None


def read_members(out: Path, album: Shelf) -> list[Linked]:
    """The photos of `album` as index.json names it, page after page; IndexChanged if a page
    was replaced or removed since (read index.json again), ValueError if one is damaged."""
    photos: list[Linked] = []
    for page in range(len(album.pages)):
        photos += read_page(out, album, page)
    return photos


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
    (folder, link, album). Reads only those albums' members pages."""
    return {Path(path): link for path, link in written_paths(out, folders).items()}


def written_paths(out: Path, folders: Collection[str] | None = None) -> dict[str, WrittenLink]:
    """`written_links` by the photos' paths as the members pages give them (str, as
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
    written them: their members pages at a new generation first, then index.json with their
    sizes. Returns the numbers of the albums recorded; None if the tree has no schema-3 index
    or no album in one of these folders (nothing is written then)."""
    if not photos:
        return set()
    index = read_index(out)
    if index is None:
        return None
    shelf_of = {shelf.folder: shelf for shelf in index.albums}
    if not set(photos) <= set(shelf_of):
        return None
    generation = index.generation + 1
    pages = {
        folder: write_members(out, shelf_of[folder].number, folder, generation, linked)
        for folder, linked in photos.items()
    }
    shelves = tuple(
        replace(s, size=len(photos[s.folder]), pages=pages[s.folder])
        if s.folder in photos else s
        for s in index.albums
    )  # fmt: skip
    write_index(out, TreeIndex(generation, shelves, index.failures, index.extra))
    for folder in photos:
        prune_pages(out, shelf_of[folder], len(pages[folder]))
    return {shelf_of[folder].number for folder in photos}


def upgrade(out: Path) -> bool:
    """Convert a schema-1 or schema-2 tree's index files in place, keeping every link's name:
    members pages first, then the new index.json. Returns whether there was one to convert."""
    raw = raw_index(out)
    version = None if raw is None else raw.get("schema_version")
    if raw is None or version not in (1, 2):
        return False
    try:
        photos = _photos_v1(raw) if version == 1 else _photos_v2(out, raw)
        failures = tuple((Path(f["path"]), str(f["reason"])) for f in raw["failures"])
        generation = int(raw.get("generation", 0)) + 1
        labels = [(int(a["number"]), str(a["name"]), str(a["label"]), a.get("parent"))
                  for a in raw["albums"]]  # fmt: skip
        shelves = tuple(
            Shelf(number, folder, label, len(photos[folder]),
                  write_members(out, number, folder, generation, photos[folder]),
                  _parent(parent))
            for number, folder, label, parent in labels
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, IndexError, FileNotFoundError):
        return False
    extra = {k: v for k, v in raw.items() if k not in OWN_KEYS}
    write_index(out, TreeIndex(generation, shelves, failures, extra))
    return True


def _photos_v1(raw: Mapping[str, Any]) -> dict[str, list[Linked]]:
    """A schema-1 index.json's photos by album folder."""
    by_folder: dict[str, list[Linked]] = {str(a["name"]): [] for a in raw["albums"]}
    for image in raw["images"]:
        link = str(image["link"]).split("/", 1)[1]
        by_folder[str(image["album"])].append(
            Linked(str(image["path"]), link, float(image["distance"]))
        )
    return by_folder


def _photos_v2(out: Path, raw: Mapping[str, Any]) -> dict[str, list[Linked]]:
    """A schema-2 tree's photos by album folder, from its members files (one per album, named
    as the first page is); ValueError if one is not of the generation index.json names."""
    by_folder = {}
    for album in raw["albums"]:
        members = json.loads((out / str(album["members"])).read_text(encoding="utf-8"))
        if members["generation"] != album["generation"]:
            raise ValueError(f"{album['members']} is not the one index.json names")
        by_folder[str(album["name"])] = _linked(members["photos"])
    return by_folder


def _linked(photos: Sequence[Mapping[str, Any]]) -> list[Linked]:
    """A members page's (or schema-2 members file's) `photos`; KeyError, TypeError or
    ValueError if one is damaged."""
    return [Linked(str(p["path"]), str(p["link"]), float(p["distance"])) for p in photos]


def prune_pages(out: Path, album: Shelf, keep: int = 0) -> None:
    """Delete the members pages of `album` (as it was) from page `keep` on: once index.json
    no longer names them."""
    for page in range(keep, len(album.pages)):
        (out / members_file(album.number, page)).unlink(missing_ok=True)


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
