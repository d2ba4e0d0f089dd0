"""The `autoalbum` command: one small function per subcommand."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from autoalbum import __version__
from autoalbum.errors import AutoalbumError

if TYPE_CHECKING:
    from autoalbum.config import Config
    from autoalbum.embedding.embedder import OnnxEmbedder
    from autoalbum.evaluation.labelled import Features
    from autoalbum.library.library import Library

log = logging.getLogger("autoalbum")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def _k_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    try:
        bounds = int(low), int(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX such as 2:20, got {text!r}") from None
    if not 2 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"need 2 <= MIN <= MAX, got {text!r}")
    return bounds


def _add_model_options(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=default,
        help="where the model runs: CUDA when available (auto), or force one "
        + ("(default: auto)" if default else "(default: the config's model.device)"),
    )


def default_config_path() -> Path:
    """$AUTOALBUM_CONFIG, else $XDG_CONFIG_HOME/autoalbum/autoalbum.yaml."""
    if env := os.environ.get("AUTOALBUM_CONFIG"):
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "autoalbum" / "autoalbum.yaml"


def _open_embedder(args: argparse.Namespace, threads: int = 0) -> OnnxEmbedder:
    from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec

    return OnnxEmbedder(bundled_model_spec(), Device(args.device), threads=threads)


def _progress(stack: ExitStack) -> Callable[[int], Callable[[int], None]]:
    """A progress starter whose bar closes with `stack`."""
    from autoalbum.progress import progress

    def start(total: int) -> Callable[[int], None]:
        return stack.enter_context(progress(total, "embedding"))

    return start


def cmd_sort(args: argparse.Namespace) -> int:
    """Sort photos under SOURCE folders into cluster albums under --out."""
    from autoalbum.albums.sorter import SortOptions, sort_photos
    from autoalbum.clustering.clusters import Method

    embedder = _open_embedder(args)
    options = SortOptions(
        k=args.k,
        k_range=args.k_range,
        batch_size=args.batch_size,
        workers=args.workers,
        method=Method(args.method),
    )
    with ExitStack() as stack:
        summary = sort_photos(args.sources, args.out, embedder, options, _progress(stack))
    if summary.k_choice is not None:
        choice = summary.k_choice
        print(f"chose k={choice.k} ({choice.method} {choice.score:.3f})")
    for album in summary.albums:
        print(f"  {album.number:>3}  {len(album.members):>6}  {album.label}")
    for failure in summary.failures:
        print(f"  failed: {failure.path}: {failure.reason}")
    print(
        f"sorted {summary.images} images into {len(summary.albums)} albums in {args.out} "
        f"({len(summary.failures)} failed) in {summary.seconds:.1f} s, "
        f"{summary.images_per_second:.1f} images/s on {embedder.provider}"
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the top-5 ImageNet classes of one image, the embedding size and the provider."""
    import numpy as np

    from autoalbum.embedding.classnames import imagenet_name
    from autoalbum.embedding.images import load_for_model

    embedder = _open_embedder(args)
    pixels = load_for_model(args.image, embedder.input_size)[None]
    probs = embedder.classify(pixels)[0]
    embedding = embedder.embed(pixels).vectors[0]
    print(f"{args.image}")
    for index in np.argsort(-probs)[:5]:
        print(f"  {probs[index]:6.3f}  {imagenet_name(int(index))} ({index})")
    print(f"embedding: {embedding.shape[0]} dimensions, provider: {embedder.provider}")
    return 0


def cmd_sample_photos(args: argparse.Namespace) -> int:
    """Write a small set of real sample photos to try autoalbum on."""
    from autoalbum.samples import write_sample_photos

    written = write_sample_photos(args.folder)
    print(f"wrote {len(written)} sample photos to {args.folder}")
    return 0


def _open_library(args: argparse.Namespace) -> Library:
    from autoalbum.config import load_config
    from autoalbum.embedding.embedder import open_embedder
    from autoalbum.library.library import Library

    config = load_config(args.config)
    return Library(config, lambda: open_embedder(config.model, args.device))


def cmd_index(args: argparse.Namespace) -> int:
    """Index new and changed photos of the configured folders and file them into albums."""
    with _open_library(args) as library, ExitStack() as stack:
        report = library.index_files(_progress(stack))
    print(
        f"indexed {report.found} files in {report.seconds:.1f} s: {report.embedded} embedded, "
        f"{report.relinked} moved or duplicate, {report.unchanged} unchanged, "
        f"{report.missing} missing, {len(report.failed)} failed"
    )
    for failure in report.failed:
        print(f"  failed: {failure.path}: {failure.reason}")
    return 0


