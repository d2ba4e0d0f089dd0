"""`autoalbum inspect`: what the model sees in one image."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoalbum.cli.options import Command, add_model_options, open_model
from autoalbum.printable import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, metavar="IMAGE")
    add_model_options(parser)


def run(args: argparse.Namespace) -> int:
    """Print the top-5 ImageNet classes of one image, the model, its embedding size and the
    provider."""
    import numpy as np

    from autoalbum.embedding.classnames import imagenet_name
    from autoalbum.embedding.images import load_for_model

    embedder = open_model(args)
    pixels = load_for_model(args.image, embedder.input_size)[None]
    probs = embedder.classify(pixels)[0]
    embedding = embedder.embed(pixels).vectors[0]
    print(printable(args.image))
    for index in np.argsort(-probs)[:5]:
        print(f"  {probs[index]:6.3f}  {imagenet_name(int(index))} ({index})")
    print(f"model: {embedder.identity}")
    print(f"embedding: {embedding.shape[0]} dimensions, provider: {embedder.provider}")
    return 0


COMMAND = Command("inspect", add_arguments, run, described=False)
