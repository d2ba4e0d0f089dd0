"""`autoalbum evaluate`: scores that an independent computation agrees with."""

from __future__ import annotations

import colorsys
import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autoalbum.cli import main
from autoalbum.config import load_config
from autoalbum.embedding.embedder import Device, ModelSpec, OnnxEmbedder, bundled_model_spec
from autoalbum.embedding.features import HSV_BINS, HsvEmbedder, PixelEmbedder
from autoalbum.embedding.pipeline import embed_paths
from autoalbum.errors import AutoalbumError
from autoalbum.evaluation.evaluate import (
    NOISE,
    evaluate,
    format_table,
    hungarian_accuracy,
    majority_accuracy,
)
from autoalbum.evaluation.labelled import LazyModel
from autoalbum.library.library import Library
from autoalbum.samples import write_sample_photos

pytest.importorskip("skimage.data")

# scripts/clustering_spread.py evaluate-kmeans: k-means at k=5 on the 30 sample photos scored
# one-to-one accuracy 0.70-1.00 and NMI 0.865-1.000 in 40 draws (seeds 0-9 x photos in their
# order, reordered, through float16, noised): 1.00 in 38, 0.73 and 0.70 with the photos
# reordered at seeds 3 and 4, where astronaut and motorcycle shared an album and chelsea or
# coffee was split in two. Every test below that runs k-means on them holds it to this floor.
KMEANS_ACCURACY, KMEANS_NMI = 0.65, 0.8


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("labelled")
    write_sample_photos(folder)
    (folder / "broken").mkdir()
    (folder / "broken" / "empty.jpg").write_bytes(b"")
    return folder