def cmd_recluster(args: argparse.Namespace) -> int:
    """Cluster the whole library afresh; matched albums keep their numbers and names."""
    with _open_library(args) as library:
        report = library.recluster()
        for album in library.catalog.albums():
            print(f"  {album.number:>3}  {album.name}")
    if report.choice is not None:
        print(f"chose k={report.choice.k} ({report.choice.method} {report.choice.score:.3f})")
    print(
        f"reclustered {report.images} images into {report.albums} albums "
        f"({report.unsorted} unsorted) in {report.seconds:.1f} s"
    )
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    """Rename an album; the name survives every later recluster."""
    with _open_library(args) as library:
        old = library.rename(args.album, args.name)
    print(f"renamed {old!r} to {args.name!r}")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    """List the library photos most similar to IMAGE."""
    with _open_library(args) as library:
        for neighbour in library.similar(args.image, args.n):
            print(f"{neighbour.similarity:6.3f}  {neighbour.path}")
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    """List groups of identical and near-identical photos."""
    with _open_library(args) as library:
        groups = (
            library.duplicates(args.min_similarity)
            if args.min_similarity is not None
            else library.duplicates()
        )
    for number, group in enumerate(groups, 1):
        print(f"group {number} ({group.kind}):")
        for path in group.paths:
            print(f"  {path}")
    print(f"{len(groups)} groups of duplicates")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon in the foreground (what systemd starts): watch, file, recluster."""
    from autoalbum.config import load_config
    from autoalbum.embedding.embedder import open_embedder
    from autoalbum.service.daemon import build_service

    config = load_config(args.config)
    service = build_service(config, lambda: open_embedder(config.model, args.device))
    service.install_signal_handlers()
    return service.run()


def cmd_status(args: argparse.Namespace) -> int:
    """Show counts, failures, albums, the last recluster and whether a daemon is running."""
    from autoalbum.service.status import library_status

    print(library_status(args.config, failures=args.failures))
    return 0


def _k_or_auto(text: str) -> int | None:
    return None if text == "auto" else _positive_int(text)


def _open_features(args: argparse.Namespace) -> Features:
    from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
    from autoalbum.embedding.features import HsvEmbedder, PixelEmbedder
    from autoalbum.evaluation.labelled import LazyModel

    if args.embedder == "pixels":
        return PixelEmbedder(args.pixels_size, grey=args.pixels_grey)
    if args.embedder == "hsv":
        return HsvEmbedder()
    return LazyModel(bundled_model_spec(), lambda spec: OnnxEmbedder(spec, Device(args.device)))


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


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Cluster a folder of class subfolders and score the albums against the labels."""
    import json

    from autoalbum.evaluation.evaluate import evaluate, format_table

    result = evaluate(
        args.folder,
        _open_features(args),
        k=args.k,
        k_range=args.k_range,
        method=args.method,
        min_cluster_size=args.min_cluster_size,
        plots=args.plots,
        library=_evaluation_library(args.config),
    )
    if result.images_per_second is None:
        note = f"reused the stored vectors of {result.images} images from {result.embeddings}"
        print(f"{note}; nothing was embedded", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        print(format_table(result))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write a static HTML report of the albums: thumbnails, a t-SNE map, failed files."""
    from autoalbum.config import load_config
    from autoalbum.report.build import from_library, from_sort_output, write_report

    if args.sort_output is not None:
        collection = from_sort_output(args.sort_output)
    else:
        collection = from_library(load_config(args.config))
    summary = write_report(collection, args.out, per_album=args.per_album)
    thumbs = summary.thumbnails
    stale = f", {thumbs.removed} stale removed" if thumbs.removed else ""
    print(f"thumbnails: {thumbs.made} made, {thumbs.reused} reused, {thumbs.failed} failed{stale}")
    if summary.map_note:
        print(summary.map_note)
    print(
        f"wrote {summary.page}: {summary.albums} albums, {summary.photos} photos, "
        f"{summary.failures} failed files, in {summary.seconds:.1f} s"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoalbum", description="Turn folders of photos into auto-sorted albums."
    )
    parser.add_argument("--version", action="version", version=f"autoalbum {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sort = commands.add_parser("sort", help=cmd_sort.__doc__, description=cmd_sort.__doc__)
    sort.add_argument("sources", nargs="+", type=Path, metavar="SOURCE", help="photo folders")
    sort.add_argument("--out", required=True, type=Path, help="album folder to (re)create")
    sort.add_argument("--k", type=_positive_int, help="number of albums (default: choose)")
    sort.add_argument(
        "--k-range", type=_k_range, default=(2, 20), metavar="MIN:MAX",
        help="range searched when --k is not given (default: 2:20)",
    )  # fmt: skip
    sort.add_argument(
        "--method", choices=["spectral", "kmeans"], default="spectral",
        help="clustering method (default: spectral, the best measured)",
    )  # fmt: skip
    sort.add_argument("--batch-size", type=_positive_int, default=32, help="images per batch")
    sort.add_argument("--workers", type=_positive_int, help="decode threads (default: cores)")
    _add_model_options(sort)
    sort.set_defaults(handler=cmd_sort)

    inspect = commands.add_parser("inspect", help=cmd_inspect.__doc__)
    inspect.add_argument("image", type=Path, metavar="IMAGE")
    _add_model_options(inspect)
    inspect.set_defaults(handler=cmd_inspect)

    library_commands = [
        ("index", cmd_index),
        ("recluster", cmd_recluster),
        ("rename", cmd_rename),
        ("similar", cmd_similar),
        ("duplicates", cmd_duplicates),
        ("run", cmd_run),
        ("status", cmd_status),
    ]
    for name, handler in library_commands:
        sub = commands.add_parser(name, help=handler.__doc__, description=handler.__doc__)
        sub.add_argument(
            "--config", type=Path, default=default_config_path(), metavar="FILE",
            help="the library's YAML config (default: %(default)s)",
        )  # fmt: skip
        sub.set_defaults(handler=handler)
        if name in ("index", "similar", "run"):
            _add_model_options(sub, default=None)
        else:
            sub.set_defaults(device=None)
        if name == "status":
            sub.add_argument(
                "--failures", type=int, default=20, metavar="N",
                help="list up to N failed files with reasons (default: 20)",
            )  # fmt: skip
        if name == "rename":
            sub.add_argument("album", help="album name, folder name (07-espresso) or number")
            sub.add_argument("name", help="the new name")
        if name == "similar":
            sub.add_argument("image", type=Path, metavar="IMAGE")
            sub.add_argument("-n", type=_positive_int, default=10, help="how many (default 10)")
        if name == "duplicates":
            sub.add_argument(
                "--min-similarity", type=float,
                help="cosine similarity that makes two photos near duplicates (default: 0.90)",
            )  # fmt: skip

    evaluation = commands.add_parser(
        "evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__
    )
    evaluation.add_argument("folder", type=Path, metavar="DIR", help="DIR/<label>/<image>")
    evaluation.add_argument(
        "--k", type=_k_or_auto, default=None, metavar="N|auto",
        help="number of albums (default: auto, chosen in --k-range)",
    )  # fmt: skip
    evaluation.add_argument("--k-range", type=_k_range, default=(2, 40), metavar="MIN:MAX")
    evaluation.add_argument(
        "--method", metavar="METHOD",
        help="spectral, kmeans, minibatch, agglomerative (Ward) or hdbscan, which finds k itself "
        "and leaves noise (default: the method sort uses)",
    )  # fmt: skip
    evaluation.add_argument(
        "--min-cluster-size", type=_positive_int, metavar="N",
        help="hdbscan's smallest album (default: 5, scikit-learn's)",
    )  # fmt: skip
    evaluation.add_argument(
        "--embedder", choices=["cnn", "pixels", "hsv"], default="cnn",
        help="cnn: the model (default); pixels: raw pixels of the image resized to "
        "--pixels-size, RGB; hsv: an 8x4x4 HSV colour histogram",
    )  # fmt: skip
    evaluation.add_argument(
        "--pixels-size", type=_positive_int, default=32, metavar="N",
        help="side of the square --embedder pixels resizes to (default: 32; 28 for MNIST)",
    )  # fmt: skip
    evaluation.add_argument(
        "--pixels-grey", action="store_true",
        help="--embedder pixels takes grey values (luma), a third of RGB's dimensions",
    )  # fmt: skip
    evaluation.add_argument(
        "--config", type=Path, metavar="FILE",
        help="reuse this library's stored vectors when its catalog holds every image, "
        "unchanged, from the same model (default: the default config, if it exists)",
    )  # fmt: skip
    evaluation.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluation.add_argument(
        "--plots", type=Path, metavar="OUTDIR",
        help="write elbow.png, map.png (t-SNE), album-NN.png contact sheets and noise.png "
        "(hdbscan) here",
    )  # fmt: skip
    _add_model_options(evaluation)
    evaluation.set_defaults(handler=cmd_evaluate)

    report = commands.add_parser("report", help=cmd_report.__doc__, description=cmd_report.__doc__)
    of = report.add_mutually_exclusive_group()
    of.add_argument(
        "--config", type=Path, default=default_config_path(), metavar="FILE",
        help="report on this library (default: %(default)s)",
    )  # fmt: skip
    of.add_argument(
        "--from", dest="sort_output", type=Path, metavar="OUT",
        help="report on the --out folder of autoalbum sort instead of a library",
    )  # fmt: skip
    report.add_argument("--out", required=True, type=Path, metavar="DIR", help="report folder")
    report.add_argument(
        "--per-album", type=_positive_int, metavar="N",
        help="show the N photos nearest each album's centre (default: all)",
    )  # fmt: skip
    report.set_defaults(handler=cmd_report)

    sample = commands.add_parser("sample-photos", help=cmd_sample_photos.__doc__)
    sample.add_argument("folder", type=Path, metavar="FOLDER")
    sample.set_defaults(handler=cmd_sample_photos)
    return parser


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # faiss announces which CPU build it loaded at INFO; that is noise for our users.
    logging.getLogger("faiss").setLevel(max(level, logging.WARNING))
    warnings.filterwarnings("ignore", message=WATCHDOG_REWATCH_WARNING, category=RuntimeWarning)


# watchdog's inotify thread warns when a folder created and filled at once gets its watch
# twice (the second replaces the first; no event is lost). Under `-W error` the warning
# kills that thread, so the tests ignore it too (pyproject.toml).
WATCHDOG_REWATCH_WARNING = "Callback with id .* already exists for watch"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except AutoalbumError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
