"""`autoalbum evaluate`: scores that an independent computation agrees with."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autoalbum.cli import main
from autoalbum.embedder import OnnxEmbedder
from autoalbum.errors import AutoalbumError
from autoalbum.evaluate import evaluate, hungarian_accuracy, majority_accuracy
from autoalbum.samples import write_sample_photos

pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("labelled")
    write_sample_photos(folder)
    (folder / "broken").mkdir()
    (folder / "broken" / "empty.jpg").write_bytes(b"")
    return folder


def _best_permutation_accuracy(pairs: list[tuple[str, int]]) -> float:
    """Brute force over every mapping of albums to labels: no Hungarian algorithm involved."""
    labels = sorted({label for label, _ in pairs})
    albums = sorted({album for _, album in pairs})
    best = 0
    for chosen in itertools.permutations(labels, len(albums)):
        mapping = dict(zip(albums, chosen, strict=True))
        best = max(best, sum(mapping[album] == label for label, album in pairs))
    return best / len(pairs)


@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_accuracy_matches_an_independent_count(
    labelled: Path, embedder: OnnxEmbedder, method: str
) -> None:
    result = evaluate(labelled, embedder, k=5, method=method)
    assert result.images == 30 and result.classes == 5  # broken/empty.jpg can't be read
    pairs = [(label, album) for _, label, album in result.assignments]
    assert result.hungarian_accuracy == pytest.approx(_best_permutation_accuracy(pairs))
    assert result.hungarian_accuracy == 1.0
    assert result.nmi > 0.95 and result.per_class[0].share == 1.0


def test_majority_and_hungarian_differ_when_albums_merge() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2])
    found = np.array([0, 0, 0, 0, 1, 1])
    assert hungarian_accuracy(truth, found) == pytest.approx(4 / 6)
    assert majority_accuracy(truth, found) == pytest.approx(4 / 6)
    split = np.array([0, 1, 2, 3, 4, 5])
    assert majority_accuracy(truth, split) == 1.0
    assert hungarian_accuracy(truth, split) == pytest.approx(3 / 6)


def test_cli_table_and_json_agree(
    labelled: Path, capsys: pytest.CaptureFixture[str], model_cache: Path
) -> None:
    assert (
        main(["evaluate", str(labelled), "--k", "5", "--method", "kmeans", "--device", "cpu"]) == 0
    )
    table = capsys.readouterr().out
    assert "accuracy, one-to-one      1.000" in table and "chelsea" in table
    assert main(["evaluate", str(labelled), "--k", "5", "--method", "kmeans", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["hungarian_accuracy"] == 1.0 and scores["k"] == 5


def test_folder_without_classes_is_a_clear_error(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    (tmp_path / "flat.jpg").write_bytes(b"x")
    with pytest.raises(AutoalbumError, match="class subfolders"):
        evaluate(tmp_path, embedder, k=2)


def test_plots_are_written(labelled: Path, embedder: OnnxEmbedder, tmp_path: Path) -> None:
    evaluate(labelled, embedder, k=5, k_range=(2, 8), method="kmeans", plots=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["album-01.png", "album-02.png", "album-03.png", "album-04.png",
                     "album-05.png", "elbow.png", "map.png"]  # fmt: skip
    for name in names:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width >= 400
    with Image.open(tmp_path / "album-01.png") as sheet:
        assert sheet.size == (8 * 96, 96), "six photos fit one row of eight thumbnails"
