"""The one-shot `sort`: scan -> decode -> embed -> cluster -> albums."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.names import album_names, narrower
from autoalbum.albums.tree import Album, Member, write_albums
from autoalbum.clustering.choose_k import KChoice
from autoalbum.clustering.cluster import K_RANGE, Method, cluster
from autoalbum.clustering.kmeans import Clustering
from autoalbum.clustering.nesting import IN_PARENT, Nest, nest, nesting_depth
from autoalbum.embedding.embedder import Embedder
from autoalbum.embedding.images import DEFAULT_MAX_PIXELS
from autoalbum.embedding.pipeline import DEFAULT_BATCH_SIZE, EmbeddedPhotos, Failure, embed_paths
from autoalbum.embedding.scan import find_images
from autoalbum.errors import AutoalbumError
from autoalbum.faces.finder import FaceFinder
from autoalbum.faces.kinds import SURE_SCORE, photo_kind, with_people

log = logging.getLogger(__name__)


FACE_SAMPLE = 160  # photos `sort` looks at for faces, to name albums of people


@dataclass(frozen=True)
class SortOptions:
    k: int | None = None
    k_range: tuple[int, int] = K_RANGE
    granularity: float = 0.0  # steps finer (negative: coarser) when k is chosen
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    seed: int = 0
    method: Method = Method.SPECTRAL
    faces: bool = True  # albums of photos of people named so (faces/kinds.py, face_sample)
    nested: bool = True  # sub-albums inside albums with clear inner kinds (clustering/nesting.py)
    use_gpu: bool = False  # k-means on a GPU where FAISS sees one (faiss_gpu.py)


@dataclass(frozen=True)
class SortSummary:
    out: Path
    albums: tuple[Album, ...]
    images: int
    failures: tuple[Failure, ...]
    seconds: float
    k_choice: KChoice | None

    @property
    def images_per_second(self) -> float:
        return (self.images + len(self.failures)) / self.seconds if self.seconds > 0 else 0.0


Rows = NDArray[np.int64]


def _kinds(embedded: EmbeddedPhotos, rows: Rows) -> list[str | None]:
    """The kinds of photos of people (faces/kinds.py) of those of `rows` whose faces were
    looked for."""
    kinds: list[str | None] = []
    for row in rows:
        found = embedded.found[int(row)]
        if found is not None:
            sure = [f for f in found.faces if f.score >= SURE_SCORE]
            kinds.append(photo_kind(len(sure), max((f.box.area for f in sure), default=0.0)))
    return kinds


def group_labels(embedded: EmbeddedPhotos, groups: Sequence[Rows], faces: bool) -> list[str]:
    """Name each group of photos (rows of `embedded`) after what their ImageNet top-1 classes
    have in common, or as photos of people when most of those looked at show faces; the
    names tell the groups apart."""
    votes: list[Counter[int]] = [Counter() for _ in groups]
    if embedded.top_classes is not None:
        for counter, rows in zip(votes, groups, strict=True):
            counter.update(int(top) for top in embedded.top_classes[rows])
    if not faces:
        return album_names(votes)
    return album_names(with_people(votes, [_kinds(embedded, rows) for rows in groups]))


def face_sample(paths: Sequence[Path]) -> set[Path]:
    """The photos whose faces `sort` looks for, to name albums of people: all of a few, else
    about FACE_SAMPLE spread evenly (an album of a tenth of the photos gets about 16)."""
    step = max(1, len(paths) // FACE_SAMPLE)
    return set(paths[::step])


@dataclass(frozen=True)
class _Group:
    """An album being built: the rows in `embedded` of its own photos (those in none of its
    sub-albums) and their distances to its centre, its parent's number, its sub-albums, and
    the rows of all its photos."""

    rows: Rows
    distances: NDArray[np.float32]
    parent: int | None
    nest: Nest | None
    members: Rows  # every row of the album, sub-albums included


def _level(
    embedded: EmbeddedPhotos, groups: list[_Group], faces: bool, first: int
) -> tuple[list[Album], list[_Group]]:
    """The albums of one level of the tree, numbered from `first`, and the next level's."""
    labels = group_labels(embedded, [g.members for g in groups], faces)
    albums, below = [], []
    for offset, (group, label) in enumerate(zip(groups, labels, strict=True)):
        number = first + offset
        order = np.argsort(group.distances, kind="stable")
        members = tuple(
            Member(embedded.paths[int(group.rows[i])], float(group.distances[i])) for i in order
        )
        albums.append(Album(number, label, members, parent=group.parent))
        below += _sub_groups(embedded, group, number)
    return albums, below


