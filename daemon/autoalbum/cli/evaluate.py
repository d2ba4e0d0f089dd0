"""`autoalbum evaluate`: how well the albums of a labelled folder match its labels; with
--tree, how well an existing tree's folders (Events, albums) do, nothing clustered."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from autoalbum.cli.options import (
    K_RANGE,
    Command,
    add_granularity_option,
    add_model_options,
    default_config_path,
    k_range,
    positive_int,
)
from autoalbum.errors import AutoalbumError

if TYPE_CHECKING:
    from autoalbum.config import Config
    from autoalbum.evaluation.labelled import Features

log = logging.getLogger("autoalbum")  # the name its warnings have always carried


def _k_or_auto(text: str) -> int | None:
    return None if text == "auto" else positive_int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="DIR/<label>/<image>")
    parser.add_argument(
        "--tree", type=Path, metavar="TREE",
        help="score the folders of this tree (an Events or album folder with index.json) "
        "instead of clustering; photos of DIR in no folder count as folders of their own; "
        "the clustering and embedder options do not apply",
    )  # fmt: skip
    parser.add_argument(
        "--k", type=_k_or_auto, default=None, metavar="N|auto",
        help="number of albums (default: auto, chosen in --k-range)",
    )  # fmt: skip
    parser.add_argument("--k-range", type=k_range, default=K_RANGE, metavar="MIN:MAX")
    add_granularity_option(parser)
    parser.add_argument(
        "--method", metavar="METHOD",
        help="spectral, kmeans, minibatch, agglomerative (Ward) or hdbscan, which finds k itself "
        "and leaves noise (default: the method sort uses)",
    )  # fmt: skip
    parser.add_argument(
        "--min-cluster-size", type=positive_int, metavar="N",
        help="hdbscan's smallest album (default: 5, scikit-learn's)",
    )  # fmt: skip
    _add_embedder_options(parser)
    parser.add_argument(
        "--config", type=Path, metavar="FILE",
        help="reuse this library's stored vectors when its catalog holds every image, "
        "unchanged, from the same model (default: the default config, if it exists)",
    )  # fmt: skip
    parser.add_argument(
        "--leaves", action="store_true",
        help="score each image's deepest album (its sub-album, if any) instead of the top "
        "level of albums",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument(
        "--plots", type=Path, metavar="OUTDIR",
        help="write elbow.png, map.png (t-SNE), album-NN.png contact sheets and noise.png "
        "(hdbscan) here",
    )  # fmt: skip
    add_model_options(parser)


def _add_embedder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedder", choices=["cnn", "pixels", "hsv"], default="cnn",
        help="cnn: the model (default); pixels: raw pixels of the image resized to "
        "--pixels-size, RGB; hsv: an 8x4x4 HSV colour histogram",
    )  # fmt: skip
    parser.add_argument(
        "--pixels-size", type=positive_int, default=32, metavar="N",
        help="side of the square --embedder pixels resizes to (default: 32; 28 for MNIST)",
    )  # fmt: skip
    parser.add_argument(
        "--pixels-grey", action="store_true",
        help="--embedder pixels takes grey values (luma), a third of RGB's dimensions",
    )  # fmt: skip


def _open_features(args: argparse.Namespace) -> Features:
    from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
    from autoalbum.embedding.features import HsvEmbedder, PixelEmbedder
    from autoalbum.evaluation.labelled import LazyModel

    if args.embedder == "pixels":
        return PixelEmbedder(args.pixels_size, grey=args.pixels_grey)
    if args.embedder == "hsv":
        return HsvEmbedder()
    device = Device(args.device)
    return LazyModel(bundled_model_spec(args.model), lambda spec: OnnxEmbedder(spec, device))


def _evaluation_library(path: Path | None) -> Config | None:
    """The library whose catalog evaluate may reuse: --config, else the default one if any."""
    from autoalbum.config import load_config

    if path is not None:
        return load_config(path)
    default = default_config_path()
    if not default.is_file():
        return None
    try:
        return load_config(default)
    except AutoalbumError as error:
        log.warning("not reusing the library of %s: %s", default, error)
        return None


def run(args: argparse.Namespace) -> int:
    """Cluster a folder of class subfolders and score the albums against the labels."""
    from autoalbum.durable import json_text
    from autoalbum.evaluation.evaluate import evaluate, format_table

    if args.tree is not None:
        return _run_tree(args)
    result = evaluate(
        args.folder,
        _open_features(args),
        k=args.k,
        k_range=args.k_range,
        granularity=args.granularity or 0.0,
        method=args.method,
        min_cluster_size=args.min_cluster_size,
        plots=args.plots,
        library=_evaluation_library(args.config),
        leaves=args.leaves,
    )
    if result.images_per_second is None:
        note = f"reused the stored vectors of {result.images} images from {result.embeddings}"
        print(f"{note}; nothing was embedded", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json_text(result.as_dict(), indent=2, default=str))
    else:
        print(format_table(result))
    return 0


def _run_tree(args: argparse.Namespace) -> int:
    """Score an existing tree's folders against the folder's labels."""
    from autoalbum.durable import json_text
    from autoalbum.evaluation.tree import evaluate_tree, format_tree_table

    result = evaluate_tree(args.tree, args.folder)
    print(json_text(result.as_dict(), indent=2) if args.json else format_tree_table(result))
    return 0


COMMAND = Command("evaluate", add_arguments, run)