def _table_accuracy(table: str) -> float:
    """The one-to-one accuracy in evaluate's table."""
    return float(next(line for line in table.splitlines() if "one-to-one" in line).split()[-1])


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
    # KMEANS_ACCURACY for k-means; scripts/clustering_spread.py evaluate-agglomerative: accuracy
    # and NMI 1.000 in 4/4 draws (the photos in their order, reordered, through float16, noised;
    # Ward takes no seed). The first class (astronaut) kept one album in 44/44 draws of either.
    lowest = {"kmeans": (KMEANS_ACCURACY, KMEANS_NMI), "agglomerative": (1.0, 0.999)}[method]
    assert result.hungarian_accuracy >= lowest[0] and result.nmi >= lowest[1]
    assert result.per_class[0].share == 1.0


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
    assert _table_accuracy(table) >= KMEANS_ACCURACY and "chelsea" in table
    assert main(["evaluate", str(labelled), "--k", "5", "--method", "kmeans", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert f"{scores['hungarian_accuracy']:.3f}" == f"{_table_accuracy(table):.3f}"
    assert scores["k"] == 5


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


HUES = {"red": (230, 30, 30), "green": (30, 220, 40), "blue": (40, 50, 230)}
ODD_ONES = ((230, 220, 30), (220, 40, 220), (30, 220, 220))  # yellow, magenta, cyan


def _colour_photo(path: Path, colour: tuple[int, int, int], rng: np.random.Generator) -> None:
    """Dark noise with a block of one colour, a quarter of the frame, somewhere in it."""
    pixels = rng.integers(0, 40, (48, 64, 3))
    top, left = rng.integers(0, 25), rng.integers(0, 33)
    pixels[top : top + 24, left : left + 32] = np.array(colour) * rng.uniform(0.9, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)


def _colour_classes(folder: Path, rng: np.random.Generator) -> Path:
    """Eight photos of each class in HUES under folder/<class>/."""
    for name, colour in HUES.items():
        for i in range(8):
            _colour_photo(folder / name / f"{name}{i}.png", colour, rng)
    return folder


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three colour classes of eight photos, colour blocks at random places on random greys."""
    return _colour_classes(tmp_path_factory.mktemp("colours"), np.random.default_rng(7))


def test_hsv_separates_colours(colours: Path) -> None:
    by_colour = evaluate(colours, HsvEmbedder(), k=3, method="kmeans")
    assert by_colour.images == 24 and by_colour.embeddings.startswith("embedded now by hsv")
    # scripts/clustering_spread.py evaluate-hsv: accuracy and NMI 1.000 in 60/60 draws (3 data
    # seeds x seeds 0-4 x vectors in their order, reordered, through float16, noised)
    assert by_colour.hungarian_accuracy == 1.0 and by_colour.nmi == pytest.approx(1.0)
    by_pixels = evaluate(colours, PixelEmbedder(), k=3, method="kmeans")
    assert by_pixels.embeddings.startswith("embedded now by pixels-32x32-rgb"), "cache per embedder"
    again = evaluate(colours, HsvEmbedder(), k=3, method="kmeans")
    assert again.embeddings.startswith("evaluate's cache")
    assert again.assignments == by_colour.assignments


def _bars(folder: Path, rng: np.random.Generator) -> Path:
    """Eight grey bars upright and eight lying under folder/<class>/, each of random brightness
    and place: the same colours in both classes."""
    for i in range(8):
        for name in ("upright", "lying"):
            pixels = np.zeros((48, 48), dtype=np.uint8)
            at = 18 + int(rng.integers(-4, 5))
            bar = (slice(None), slice(at, at + 12)) if name == "upright" else (slice(at, at + 12),)
            pixels[bar] = rng.integers(120, 256)
            (folder / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / name / f"{name}{i}.png")
    return folder


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grey bars, upright or lying, of random brightness: the same colours in every class."""
    return _bars(tmp_path_factory.mktemp("bars"), np.random.default_rng(3))


def test_pixels_separate_shapes_that_hsv_cannot(bars: Path) -> None:
    by_pixels = evaluate(bars, PixelEmbedder(), k=2, method="kmeans")
    # scripts/clustering_spread.py evaluate-bars: pixels 1.000 in 60/60 draws, hsv 0.500-0.8125
    # (3 data seeds x seeds 0-4 x vectors in their order, reordered, through float16, noised)
    assert by_pixels.hungarian_accuracy == 1.0
    by_colour = evaluate(bars, HsvEmbedder(), k=2, method="kmeans")
    assert by_colour.hungarian_accuracy < 0.9, "both classes have the same histograms"


def test_pixel_vectors_are_the_native_pixels(tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")  # greyscale, as digits are
    grey = pixels.astype(np.float64).ravel() / np.linalg.norm(pixels.astype(np.float64))
    as_grey = embed_paths([tmp_path / "digit.png"], PixelEmbedder(8, grey=True)).vectors[0]
    assert as_grey.shape == (64,) and np.allclose(as_grey, grey, atol=1e-6)
    as_rgb = embed_paths([tmp_path / "digit.png"], PixelEmbedder(8)).vectors[0]
    assert as_rgb.shape == (192,) and np.allclose(
        as_rgb, np.repeat(grey, 3) / np.sqrt(3), atol=1e-6
    )


def test_hsv_histogram_puts_pure_colours_in_their_bins(tmp_path: Path) -> None:
    image = np.zeros((128, 128, 3), dtype=np.uint8)
    image[:, :64] = (255, 0, 0)
    image[:, 64:] = (0, 0, 255)
    Image.fromarray(image).save(tmp_path / "half.png")
    vector = embed_paths([tmp_path / "half.png"], HsvEmbedder()).vectors[0]

    def cell(rgb: tuple[float, float, float]) -> int:
        hue, sat, val = (min(int(c * bins), bins - 1) for c, bins in
                         zip(colorsys.rgb_to_hsv(*rgb), HSV_BINS, strict=True))  # fmt: skip
        return (hue * HSV_BINS[1] + sat) * HSV_BINS[2] + val

    expected = np.zeros(int(np.prod(HSV_BINS)))
    expected[[cell((1, 0, 0)), cell((0, 0, 1))]] = np.sqrt(0.5)
    assert np.allclose(vector, expected, atol=1e-6)


def test_pixels_and_hsv_from_the_command_line(
    bars: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", str(bars), "--k", "2", "--method", "kmeans", "--json"]
    accuracy = {}
    for embedder, name in (("pixels", "pixels-16x16-grey"), ("hsv", "hsv-8x4x4")):
        assert main([*argv, "--embedder", embedder, "--pixels-size", "16", "--pixels-grey"]) == 0
        scores = json.loads(capsys.readouterr().out)
        assert scores["images"] == 16 and scores["k"] == 2 and name in scores["embeddings"]
        accuracy[embedder] = scores["hungarian_accuracy"]
    # scripts/clustering_spread.py evaluate-bars: 16x16 grey pixels 1.000 in 60/60 draws, hsv
    # 0.500-0.8125, as in test_pixels_separate_shapes_that_hsv_cannot
    assert accuracy["pixels"] == 1.0 and accuracy["hsv"] < 0.9


def test_class_folders_of_any_name_print_and_round_trip_through_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Labels are folder names: one not UTF-8, one with a newline, one like an option."""
    labels = {os.fsdecode(b"r\xe9d"): HUES["red"], "gr\neen": HUES["green"], "-blue": HUES["blue"]}
    rng = np.random.default_rng(5)
    for label, colour in labels.items():
        for i in range(4):
            _colour_photo(tmp_path / label / os.fsdecode(b"ph\xf6to-%d.png" % i), colour, rng)
    argv = ["evaluate", str(tmp_path), "--k", "3", "--method", "kmeans", "--embedder", "hsv"]

    assert main([*argv, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {row["label"] for row in scores["per_class"]} == set(labels)
    assert {os.fsencode(path) for path, _, _ in scores["assignments"]} == {
        os.fsencode(path) for path in tmp_path.glob("*/*.png")
    }
    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in table[-3:]} == {"r\\xe9d", "gr\\neen", "-blue"}


def _with_odd_ones(folder: Path, rng: np.random.Generator) -> Path:
    """The three colour classes and an "odd" class of three plain photos, each its own colour."""
    _colour_classes(folder, rng)
    (folder / "odd").mkdir()
    for i, colour in enumerate(ODD_ONES):
        Image.new("RGB", (64, 48), colour).save(folder / "odd" / f"odd{i}.png")
    return folder


@pytest.fixture(scope="module")
def with_odd_ones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The colour classes and the odd ones out, as `_with_odd_ones` makes them."""
    return _with_odd_ones(tmp_path_factory.mktemp("odd"), np.random.default_rng(11))


def test_hdbscan_finds_k_and_leaves_the_odd_ones_as_noise(
    with_odd_ones: Path, tmp_path: Path
) -> None:
    result = evaluate(with_odd_ones, HsvEmbedder(), k=None, method="hdbscan", plots=tmp_path)
    # scripts/clustering_spread.py evaluate-hdbscan: (3, 3, 5), the odd ones noise and accuracy
    # 1.000 in 20/20 draws (5 data seeds x vectors in their order, reordered, through float16,
    # noised; HDBSCAN takes no seed)
    assert (result.k, result.noise, result.min_cluster_size) == (3, 3, 5)
    assert {(label, album) for _, label, album in result.assignments if label == "odd"} == {
        ("odd", NOISE)
    }
    odd = next(row for row in result.per_class if row.label == "odd")
    assert (odd.album, odd.share) == (NOISE, 1.0)
    pairs = [(label, album) for _, label, album in result.assignments]
    assert result.hungarian_accuracy == pytest.approx(_best_permutation_accuracy(pairs))
    assert result.hungarian_accuracy == 1.0, "noise is one more album, matched to 'odd'"
    lines = {" ".join(line.split()) for line in format_table(result).splitlines()}
    assert {"noise (album 'noise') 3 images (11.1%)", "odd 3 noise 1.00"} <= lines
    sheets = sorted(p.name for p in tmp_path.glob("*.png"))
    assert sheets == ["album-01.png", "album-02.png", "album-03.png", "elbow.png", "map.png",
                      "noise.png"]  # fmt: skip
    with Image.open(tmp_path / "noise.png") as sheet:
        assert sheet.getpixel((48, 48)) in ODD_ONES, "the noise sheet shows the odd photos"


def test_hdbscan_refuses_k_and_reports_all_noise(with_odd_ones: Path) -> None:
    with pytest.raises(AutoalbumError, match="leave out --k"):
        evaluate(with_odd_ones, HsvEmbedder(), k=3, method="hdbscan")
    with pytest.raises(AutoalbumError, match="lower --min-cluster-size"):
        evaluate(with_odd_ones, HsvEmbedder(), k=None, method="hdbscan", min_cluster_size=20)
    with pytest.raises(AutoalbumError, match=r"use one of: .*hdbscan"):
        evaluate(with_odd_ones, HsvEmbedder(), k=3, method="dbscan")


def _write_config(folder: Path, root: Path) -> Path:
    config = root / "autoalbum.yaml"
    config.write_text(
        f"library:\n  folders: [{folder}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\ncluster:\n  k: 5\n  method: kmeans\n"
    )
    return config


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory, labelled: Path, embedder: OnnxEmbedder
) -> Path:
    """A library of the labelled sample photos, indexed by the real model; its config file."""
    config = _write_config(labelled, tmp_path_factory.mktemp("library"))
    with Library(load_config(config), lambda: embedder) as library:
        report = library.index_files()
    assert (report.embedded, len(report.failed)) == (30, 1)
    return config


def _model_loads() -> tuple[LazyModel, list[int]]:
    loads: list[int] = []

    def load(spec: ModelSpec) -> OnnxEmbedder:
        loads.append(1)
        return OnnxEmbedder(spec, Device.CPU)

    return LazyModel(bundled_model_spec(), load), loads


def test_catalog_vectors_are_reused_without_loading_the_model(
    labelled: Path, indexed: Path
) -> None:
    model, loads = _model_loads()
    result = evaluate(labelled, model, k=5, method="kmeans", library=load_config(indexed))
    assert loads == [], "the model must not even be loaded"
    assert result.embeddings.startswith("the library catalog") and result.images_per_second is None
    assert (result.images, result.classes) == (30, 5)
    assert result.hungarian_accuracy >= KMEANS_ACCURACY


def test_a_changed_photo_means_embedding_again(labelled: Path, indexed: Path) -> None:
    photo = labelled / "coffee" / "coffee-original.jpg"
    before = photo.stat()
    os.utime(photo, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    try:
        model, loads = _model_loads()
        result = evaluate(labelled, model, k=5, method="kmeans", library=load_config(indexed))
    finally:
        os.utime(photo, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert loads == [1] and result.embeddings.startswith("embedded now")
    assert result.hungarian_accuracy >= KMEANS_ACCURACY


def test_cli_says_when_it_reused_the_catalog(
    labelled: Path, indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", str(labelled), "--k", "5", "--method", "kmeans", "--config", str(indexed)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "reused the stored vectors of 30 images from the library catalog" in out
    assert _table_accuracy(out) >= KMEANS_ACCURACY
    assert main([*argv, "--embedder", "hsv"]) == 0, "another embedder: its own vectors"
    assert "reused" not in capsys.readouterr().out
