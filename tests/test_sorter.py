"""End to end: `autoalbum sort` on real sample photos, with bad files mixed in."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from autoalbum.albums.sorter import SortOptions, sort_photos
from autoalbum.albums.tree import MARKER_NAME
from autoalbum.cli import main
from autoalbum.embedding.embedder import OnnxEmbedder
from autoalbum.samples import write_sample_photos
from tree_index import images

pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six variants each of a cat, an espresso and a rocket, plus three bad files."""
    folder = tmp_path_factory.mktemp("photos")
    write_sample_photos(folder, subjects=("chelsea", "coffee", "rocket"))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a photo")
    good = (folder / "coffee" / "coffee-original.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(good[: len(good) // 3])
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def test_sort_makes_named_albums(photos: Path, tmp_path: Path, embedder: OnnxEmbedder) -> None:
    before = _snapshot(photos)
    out = tmp_path / "albums"
    summary = sort_photos([photos], out, embedder, SortOptions(k=3))

    assert summary.images == 18
    assert sorted(f.path.name for f in summary.failures) == ["cut.jpg", "empty.jpg", "notes.jpg"]
    subjects = {a.label: {m.path.parent.name for m in a.members} for a in summary.albums}
    # scripts/clustering_spread.py sort-k3: one subject an album, sizes 6 6 6 and these names in
    # 40/40 draws (seeds 0-9 x the photos' vectors in their order, reordered, through float16,
    # noised)
    assert all(len(s) == 1 for s in subjects.values()), f"mixed albums: {subjects}"
    assert subjects["Egyptian cat"] == {"chelsea"}
    assert subjects["espresso"] == {"coffee"}
    assert sorted(len(a.members) for a in summary.albums) == [6, 6, 6]

    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != ".index")
    assert len(folders) == 3 and all(name[:2].isdigit() and name[2] == "-" for name in folders)
    links = [p for p in out.rglob("*.jpg")]
    assert len(links) == 18
    for link in links:
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.resolve().parent.parent == photos

    index = json.loads((out / "index.json").read_text())
    assert index["schema_version"] == 3
    assert sorted(a["size"] for a in index["albums"]) == [6, 6, 6]
    assert {i["path"] for i in images(out)} == {str(link.resolve()) for link in links}
    assert len(index["failures"]) == 3 and all(f["reason"] for f in index["failures"])
    assert (out / MARKER_NAME).exists()
    assert _snapshot(photos) == before, "originals must never change"


def test_rerun_is_idempotent(photos: Path, tmp_path: Path, embedder: OnnxEmbedder) -> None:
    out = tmp_path / "albums"
    sort_photos([photos], out, embedder, SortOptions(k=3))
    first = {str(p.relative_to(out)): os.readlink(p) for p in out.rglob("*") if p.is_symlink()}
    first_index = json.loads((out / "index.json").read_text())
    first_images = images(out)
    sort_photos([photos], out, embedder, SortOptions(k=3))
    second = {str(p.relative_to(out)): os.readlink(p) for p in out.rglob("*") if p.is_symlink()}
    second_index = json.loads((out / "index.json").read_text())
    assert first == second
    assert second_index["generation"] == first_index["generation"] + 1

    def unchanging(index: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**a, "members": [page["file"] for page in a["members"]]} for a in index["albums"]]

    assert unchanging(first_index) == unchanging(second_index)
    assert first_images == images(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["albums"], "no temp trees left behind"


def test_album_folder_inside_source_is_not_indexed(
    photos: Path, tmp_path: Path, embedder: OnnxEmbedder
) -> None:
    source = tmp_path / "source"
    write_sample_photos(source, subjects=("chelsea", "coffee"))
    out = source / "albums"
    sort_photos([source], out, embedder, SortOptions(k=2))
    summary = sort_photos([source], out, embedder, SortOptions(k=2))
    assert summary.images == 12


def test_cli_sort_chooses_k_and_prints_summary(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "albums"
    assert main(["sort", str(photos), "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "chose k=" in printed
    assert "sorted 18 images into" in printed and "(3 failed)" in printed
    assert "images/s" in printed


def test_cli_reports_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sort", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 1
    assert "error: source folder" in capsys.readouterr().err


def test_cli_inspect(capsys: pytest.CaptureFixture[str], photos: Path) -> None:
    assert main(["inspect", str(photos / "coffee" / "coffee-original.jpg"), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "espresso" in printed.splitlines()[1]
    assert "embedding: 1280 dimensions, provider: CPUExecutionProvider" in printed


def test_cli_inspect_with_another_model(capsys: pytest.CaptureFixture[str], photos: Path) -> None:
    image = str(photos / "coffee" / "coffee-original.jpg")
    assert main(["inspect", image, "--model", "lite2", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "espresso" in printed.splitlines()[1]
    assert "model: efficientnet-lite2 (" in printed


def test_auto_k_keeps_subjects_apart(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    """The README demo: five subjects, k chosen automatically, no album mixes two subjects."""
    write_sample_photos(tmp_path / "photos")
    summary = sort_photos([tmp_path / "photos"], tmp_path / "albums", embedder)
    # scripts/clustering_spread.py sort-auto-k: k 5, one subject an album, in 12/12 draws (seeds
    # 0-4, the photos' vectors in their order, reordered, through float16, noised)
    assert summary.k_choice is not None and 5 <= summary.k_choice.k <= 10
    for album in summary.albums:
        assert len({m.path.parent.name for m in album.members}) == 1, album.label
