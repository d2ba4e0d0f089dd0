"""A small library of coloured photos and a stand-in model, to test the library's parts fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from autoalbum.config import ClusterConfig, Config, LibraryConfig
from autoalbum.embedding.embedder import Embeddings, normalise
from autoalbum.library.library import Library

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 220, 30)}


class ColourEmbedder:
    """A deterministic stand-in model: the vector is the image's 4x4 grid of mean colours."""

    input_size = 16

    def __init__(self) -> None:
        self.images_seen = 0

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        self.images_seen += len(images)
        grid = images.reshape(len(images), 4, 4, 4, 4, 3).mean(axis=(2, 4))
        return Embeddings(
            normalise(grid.reshape(len(images), -1).astype(np.float32) - 127.5), None, None
        )


def photo(path: Path, colour: str, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 12, (48, 64, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def config(
    root: Path,
    k: int | str = 2,
    unsorted: float = 0.6,
    follow_symlinks: bool = False,
    ignore: tuple[str, ...] = (),
) -> Config:
    return Config(
        library=LibraryConfig(
            folders=(root / "photos",),
            albums=root / "albums",
            state=root / "state",
            ignore=ignore,
            follow_symlinks=follow_symlinks,
        ),
        cluster=ClusterConfig(k=k, unsorted_distance=unsorted),  # type: ignore[arg-type]
    )


def colour_photos(root: Path) -> Path:
    """Six red photos at the top of root/photos and six blue ones in a subfolder."""
    for i in range(6):
        photo(root / "photos" / f"red{i}.png", "red", i)
        photo(root / "photos" / "blue" / f"blue{i}.png", "blue", 100 + i)
    return root


def open_library(root: Path, embedder: ColourEmbedder | None = None, **kwargs: object) -> Library:
    model = embedder or ColourEmbedder()
    return Library(config(root, **kwargs), lambda: model)  # type: ignore[arg-type]


def links(root: Path) -> dict[str, str]:
    """Album folder -> sorted link targets, read from the real tree."""
    tree: dict[str, list[str]] = {}
    for link in (root / "albums").rglob("*"):
        if link.is_symlink():
            assert link.exists(), f"dangling symlink {link}"
            tree.setdefault(link.parent.name, []).append(link.resolve().name)
    return {album: " ".join(sorted(names)) for album, names in tree.items()}


PEOPLE_OFF = "people:\n  enabled: false\n"  # a config section: no faces looked for (faster)


def config_file(root: Path, extra: str = "") -> Path:
    """`root/autoalbum.yaml` for the library of root/photos (albums and state in root), with
    `extra` YAML sections after it."""
    path = root / "autoalbum.yaml"
    path.write_text(
        f"library:\n  folders: [{root / 'photos'}]\n  albums: {root / 'albums'}\n"
        f"  state: {root / 'state'}\n{extra}",
        encoding="utf-8",
    )
    return path
