"""The library composes its parts: the whole pipeline, and a config reloaded in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from colour_library import colour_photos, config, links, open_library


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def test_first_index_embeds_and_files_albums(root: Path) -> None:
    with open_library(root) as library:
        report = library.index_files()
    assert (report.found, report.embedded, len(report.failed)) == (12, 12, 0)
    albums = links(root)
    # scripts/clustering_spread.py library-colours: 2 albums, one colour each, in 24/24 draws (3
    # photo seeds, seeds 0-4, photos in their order, renamed into another, vectors through
    # float16, noised)
    assert len(albums) == 2
    assert sorted(albums.values()) == [
        " ".join(sorted(f"blue{i}.png" for i in range(6))),
        " ".join(sorted(f"red{i}.png" for i in range(6))),
    ]


def test_a_reloaded_config_takes_effect_in_place(root: Path) -> None:
    with open_library(root) as library:
        library.index_files()
        library.config = config(root, ignore=("red*",))
        report = library.index_files()
    assert (report.found, report.missing) == (6, 6)
    assert all("red" not in names for names in links(root).values())
