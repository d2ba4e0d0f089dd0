"""What a report shows, read from the output folder of `sort` (its index files and
vectors.npz) or from a library's catalog (its persons and events too, people.py and events.py);
the photos themselves are never opened here."""

from __future__ import annotations

import json
import os
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.sidecar import Shelf, read_tree
from autoalbum.albums.tree import (
    INDEX_NAME,
    INDEX_SCHEMA_VERSION,
    UNSORTED_NUMBER,
    VECTORS_NAME,
    Album,
    Member,
    folder_names,
)
from autoalbum.config import Config
from autoalbum.errors import AutoalbumError
from autoalbum.library.catalog import CATALOG_NAME, AlbumRecord, Status
from autoalbum.library.stores import Stores
from autoalbum.report.events import ReportEvent, read_events
from autoalbum.report.people import ReportPerson, read_persons


class ReportError(AutoalbumError):
    """The report's source can't be read or its folder can't be written."""


@dataclass(frozen=True)
class ReportAlbum:
    folder: str  # 03-egyptian_cat, or 02-dog/05-retriever for a sub-album
    label: str  # Egyptian cat
    photos: tuple[Member, ...]  # nearest to the album centre first
    parents: tuple[str, ...] = ()  # the labels of the albums it lies in, outermost first


@dataclass(frozen=True)
class Collection:
    """What a report shows, read from a sort output folder or from a library."""

    source: str
    albums: tuple[ReportAlbum, ...]
    failures: tuple[tuple[Path, str], ...]
    vectors: NDArray[np.float32] | None
    no_vectors: str | None = None  # why `vectors` is None
    private: tuple[Path, ...] = ()  # folders the report must not be written into
    rows: Mapping[Path, int] = field(default_factory=dict)  # a photo's row in `vectors`
    persons: tuple[ReportPerson, ...] = ()  # most photos first; none from a sort output
    events: tuple[ReportEvent, ...] = ()  # oldest first; none from a sort output


# reading a sort output folder


def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(
            f"{path.parent} holds no {INDEX_NAME}; pass --from the --out folder of autoalbum sort"
        ) from None
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {path}: {error}; run autoalbum sort again") from None
    if not isinstance(index, dict) or not isinstance(index.get("schema_version"), int):
        raise ReportError(f"{path} is not an autoalbum index; run autoalbum sort again")
    if index["schema_version"] > INDEX_SCHEMA_VERSION:
        raise ReportError(f"{path} was written by a newer autoalbum; upgrade autoalbum")
    return index


