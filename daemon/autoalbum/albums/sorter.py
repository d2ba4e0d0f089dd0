"""The one-shot `sort`: scan -> decode -> embed -> cluster -> albums."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autoalbum.albums.names import album_names
from autoalbum.albums.tree import Album, Member, write_albums
from autoalbum.clustering.choose_k import KChoice
from autoalbum.clustering.cluster import K_RANGE, Method, cluster
from autoalbum.clustering.kmeans import Clustering
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


def album_labels(
    clustering: Clustering,
    top_classes: NDArray[np.int64] | None,
    kinds: Sequence[Sequence[str | None]] = (),
) -> list[str]:
    """Name each album after what its members' ImageNet top-1 classes have in common, or as
    photos of people when most show faces (`kinds`: per album, the kinds of some of its
    photos, faces/kinds.py, when faces were looked for)."""
    votes: list[Counter[int]] = [Counter() for _ in range(clustering.k)]
    if top_classes is not None:
        for label, top in zip(clustering.labels, top_classes, strict=True):
            votes[int(label)][int(top)] += 1
    return album_names(with_people(votes, kinds) if kinds else votes)


def _members(clustering: Clustering, index: int) -> NDArray[np.int64]:
    """Album `index`'s photos, nearest to its centre first."""
    members = np.flatnonzero(clustering.labels == index)
    return members[np.argsort(clustering.distances[members], kind="stable")]


def sampled_kinds(embedded: EmbeddedPhotos, clustering: Clustering) -> list[list[str | None]]:
    """Per album, the kinds of photos of people (faces/kinds.py) of its photos whose faces
    were looked for."""
    kinds: list[list[str | None]] = [[] for _ in range(clustering.k)]
    for label, found in zip(clustering.labels, embedded.found, strict=True):
        if found is not None:
            sure = [f for f in found.faces if f.score >= SURE_SCORE]
            biggest = max((f.box.area for f in sure), default=0.0)
            kinds[int(label)].append(photo_kind(len(sure), biggest))
    return kinds


def face_sample(paths: Sequence[Path]) -> set[Path]:
    """The photos whose faces `sort` looks for, to name albums of people: all of a few, else
    about FACE_SAMPLE spread evenly (an album of a tenth of the photos gets about 16)."""
    step = max(1, len(paths) // FACE_SAMPLE)
    return set(paths[::step])


def build_albums(
    embedded: EmbeddedPhotos,
    clustering: Clustering,
    kinds: Sequence[Sequence[str | None]] = (),
) -> tuple[Album, ...]:
    """Albums numbered by size (biggest first), members nearest to the centroid first."""
    names = album_labels(clustering, embedded.top_classes, kinds)
    albums = []
    for index, label in enumerate(names):
        albums.append(
            Album(
                number=index + 1,
                label=label,
                members=tuple(
                    Member(embedded.paths[i], float(clustering.distances[i]))
                    for i in _members(clustering, index)
                ),
            )
        )
    return tuple(albums)


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
    )
    kinds = sampled_kinds(embedded, clustering) if options.faces else ()
    albums = build_albums(embedded, clustering, kinds)
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