def _sub_groups(embedded: EmbeddedPhotos, group: _Group, number: int) -> list[_Group]:
    """The sub-albums of an album as groups of the next level."""
    nest = group.nest
    if nest is None:
        return []
    groups = []
    for sub in range(nest.k):
        inside = group.members[nest.labels == sub]
        far = nest.distances[nest.labels == sub]
        child = nest.children[sub]
        if child is None:
            groups.append(_Group(inside, far, number, child, inside))
        else:
            own = child.labels == IN_PARENT
            groups.append(_Group(inside[own], far[own], number, child, inside))
    return groups


def build_albums(
    embedded: EmbeddedPhotos,
    clustering: Clustering,
    nests: Sequence[Nest | None] = (),
    faces: bool = False,
) -> tuple[Album, ...]:
    """Albums numbered by size (biggest first), then their sub-albums level by level, each
    album's own photos nearest to its centre first; names narrower inside a parent."""
    groups = []
    for index in range(clustering.k):
        members = np.flatnonzero(clustering.labels == index)
        nest = nests[index] if nests else None
        own = members if nest is None else members[nest.labels == IN_PARENT]
        groups.append(_Group(own, clustering.distances[own], None, nest, members))
    albums: list[Album] = []
    while groups:
        made, groups = _level(embedded, groups, faces, len(albums) + 1)
        albums += made
    label = {a.number: a.label for a in albums}
    return tuple(
        a if a.parent is None else replace(a, label=narrower(a.label, label[a.parent]))
        for a in albums
    )


def sort_photos(
    sources: Sequence[Path],
    out: Path,
    embedder: Embedder,
    options: SortOptions = SortOptions(),
    progress: Callable[[int], Callable[[int], None]] | None = None,
) -> SortSummary:
    """Sort every photo under `sources` into albums under `out`; returns what was done."""
    started = time.monotonic()
    paths = find_images(sources, exclude=[out])
    if not paths:
        raise AutoalbumError(f"no photos found in {', '.join(map(str, sources))}")
    log.info("found %d files to sort", len(paths))
    advance = progress(len(paths)) if progress else (lambda n: None)
    embedded = embed_paths(
        paths,
        embedder,
        batch_size=options.batch_size,
        workers=options.workers,
        max_pixels=options.max_pixels,
        advance=advance,
        faces=FaceFinder() if options.faces else None,
        face_paths=face_sample(paths),
        describe=False,
    )
    if not embedded.paths:
        raise AutoalbumError(f"none of the {len(paths)} files could be read as a photo")
    clustering, choice = cluster(
        embedded.vectors,
        options.k,
        k_range=options.k_range,
        granularity=options.granularity,
        seed=options.seed,
        method=options.method,
        use_gpu=options.use_gpu,
    )
    nests = (
        nest(embedded.vectors, clustering, granularity=options.granularity, seed=options.seed,
             depth=nesting_depth(options.granularity))
        if options.nested else ()
    )  # fmt: skip
    albums = build_albums(embedded, clustering, nests, options.faces)
    row = {path: i for i, path in enumerate(embedded.paths)}
    write_albums(
        out,
        albums,
        failures=[(f.path, f.reason) for f in embedded.failures],
        extra=_index_extra(sources, clustering, choice),
        vectors=embedded.vectors[[row[m.path] for a in albums for m in a.members]],
    )
    return SortSummary(
        out=out,
        albums=albums,
        images=len(embedded.paths),
        failures=tuple(embedded.failures),
        seconds=time.monotonic() - started,
        k_choice=choice,
    )


def _index_extra(
    sources: Sequence[Path], clustering: Clustering, choice: KChoice | None
) -> dict[str, object]:
    extra: dict[str, object] = {
        "sources": [str(Path(s).resolve()) for s in sources],
        "k": clustering.k,
    }
    if choice is not None:
        extra["k_choice"] = {"method": choice.method, "score": round(choice.score, 6)}
    return extra
