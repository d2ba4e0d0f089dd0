"""choose_albums on synthetic data: separated blobs each get an album, one diffuse blob stays
whole, and the granularity knob only ever adds albums; the knob reaches the clustering from
`sort`, the config and `autoalbum recluster --granularity`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray

from autoalbum.albums.sorter import SortOptions, sort_photos
from autoalbum.cli import main
from autoalbum.clustering.cluster import cluster
from autoalbum.clustering.granularity import choose_albums, threshold
from autoalbum.config import ClusterConfig, Config, LibraryConfig
from autoalbum.embedding.embedder import normalise
from autoalbum.library.library import Library
from indexed_photos import IndexedEmbedder, indexed_photos


def _blobs(sizes: list[int], spreads: list[float], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs around random directions in 1280-d, projected onto the sphere."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for label, (size, spread) in enumerate(zip(sizes, spreads, strict=True)):
        centre = normalise(rng.standard_normal((1, 1280)).astype(np.float32))
        noise = rng.standard_normal((size, 1280)).astype(np.float32) * spread / np.sqrt(1280)
        rows.append(normalise(centre + noise))
        labels += [label] * size
    return np.concatenate(rows), np.array(labels)


def test_separated_blobs_of_unequal_density_each_get_an_album() -> None:
    vectors, truth = _blobs([400, 250, 120, 80], [0.4, 0.7, 0.5, 0.9])
    clustering, choice = choose_albums(vectors, k_range=(1, 60))
    # scripts/clustering_spread.py granularity-separated: 4 albums, each blob whole, in 12/12
    # draws (3 data seeds, seeds 0-4, rows as they are, reordered, through float16, noised)
    assert clustering.k == 4 and choice.k == 4
    for label in range(4):
        assert len(np.unique(clustering.labels[truth == label])) == 1


def test_one_diffuse_blob_is_not_split() -> None:
    vectors, _ = _blobs([800], [1.5])
    clustering, _ = choose_albums(vectors, k_range=(1, 60))
    # scripts/clustering_spread.py granularity-diffuse: 1 album in 8/8 draws (3 data seeds,
    # seeds 0-4, rows as they are, reordered, through float16, noised)
    assert clustering.k == 1


def test_k_range_is_respected() -> None:
    vectors, _ = _blobs([100] * 6, [0.5] * 6, seed=1)
    # scripts/clustering_spread.py granularity-k-range: 3 and 2 in 4/4 draws (3 data seeds,
    # seeds 0-4, rows as they are, reordered, through float16, noised)
    assert choose_albums(vectors, k_range=(1, 3))[0].k == 3
    assert choose_albums(_blobs([600], [1.5])[0], k_range=(2, 60))[0].k == 2


def test_granularity_is_monotone() -> None:
    vectors = _kinds_of_kinds()
    ks = [choose_albums(vectors, granularity=g, k_range=(1, 60))[0].k for g in (-2, -1, 0, 1, 2)]
    # Over data seeds 0-3, seeds 0-2 and rows as they are, reordered, through float16 and
    # noised (48 draws): 3 at -2, 3-4 at -1, 4-5 at 0, 5-6 at 1, 6 at 2; monotone and moving
    # in 48/48 (the blobs this test used before made 5 at every level).
    assert ks == sorted(ks) and ks[0] < ks[-1]
    assert threshold(-1) < threshold(0) < threshold(1)


def _kinds_of_kinds(seed: int = 0) -> NDArray[np.float32]:
    """Three far-apart kinds of photo, each two sub-kinds of 50 that barely separate."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(3):
        kind = rng.standard_normal(64)
        for _ in range(2):
            sub_kind = kind + 0.2 * rng.standard_normal(64)
            rows.append(sub_kind + 0.3 * rng.standard_normal((50, 64)))
    return normalise(np.concatenate(rows).astype(np.float32))


def test_coarser_and_finer_reach_the_clustering() -> None:
    vectors = _kinds_of_kinds()
    coarser = cluster(vectors, None, granularity=-1)[0].k
    finer = cluster(vectors, None, granularity=1)[0].k
    # scripts/clustering_spread.py granularity-coarser-finer: coarser 3 in 24/24 draws, finer 5-6
    # (6 in 18) over 3 data seeds, seeds 0-4 and rows as they are, reordered, through float16,
    # noised
    assert coarser == 3 and finer > coarser
    assert cluster(vectors, 4, granularity=-1)[0].k == 4, "a fixed k ignores granularity"


def test_sort_takes_the_granularity(tmp_path: Path) -> None:
    vectors = _kinds_of_kinds()
    photos = indexed_photos(tmp_path / "photos", len(vectors))
    albums = {}
    for level, steps in (("coarser", -1.0), ("finer", 1.0)):
        options = SortOptions(granularity=steps)
        summary = sort_photos([photos], tmp_path / level, IndexedEmbedder(vectors), options)
        albums[level] = len(summary.albums)
    # scripts/clustering_spread.py granularity-sort: 3 and 6 albums in 6/6 draws (2 data seeds,
    # seeds 0-4, the photos' vectors reordered, through float16, noised)
    assert albums["coarser"] == 3 and albums["finer"] > 3


def test_config_and_recluster_flag_take_the_granularity(tmp_path: Path) -> None:
    vectors = _kinds_of_kinds()
    photos = indexed_photos(tmp_path / "photos", len(vectors))
    config = Config(
        LibraryConfig((photos,), tmp_path / "albums", tmp_path / "state"),
        cluster=ClusterConfig(granularity="finer"),
    )
    model = IndexedEmbedder(vectors)
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        library.index_files()
        finer = len(library.catalog.albums())
    file = tmp_path / "autoalbum.yaml"
    paths = {"folders": [str(photos)], "albums": str(config.library.albums)}
    settings = {"library": {**paths, "state": str(config.library.state)}}
    file.write_text(yaml.safe_dump({**settings, "cluster": {"granularity": "finer"}}))
    assert main(["recluster", "--config", str(file), "--granularity", "coarser"]) == 0
    with Library(config, lambda: model) as library:  # type: ignore[arg-type]
        coarser = len(library.catalog.albums())
    # scripts/clustering_spread.py granularity-library: 3 and 6 albums in 6/6 draws (2 data
    # seeds, seeds 0-4, the photos' vectors reordered, through float16, noised)
    assert coarser == 3 < finer
