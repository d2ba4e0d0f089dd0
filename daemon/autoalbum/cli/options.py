"""What the subcommands share: the Command record, option types and options, and the openers
that turn options into a model, a library or a progress bar."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autoalbum.embedding.bundled import DEFAULT_MODEL, MODELS

if TYPE_CHECKING:
    from autoalbum.embedding.embedder import OnnxEmbedder
    from autoalbum.library.library import Library


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, its arguments and its handler, whose docstring is its help."""

    name: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    described: bool = True  # whether `COMMAND --help` repeats the help under the usage line


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def k_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    try:
        bounds = int(low), int(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX such as 2:20, got {text!r}") from None
    if not 2 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"need 2 <= MIN <= MAX, got {text!r}")
    return bounds


K_RANGE = (2, 60)  # as autoalbum.clustering.cluster's, without importing numpy to parse


def granularity(text: str) -> float:
    from autoalbum.config import granularity_steps

    try:
        return granularity_steps(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_granularity_option(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """--granularity: how finely a chosen k divides the photos."""
    parser.add_argument(
        "--granularity", type=granularity, metavar="LEVEL",
        help="when k is chosen: coarser, auto, finer, or steps from -3 (coarsest) to 3 "
        f"(finest); finer is 1, coarser -1 (default: {default})",
    )  # fmt: skip


def add_model_options(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=default,
        help="where the model runs: CUDA when available (auto), or force one "
        + ("(default: auto)" if default else "(default: the config's model.device)"),
    )
    if default is not None:  # a command without a library; a library's model is its config's
        _add_bundled_model_option(parser)


def _add_bundled_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", choices=list(MODELS), default=DEFAULT_MODEL,
        help="the bundled EfficientNet-Lite: lite0 is fastest; lite2, at half its speed, sorts "
        "everyday objects and animals better (default: %(default)s)",
    )  # fmt: skip


def default_config_path() -> Path:
    """$AUTOALBUM_CONFIG, else $XDG_CONFIG_HOME/autoalbum/autoalbum.yaml."""
    if env := os.environ.get("AUTOALBUM_CONFIG"):
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "autoalbum" / "autoalbum.yaml"


def add_library_options(parser: argparse.ArgumentParser, *, model: bool = False) -> None:
    """--config, and --device for a command that may load the model (else device is None)."""
    parser.add_argument(
        "--config", type=Path, default=default_config_path(), metavar="FILE",
        help="the library's YAML config (default: %(default)s)",
    )  # fmt: skip
    if model:
        add_model_options(parser, default=None)
    else:
        parser.set_defaults(device=None)


def open_model(args: argparse.Namespace) -> OnnxEmbedder:
    """The bundled --model on --device."""
    from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec

    return OnnxEmbedder(bundled_model_spec(args.model), Device(args.device))


def open_library(args: argparse.Namespace, *, check: bool = True) -> Library:
    """The library of --config, with --granularity if given; its model, on --device, loads
    only if needed. A command that only reads can leave out the catalog's damage `check`."""
    from autoalbum.config import load_config
    from autoalbum.embedding.embedder import open_embedder
    from autoalbum.library.library import Library

    config = load_config(args.config)
    if getattr(args, "granularity", None) is not None:
        cluster = dataclasses.replace(config.cluster, granularity=args.granularity)
        config = dataclasses.replace(config, cluster=cluster)
    return Library(config, lambda: open_embedder(config.model, args.device), check=check)


def progress_starter(
    stack: ExitStack, what: str = "embedding"
) -> Callable[[int], Callable[[int], None]]:
    """A progress starter whose bar closes with `stack`."""
    from autoalbum.cli.progress import progress

    def start(total: int) -> Callable[[int], None]:
        return stack.enter_context(progress(total, what))

    return start
