"""Albums as sidecar keywords, kept current by the library and synced by `autoalbum tags`."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest

from album_tags import albums_of, tags_of
from autoalbum.cli import main
from autoalbum.config import TagsConfig, load_config
from autoalbum.library.library import Library
from autoalbum.tags.xmp import EMPTY_PACKET
from colour_library import ColourEmbedder, colour_photos, config, links, photo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return colour_photos(tmp_path)


def open_library(
    root: Path, tags: TagsConfig | None = None, *, k: int = 2, unsorted: float = 0.6
) -> Library:
    settings = replace(config(root, k=k, unsorted=unsorted), tags=tags or TagsConfig(True))
    model = ColourEmbedder()
    return Library(settings, lambda: model)


def files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def xmp_files(root: Path) -> dict[Path, bytes]:
    return {p: data for p, data in files(root / "photos").items() if p.suffix == ".xmp"}


def sidecars(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "photos").rglob("*.xmp"))


def test_keywords_follow_arrivals_changes_renames_and_reclusters(root: Path) -> None:
    with open_library(root, unsorted=0.3) as library:
        library.index_files()
    assert len(tags_of(root / "photos")) == 12
    assert tags_of(root / "photos") == albums_of(root / "albums")

    photo(root / "photos" / "red0.png", "blue", 500)  # edited: now a blue photo
    photo(root / "photos" / "blue" / "blue0.png", "green", 501)  # far from both: _unsorted
    photo(root / "photos" / "late-red.png", "red", 502)  # an arrival
    (root / "photos" / "blue" / "blue5.png").unlink()  # deleted
    with open_library(root, unsorted=0.3) as library:
        library.index_files()
        blue = tags_of(root / "photos")["blue1.png"]
        assert tags_of(root / "photos")["red0.png"] == blue, "the keyword followed the photo"
        assert "blue0.png.xmp" not in sidecars(root), "left every album: its sidecar went"
        assert "blue5.png.xmp" not in sidecars(root), "and so did a deleted photo's"
        assert tags_of(root / "photos") == albums_of(root / "albums")

        library.rename(blue[0], "Sea")
        assert tags_of(root / "photos")["red0.png"] == ["Sea"], "and the album's new name"
        assert tags_of(root / "photos") == albums_of(root / "albums")

        for i in range(3):
            photo(root / "photos" / f"green{i}.png", "green", 600 + i)
        library.index_files()
        assert "green0.png.xmp" not in sidecars(root), "_unsorted photos carry no keyword"
    with open_library(root, k=3, unsorted=0.3) as library:
        library.recluster()
    after = tags_of(root / "photos")
    assert after == albums_of(root / "albums")
    assert after["green0.png"] == after["blue0.png"] != after["red0.png"] == ["Sea"]


def _config_file(root: Path, enabled: bool = True, extra: str = "") -> Path:
    path = root / "autoalbum.yaml"
    path.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 2\n"
        f"tags:\n  enabled: {str(enabled).lower()}\n{extra}"
    )
    return path


def _index(path: Path) -> None:
    model = ColourEmbedder()
    with Library(load_config(path), lambda: model) as library:
        library.index_files()


def test_tags_command_syncs_everything_dry_run_writes_nothing_remove_takes_all_out(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config_file(root)
    _index(path)
    red0 = root / "photos" / "red0.png.xmp"
    red0.unlink()  # lost, or never written: the record alone would not bring it back
    untouched = files(root / "photos")

    assert main(["tags", "--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would create {red0}: + album" in out and "dry run, nothing written" in out
    assert out.count("would ") == 1, out
    assert files(root / "photos") == untouched

    assert main(["tags", "--config", str(path)]) == 0
    assert f"created {red0}: + album" in capsys.readouterr().out
    assert tags_of(root / "photos") == albums_of(root / "albums")

    assert main(["tags", "--config", str(path), "--remove", "--dry-run"]) == 0
    assert "still enabled" not in capsys.readouterr().out
    assert main(["tags", "--config", str(path), "--remove"]) == 0
    assert "tags are still enabled: the next album update" in capsys.readouterr().out
    assert sidecars(root) == []
    assert main(["tags", "--config", str(path)]) == 0
    assert len(sidecars(root)) == 12

    _config_file(root, enabled=False)
    assert main(["tags", "--config", str(path)]) == 1
    assert "tags are disabled" in capsys.readouterr().err
    assert main(["tags", "--config", str(path), "--remove", "--dry-run"]) == 0
    assert capsys.readouterr().out.count("would delete ") == 12
    assert len(sidecars(root)) == 12
    assert main(["tags", "--config", str(path), "--remove"]) == 0
    out = capsys.readouterr().out
    assert "12 deleted" in out and "still enabled" not in out
    assert sidecars(root) == [], "sidecars autoalbum made and nothing else filled go"
    assert files(root / "photos") == {p: d for p, d in untouched.items() if p.suffix == ".png"}
    with Library(load_config(path), ColourEmbedder) as library:
        assert library.catalog.tagged() == {}


def test_a_bad_sidecar_is_reported_the_rest_synced_and_tried_again(
    root: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = root / "photos" / "red0.png.xmp"
    broken.write_bytes(b"<x:xmpmeta>never closed")
    locked = root / "photos" / "red1.png.xmp"
    locked.write_bytes(EMPTY_PACKET)
    locked.chmod(0o444)
    with caplog.at_level(logging.WARNING), open_library(root) as library:
        library.index_files()
        assert len(links(root)) == 2 and sum(len(n.split()) for n in links(root).values()) == 12
        assert "red0.png.xmp: not well-formed XML" in caplog.text
        assert "red1.png.xmp: it is read-only" in caplog.text
        albums = albums_of(root / "albums")
        assert tags_of(root / "photos") == {
            k: v for k, v in albums.items() if k not in ("red0.png", "red1.png")
        }
        assert broken.read_bytes() == b"<x:xmpmeta>never closed"
        assert locked.read_bytes() == EMPTY_PACKET
        assert {p.name for p in library.catalog.tagged()} == set(albums) - {"red0.png", "red1.png"}

        broken.unlink()
        caplog.clear()
        library.write_tree()  # the next album update tries them again
        assert tags_of(root / "photos") == {k: v for k, v in albums.items() if k != "red1.png"}
        assert "red1.png.xmp" not in caplog.text, "a failure is logged once, not on every update"

    path = _config_file(root)
    assert main(["tags", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"skipped {locked}: it is read-only" in err and "1 sidecars could not be synced" in err


def test_tags_disabled_writes_no_sidecar_and_leaves_existing_ones(root: Path) -> None:
    off = TagsConfig(enabled=False)
    with open_library(root, off) as library:
        library.index_files()
        library.rename("1", "Holiday")
        library.recluster()
        assert library.catalog.tagged() == {}
    assert sidecars(root) == []

    with open_library(root) as library:
        library.write_tree()  # enabled later: the next album update tags every photo
    tagged = xmp_files(root)
    assert len(tagged) == 12
    with open_library(root, off) as library:
        library.rename("1", "Beach")
        photo(root / "photos" / "red0.png", "blue", 500)
        library.index_files()
    assert xmp_files(root) == tagged, "turned off: sidecars are left as they are"


def test_shared_adobe_sidecars_keep_both_albums_and_a_new_root_tags_anew(root: Path) -> None:
    adobe = TagsConfig(True, naming="image.xmp")
    photo(root / "photos" / "pair.jpg", "red", 700)
    photo(root / "photos" / "pair.png", "blue", 701)
    with open_library(root, adobe) as library:
        library.index_files()
        red, blue = tags_of(root / "photos")["red0"], tags_of(root / "photos")["blue0"]
        assert tags_of(root / "photos")["pair"] == sorted(red + blue)
        library.rename(red[0], "Fire")  # only pair.jpg's album changed
        assert sorted(tags_of(root / "photos")["pair"]) == sorted(["Fire", *blue])

    renamed = replace(adobe, root="Albums")
    with open_library(root, renamed) as library:
        library.write_tree()
    assert sorted(tags_of(root / "photos", root="Albums")["pair"]) == sorted(["Fire", *blue])
    assert sorted(tags_of(root / "photos")["pair"]) == sorted(["Fire", *blue]), "the old root stays"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_photo_folder_costs_tags_not_albums(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (root / "photos" / "blue").chmod(0o555)
    try:
        with caplog.at_level(logging.WARNING), open_library(root) as library:
            library.index_files()
    finally:
        (root / "photos" / "blue").chmod(0o755)
    assert sum(len(names.split()) for names in links(root).values()) == 12
    assert sorted(tags_of(root / "photos")) == [f"red{i}.png" for i in range(6)]
    assert caplog.text.count("ReadWritePaths=") == 6
