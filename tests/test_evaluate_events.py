"""`autoalbum evaluate --tree`: a library's real Events tree scored against labels given as the
photos' folders. Real Pillow-written EXIF dates and GPS, a real catalog and tree, the colour
stand-in model (events don't depend on it)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from autoalbum.cli import main
from autoalbum.config import EventsConfig, PeopleConfig
from autoalbum.library.library import Library
from colour_library import ColourEmbedder, config
from dated_photos import dated_photo

KESWICK = (54.6013, -3.1347)
LISBON = (38.7223, -9.1393)


def _shoot(folder: Path, start: datetime, count: int, gps: tuple[float, float] | None) -> None:
    for i in range(count):
        when = (start + i * timedelta(minutes=10)).strftime("%Y:%m:%d %H:%M:%S")
        dated_photo(folder / f"{folder.name}{i:03d}.jpg", when, gps, seed=i)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days in Keswick (photos/keswick/day0-2), an evening in Lisbon (photos/lisbon) and
    three photos without a date (photos/undated), indexed into an Events tree."""
    root = tmp_path_factory.mktemp("evaluate-events")
    for day in range(3):
        start = datetime(2024, 4, 9, 9, 0) + timedelta(days=day)
        _shoot(root / "photos" / "keswick" / f"day{day}", start, 10, KESWICK)
    _shoot(root / "photos" / "lisbon", datetime(2024, 5, 1, 19, 0), 8, LISBON)
    for i in range(3):
        dated_photo(root / "photos" / "undated" / f"undated{i}.jpg", None, seed=i)
    settings = dataclasses.replace(
        config(root), people=PeopleConfig(enabled=False), events=EventsConfig()
    )
    model = ColourEmbedder()
    with Library(settings, lambda: model) as library:
        library.index_files()
    return root


def _evaluate(root: Path, labelled: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    args = ["evaluate", "--tree", str(root / "Events"), str(root / labelled), "--json"]
    assert main(args) == 0
    scores: dict[str, object] = json.loads(capsys.readouterr().out)
    return scores


def test_events_matching_the_labels_score_one(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No home is known (too few geotagged days): each day in Keswick is an event of its own.
    scores = _evaluate(root, "photos/keswick", capsys)
    assert (scores["images"], scores["classes"], scores["folders"], scores["unfiled"]) == (
        30, 3, 3, 0,
    )  # fmt: skip
    assert scores["homogeneity"] == scores["completeness"] == scores["nmi"] == pytest.approx(1.0)


def test_a_split_label_and_photos_in_no_folder_cost_completeness_only(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = _evaluate(root, "photos", capsys)
    assert (scores["images"], scores["classes"], scores["folders"], scores["unfiled"]) == (
        41, 3, 4, 3,
    )  # fmt: skip
    assert scores["homogeneity"] == pytest.approx(1.0)
    assert isinstance(scores["completeness"], float)
    assert scores["completeness"] < 0.8
    rows = {row["label"]: row for row in scores["per_class"]}  # type: ignore[attr-defined]
    assert rows["keswick"]["share"] == pytest.approx(1 / 3)
    assert rows["lisbon"]["folder"] == "2024/2024-05-01 Lisbon"
    assert (rows["lisbon"]["share"], rows["undated"]["folder"]) == (1.0, "")


def test_the_table_names_folders_and_photos_in_none(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["evaluate", "--tree", str(root / "Events"), str(root / "photos")]) == 0
    table = capsys.readouterr().out
    assert "in no folder              3 (each scored as a folder of its own)" in table
    assert "2024-05-01 Lisbon" in table
    assert "(no folder)" in table


def test_a_folder_without_a_tree_is_refused(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["evaluate", "--tree", str(root / "photos"), str(root / "photos")]) == 1
    assert "has no index.json" in capsys.readouterr().err
