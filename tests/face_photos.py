"""Photos of two real people for the people tests: Eileen Collins (scikit-image's astronaut)
and Grace Hopper (matplotlib's sample photo), varied by crop, flip and light, with group photos
of both; dlib's descriptors put the two 0.63-0.69 apart and each one's variants within 0.2."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageEnhance


def grace() -> Image.Image:
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return Image.open(path).convert("RGB")


def astronaut() -> Image.Image:
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


def coffee() -> Image.Image:
    """No face: scikit-image's cup of coffee."""
    import skimage.data

    return Image.fromarray(skimage.data.coffee())


def variants(image: Image.Image, count: int) -> list[Image.Image]:
    """`count` different photos of the same face: cropped, flipped, lighter or darker."""
    width, height = image.size
    found = []
    for i in range(count):
        margin = 8 * i
        crop = image.crop((margin, margin // 2, width - margin, height - margin // 2))
        if i % 2:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        found.append(ImageEnhance.Brightness(crop).enhance(0.85 + 0.1 * i))
    return found


def group() -> Image.Image:
    """Both people side by side, each face big enough to be found at the default size."""
    left = grace().crop((60, 20, 460, 420)).resize((300, 300))
    right = astronaut().crop((100, 0, 340, 240)).resize((300, 300))
    photo = Image.new("RGB", (620, 320), (240, 240, 240))
    photo.paste(left, (5, 10))
    photo.paste(right, (315, 10))
    return photo


def crowd(faces: int = 40) -> Image.Image:
    """A grid of `faces` small faces."""
    face = astronaut().crop((150, 20, 290, 180)).resize((120, 137))
    columns = 8
    rows = -(-faces // columns)
    photo = Image.new("RGB", (columns * 120, rows * 137), (200, 200, 200))
    for i in range(faces):
        photo.paste(face, ((i % columns) * 120, (i // columns) * 137))
    return photo


def save(image: Image.Image, path: Path, orientation: int = 1) -> Path:
    """Save a JPEG; with an EXIF `orientation` the pixels are stored turned so that a viewer
    honouring the tag shows `image` upright."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = image
    exif = Image.Exif()
    if orientation != 1:
        undo = {
            6: Image.Transpose.ROTATE_90,
            8: Image.Transpose.ROTATE_270,
            3: Image.Transpose.ROTATE_180,
        }
        stored = image.transpose(undo[orientation])
        exif[0x0112] = orientation
    stored.save(path, quality=92, exif=exif.tobytes())
    return path


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
