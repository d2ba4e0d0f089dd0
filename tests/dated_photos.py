"""Photos with capture dates and GPS positions in their EXIF, written by Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def dated_photo(
    path: Path, when: str | None, gps: tuple[float, float] | None = None, seed: int = 0
) -> Path:
    """A photo whose EXIF says when (`2024:04:05 10:20:30`, offset +01:00) and where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when
        exif.get_ifd(0x8769)[0x9011] = "+01:00"
    if gps is not None:
        lat, lon = gps
        info = exif.get_ifd(0x8825)
        info[1], info[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        info[3], info[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"
    rng = np.random.default_rng(seed + len(str(path)))
    pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, exif=exif.tobytes())
    return path


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)
