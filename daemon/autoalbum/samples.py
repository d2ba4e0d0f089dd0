"""A small folder of real sample photos (scikit-image's), for the demo and the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageEnhance, ImageOps

from autoalbum.errors import AutoalbumError

SUBJECTS = ("chelsea", "coffee", "rocket", "astronaut", "motorcycle")

_VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "original": lambda im: im,
    "mirrored": ImageOps.mirror,
    "crop-left": lambda im: im.crop((0, 0, int(im.width * 0.8), im.height)),
    "crop-right": lambda im: im.crop((int(im.width * 0.2), 0, im.width, im.height)),
    "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    "smaller": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
}


def _load_subject(name: str) -> NDArray[np.uint8]:
    try:
        import skimage.data
    except ImportError as exc:
        raise AutoalbumError(
            "sample photos come from scikit-image; install it with pip install 'autoalbum[dev]'"
        ) from exc
    if name == "motorcycle":
        left, _right, _disparity = skimage.data.stereo_motorcycle()  # type: ignore[no-untyped-call]
        return np.asarray(left, dtype=np.uint8)
    return np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)


def write_sample_photos(folder: Path, subjects: tuple[str, ...] = SUBJECTS) -> list[Path]:
    """Write a few variants (mirrored, cropped, brighter, smaller) of each subject as JPEGs."""
    written = []
    for subject in subjects:
        photo = Image.fromarray(_load_subject(subject)).convert("RGB")
        target = folder / subject
        target.mkdir(parents=True, exist_ok=True)
        for variant, transform in _VARIANTS.items():
            path = target / f"{subject}-{variant}.jpg"
            transform(photo).save(path, quality=90)
            written.append(path)
    return written