def _sort_vectors(path: Path, count: int) -> tuple[NDArray[np.float32] | None, str | None]:
    """The vectors `sort` saved beside index.json, or why there are none."""
    if not path.is_file():
        return None, (
            f"no map: {path.parent} has no {VECTORS_NAME} (an older autoalbum sort made it); "
            "run autoalbum sort again to get one"
        )
    try:
        with np.load(path) as data:
            vectors = np.asarray(data["vectors"], dtype=np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        return None, f"no map: cannot read {path} ({error}); run autoalbum sort again"
    if vectors.ndim != 2 or len(vectors) != count:
        return None, f"no map: {path} does not match {INDEX_NAME}; run autoalbum sort again"
    return vectors, None


def _nearest_first(photos: Iterable[Member]) -> tuple[Member, ...]:
    return tuple(sorted(photos, key=lambda photo: photo.distance))


def _albums_v1(index: Mapping[str, Any]) -> list[tuple[str, str, list[Member]]]:
    """Each album's folder, label and photos in a schema-1 index.json (one list of images)."""
    members: dict[str, list[Member]] = defaultdict(list)
    for image in index["images"]:
        members[image["album"]].append(Member(Path(image["path"]), float(image["distance"])))
    return [(a["name"], a["label"], members[a["name"]]) for a in index["albums"]]


def _albums_v2(folder: Path) -> tuple[list[tuple[str, str, list[Member]]], list[Shelf]]:
    """Each album's folder, label and photos, from index.json and the members pages it names;
    and the albums as index.json lists them."""
    tree = read_tree(folder, marker=False)
    if tree is None:
        raise ValueError(f"{folder / INDEX_NAME} can't be read")
    index, photos = tree
    listed = [
        (a.folder, a.label, [Member(Path(p.path), p.distance) for p in photos[a.number]])
        for a in index.albums
    ]
    return listed, list(index.albums)


def nested_order(parents: Sequence[int | None]) -> list[int]:
    """Positions of albums (given their parents' positions) with each album's sub-albums right
    after it, depth first; albums whose parent is not listed count as top ones."""
    children: dict[int | None, list[int]] = {}
    for position, parent in enumerate(parents):
        top = parent is None or not 0 <= parent < len(parents)
        children.setdefault(None if top else parent, []).append(position)
    order: list[int] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        position = stack.pop()
        order.append(position)
        stack += reversed(children.get(position, []))
    return order


def _nested(albums: Sequence[ReportAlbum], shelves: Sequence[Shelf]) -> tuple[ReportAlbum, ...]:
    """The albums with each one's sub-albums after it, named with their parents' labels."""
    position = {shelf.number: i for i, shelf in enumerate(shelves)}
    parents = [position.get(s.parent, -1) if s.parent is not None else None for s in shelves]
    out: list[ReportAlbum] = []
    for i in nested_order(parents):
        above: list[str] = []
        parent = parents[i]
        while parent is not None and parent >= 0 and len(above) < len(shelves):
            above.append(albums[parent].label)
            parent = parents[parent]
        out.append(replace(albums[i], parents=tuple(reversed(above))))
    return tuple(out)


def from_sort_output(folder: Path) -> Collection:
    """Read the album folder written by `autoalbum sort`, of either index schema."""
    path = folder / INDEX_NAME
    index = _read_index(path)
    try:
        shelves: list[Shelf] = []
        if index["schema_version"] == 1:
            listed = _albums_v1(index)
        else:
            listed, shelves = _albums_v2(folder)
        albums = tuple(ReportAlbum(name, label, _nearest_first(m)) for name, label, m in listed)
        if shelves:
            albums = _nested(albums, shelves)
        # vectors.npz: a row per photo, in the order the index lists them
        order = [photo.path for _name, _label, members in listed for photo in members]
        rows = {photo: row for row, photo in enumerate(order)}
        failures = tuple((Path(f["path"]), str(f["reason"])) for f in index["failures"])
        sources = tuple(Path(s) for s in index.get("sources", ()))
    except (KeyError, TypeError, ValueError) as error:
        raise ReportError(f"{path} is damaged ({error!r}); run autoalbum sort again") from None
    vectors, why = _sort_vectors(folder / VECTORS_NAME, len(order))
    source = os.path.abspath(folder)
    return Collection(source, albums, failures, vectors, why, (folder, *sources), rows)


# reading a library


def _album_folders(records: Sequence[AlbumRecord]) -> dict[int, str]:
    """Folder names as the library's album tree spells them."""
    folders = folder_names([Album(a.number, a.name, ()) for a in records])
    return dict(zip((a.id for a in records), folders, strict=True))


def _private(config: Config) -> tuple[Path, ...]:
    """The folders a library reads or manages, where its report must not go."""
    library = config.library
    private = (*library.folders, library.albums, library.state)
    if config.people.enabled:
        private += (config.people.tree(library.albums),)
    if config.events.enabled:
        private += (config.events.tree(library.albums),)
    return private


def from_library(config: Config) -> Collection:
    """Read a library's albums, vectors, persons, events and failed files from its catalog."""
    library = config.library
    path = library.state / CATALOG_NAME
    if not path.is_file():
        raise ReportError(f"no library catalog at {path}; run autoalbum index first")
    stores = Stores(library.state)
    try:
        catalog = stores.catalog
        records = catalog.albums()
        members = catalog.members()  # nearest to the centre first
        content = {f.path: f.content_id for f in catalog.files(Status.OK)}
        paths = [m.path for album in members.values() for m in album]
        ids = sorted({c for p in paths if (c := content.get(p)) is not None})
        vectors = catalog.vectors(ids) if ids else None
        failed = catalog.files(Status.FAILED)
        persons = read_persons(catalog, config.people, library.albums)
        events = read_events(stores, config.events, library.albums)
    finally:
        stores.close()
    row = {content_id: i for i, content_id in enumerate(ids)}
    rows = {p: row[c] for p in paths if (c := content.get(p)) is not None}
    # Numbered albums in order, then the photos far from every centre.
    shown = sorted(
        (a for a in records if a.id in members),
        key=lambda a: (a.number == UNSORTED_NUMBER, a.number),
    )
    folders = _album_folders(shown)
    albums = tuple(ReportAlbum(folders[a.id], a.name, tuple(members[a.id])) for a in shown)
    failures = tuple((f.path, f.reason or "no reason recorded") for f in failed)
    why = None if vectors is not None else "no map: the library has no photos in albums yet"
    source = f"library {library.albums}"
    return Collection(
        source, albums, failures, vectors, why, _private(config), rows, persons, events
    )
