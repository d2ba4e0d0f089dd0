"""`autoalbum COMMAND ...` with a cheap stand-in in place of the model, for bench/scale.py.

    PYTHONPATH=CHECKOUT/daemon python bench/scale_entry.py run --config FILE

Everything is autoalbum's own (the CLI, the daemon loop, the watcher, the catalog, the album
tree) except the model: the one function the CLI opens it with, `open_embedder` (and
`open_bundled`, the daemon's way back to a library's own model), is replaced before the CLI
runs. The stand-in costs next to nothing, so what a run measures is everything but the model.
Both functions exist in every version the scale bench compares; a version without them stops
here with a message rather than loading the real model.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

INPUT_SIZE = 16  # the bench's photos are 16x16: decoding them costs what a thumbnail does
GRID = 4  # the vector is the photo's 4x4 grid of mean colours...
DIM = 1280  # ...projected to the bundled models' size, so stored vectors weigh what real ones do
SEED = 1280


class StandInModel:
    """A deterministic model: the photo's grid of mean colours, centred, through a fixed random
    projection to DIM, ReLU'd (about half the values exactly 0, as in a CNN's pooled features,
    which is what the catalog's compressed codes meet in a real library), L2-normalised."""

    input_size = INPUT_SIZE

    def __init__(self) -> None:
        from autoalbum.embedding.embedder import ModelIdentity

        features = GRID * GRID * 3
        rng = np.random.default_rng(SEED)
        self._projection = rng.normal(0, 1, (features, DIM)).astype(np.float32)
        self.identity = ModelIdentity("bench-stand-in", f"stand-in-relu-{SEED}", DIM)

    def embed(self, images: NDArray[np.uint8]) -> Any:
        from autoalbum.embedding.embedder import Embeddings, normalise

        n, cell = len(images), INPUT_SIZE // GRID
        grid = images.reshape(n, GRID, cell, GRID, cell, 3).mean(axis=(2, 4), dtype=np.float32)
        features = grid.reshape(n, -1) - np.float32(127.5)
        return Embeddings(normalise(np.maximum(features @ self._projection, 0)), None, None)


def install_stand_in() -> None:
    """Make the CLI open the stand-in wherever it would open the model."""
    import autoalbum.embedding.embedder as embedder

    for name in ("open_embedder", "open_bundled"):
        if not hasattr(embedder, name):
            raise SystemExit(
                f"scale_entry: autoalbum.embedding.embedder.{name} is gone from this version; "
                "point bench/scale_entry.py at the function its CLI now opens the model with"
            )
    model: Any = StandInModel()  # what the CLI takes for an OnnxEmbedder
    embedder.open_embedder = lambda *_args, **_kwargs: model
    embedder.open_bundled = lambda identity, *_args: model if identity == model.identity else None


def main() -> int:
    install_stand_in()
    from autoalbum.cli import main as autoalbum

    return autoalbum(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
