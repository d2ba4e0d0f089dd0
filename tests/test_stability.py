"""Albums are stable on real photos: 5% more photos keep >= 90% of images in a same-named album."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoalbum.config import ClusterConfig, Config, LibraryConfig
from autoalbum.embedding.embedder import OnnxEmbedder
from autoalbum.library.library import Library

FLOWERS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "flowers17"
KINDS = ("bluebell", "buttercup", "daisy", "sunflower", "tigerlily", "windflower")


def _config(root: Path, held_out: tuple[str, ...]) -> Config:
    return Config(
        library=LibraryConfig(
            folders=tuple(FLOWERS / kind for kind in KINDS),
            albums=root / "albums",
            state=root / "state",
            ignore=held_out,
        ),
        cluster=ClusterConfig(k="auto", k_range=(2, 12)),
    )


def _album_names(library: Library) -> dict[Path, str]:
    names = {a.id: a.name for a in library.catalog.albums()}
    return {
        m.path: names[album]
        for album, members in library.catalog.members().items()
        for m in members
    }


@pytest.mark.skipif(not FLOWERS.is_dir(), reason="needs ../shared/datasets/flowers17")
def test_five_percent_more_photos_keep_albums(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    photos = sorted(p for kind in KINDS for p in (FLOWERS / kind).iterdir())
    held_out = tuple(p.name for p in photos[::20])  # 5%, spread over every kind
    with Library(_config(tmp_path, held_out), lambda: embedder) as library:
        library.index_files()
        library.recluster()
        before = _album_names(library)
    with Library(_config(tmp_path, ()), lambda: embedder) as library:
        report = library.index_files()
        library.recluster()
        after = _album_names(library)
    assert report.embedded == len(held_out)
    kept = sum(after.get(path) == name for path, name in before.items())
    # scripts/clustering_spread.py stability-flowers17: 0.919-0.998 kept in 6 draws (which 5%
    # held out x seeds 0-4 x photos in their order, renamed into another, vectors through
    # float16, noised); 0.991 here, 0.991-0.998 while the albums stayed 6; 0.919 once, when a 7th
    # album came with the new photos (granularity.py's doc: splits near the threshold come and
    # go as a library grows)
    assert kept / len(before) >= 0.9, f"only {kept}/{len(before)} kept their album name"
