"""Decoding real files written into tmp_path: bad inputs, colour modes, orientation, scaling."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from numpy.typing import NDArray
from PIL import Image

from autoalbum.embedding import images
from autoalbum.embedding.fingerprint import Fingerprint, fingerprint_file
from autoalbum.embedding.images import (
    IMAGE_SUFFIXES,
    ImageDecodeError,
    decode_fingerprinted,
    decode_image,
    is_candidate,
    load_fingerprinted,
    load_for_model,
    to_model_input,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _photo(width: int = 64, height: int = 48) -> Image.Image:
    """A smooth gradient, so JPEGs stay small and lossy formats stay close to the source."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width))])
    pixels = np.concatenate([pixels, np.full((1, height, width), 128, np.float32)])
    return Image.fromarray(pixels.transpose(1, 2, 0).astype(np.uint8))


def _saved(image: Image.Image, path: Path, **params: Any) -> Path:
    image.save(path, **params)
    return path


def _near(
    image: Image.Image, xy: tuple[int, int], expected: tuple[int, ...], tolerance: int
) -> bool:
    pixel = image.getpixel(xy)
    assert isinstance(pixel, tuple)
    return max(abs(got - want) for got, want in zip(pixel, expected, strict=True)) <= tolerance


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def _reason(path: Path, **kwargs: int) -> str:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(path, **kwargs)
    assert caught.value.path == path
    assert str(caught.value) == f"{path}: {caught.value.reason}"
    return caught.value.reason


# --- files that can't be used ---------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert _reason(tmp_path / "empty.jpg") == "empty file (0 bytes)"


def test_text_named_jpg(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("not a photo, just some notes\n")
    assert _reason(tmp_path / "notes.jpg") == "not an image (cannot identify image file)"


def test_corrupt_header(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    assert _reason(tmp_path / "bad.jpg").startswith("corrupt image header (looks like JPEG")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(tmp_path: Path, fmt: str) -> None:
    whole = _saved(_photo(256, 192), tmp_path / "whole", format=fmt).read_bytes()
    (tmp_path / "cut.img").write_bytes(whole[: len(whole) // 2])
    assert _reason(tmp_path / "cut.img").startswith("truncated or corrupt image data")


def test_vanished_file(tmp_path: Path) -> None:
    assert _reason(tmp_path / "gone.jpg") == "file vanished"


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read files without read permission")
    path = _saved(_photo(), tmp_path / "secret.jpg")
    path.chmod(0)
    try:
        assert _reason(path) == "unreadable: permission denied"
    finally:
        path.chmod(0o644)


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "album.jpg").mkdir()
    assert _reason(tmp_path / "album.jpg") == "not a file (it is a directory)"


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    assert _reason(tmp_path / "pipe.jpg") == "not a regular file"


def test_header_claiming_huge_size(tmp_path: Path) -> None:
    path = _png_claiming(tmp_path / "bomb.png", 40_000, 40_000)
    reason = _reason(path)
    assert reason.startswith("too large") and "raise decode.max_pixels" in reason


def test_over_pixel_limit_names_the_size(tmp_path: Path) -> None:
    path = _saved(_photo(300, 200), tmp_path / "big.png")
    assert _reason(path, max_pixels=10_000) == (
        "too large: 300x200 = 60000 px exceeds the 10000 px limit (raise decode.max_pixels)"
    )


def test_error_survives_pickling(tmp_path: Path) -> None:
    read = Fingerprint("q", "f")
    error = pickle.loads(pickle.dumps(ImageDecodeError(tmp_path / "a.jpg", "truncated", read)))
    assert (error.path, error.reason, error.fingerprint) == (tmp_path / "a.jpg", "truncated", read)


def _bad_files(folder: Path) -> list[Path]:
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a photo\n")
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    whole = _saved(_photo(256, 192), folder / "whole.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "album.jpg").mkdir()
    os.mkfifo(folder / "pipe.jpg")
    _png_claiming(folder / "bomb.png", 40_000, 40_000)
    names = ["empty", "notes", "bad", "cut", "gone", "album", "pipe"]
    return [folder / f"{name}.jpg" for name in names] + [folder / "bomb.png"]


def test_fingerprinted_decode_fails_alike(tmp_path: Path) -> None:
    for path in _bad_files(tmp_path):
        with pytest.raises(ImageDecodeError) as plain:
            decode_image(path)
        with pytest.raises(ImageDecodeError) as fingerprinted:
            decode_fingerprinted(path)
        assert fingerprinted.value.reason == plain.value.reason
        assert fingerprinted.value.path == path
        # Content that was read before decoding failed still has its fingerprint.
        read = path.name in {"notes.jpg", "bad.jpg", "cut.jpg", "bomb.png"}
        expected = fingerprint_file(path) if read else None
        assert fingerprinted.value.fingerprint == expected, path.name


# --- colour modes ---------------------------------------------------------------------------


def _palette(transparent: bool) -> Image.Image:
    image = Image.new("P", (16, 16), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0, 0, 0] * 254)
    if transparent:
        image.info["transparency"] = 1
    return image


MODE_CASES: list[tuple[str, Callable[[], Image.Image], tuple[int, int, int], int]] = [
    ("grey.png", lambda: Image.new("L", (16, 16), 100), (100, 100, 100), 0),
    ("grey-alpha.png", lambda: Image.new("LA", (16, 16), (50, 0)), WHITE, 0),
    ("palette.png", lambda: _palette(False), (10, 200, 30), 0),
    ("palette-transparent.gif", lambda: _palette(True), WHITE, 0),
    ("clear.png", lambda: Image.new("RGBA", (16, 16), (255, 0, 0, 0)), WHITE, 0),
    ("half.png", lambda: Image.new("RGBA", (16, 16), (0, 0, 0, 128)), (127, 127, 127), 1),
    ("cyan-adobe.jpg", lambda: Image.new("CMYK", (16, 16), (255, 0, 0, 0)), (0, 255, 255), 6),
    ("cyan.tif", lambda: Image.new("CMYK", (16, 16), (255, 0, 0, 0)), (0, 255, 255), 0),
    ("grey16.png", lambda: Image.new("I;16", (16, 16), 32768), (128, 128, 128), 0),
    ("grey16b.tif", lambda: Image.new("I;16B", (16, 16), 32768), (128, 128, 128), 0),
    ("grey32.tif", lambda: Image.new("I", (16, 16), 32768), (128, 128, 128), 0),
    ("float.tif", lambda: Image.new("F", (16, 16), 0.5), (128, 128, 128), 0),
    ("bilevel.png", lambda: Image.new("1", (16, 16), 1), WHITE, 0),
    ("ycbcr.jpg", lambda: Image.new("YCbCr", (16, 16), (128, 128, 128)), (128, 128, 128), 3),
]


@pytest.mark.parametrize(("name", "make", "expected", "tolerance"), MODE_CASES)
def test_mode_becomes_rgb(
    tmp_path: Path,
    name: str,
    make: Callable[[], Image.Image],
    expected: tuple[int, int, int],
    tolerance: int,
) -> None:
    image = make()
    path = _saved(image, tmp_path / name, **({"transparency": 1} if name.endswith("gif") else {}))
    decoded = decode_image(path)
    assert decoded.mode == "RGB" and decoded.size == image.size
    assert _near(decoded, (8, 8), expected, tolerance)


# Transparent pixels, full-scale deep greys, white YCbCr and blank CMYK all mean white.
WHITE_IN_MODE: dict[str, float | tuple[int, ...]] = {
    "RGBA": (0, 0, 0, 0),
    "LA": (0, 0),
    "PA": (0, 0),
    "I;16": 65535,
    "I;16B": 65535,
    "F": 1.0,
    "YCbCr": (255, 128, 128),
    "CMYK": (0, 0, 0, 0),
}


@pytest.mark.parametrize("mode", sorted(WHITE_IN_MODE))
def test_model_input_converts_any_mode(mode: str) -> None:
    pixels = to_model_input(Image.new(mode, (32, 32), WHITE_IN_MODE[mode]), 8)
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    assert (pixels >= 254).all()


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_multi_frame_uses_first_frame(tmp_path: Path, fmt: str) -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE)]
    path = _saved(
        frames[0], tmp_path / f"frames.{fmt.lower()}", save_all=True, append_images=frames[1:]
    )
    assert decode_image(path).getpixel((8, 8)) == RED


def test_png_named_jpg_decodes(tmp_path: Path) -> None:
    path = _saved(Image.new("RGB", (16, 16), GREEN), tmp_path / "really-a-png.jpg", format="PNG")
    assert decode_image(path).getpixel((8, 8)) == GREEN


def test_heic_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "phone.heic"
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (200, 30, 40))).save(path, quality=95)
    decoded = decode_image(path)
    assert decoded.mode == "RGB" and decoded.size == (64, 48)
    assert _near(decoded, (32, 24), (200, 30, 40), 8)
    from_bytes, _ = decode_fingerprinted(path)
    assert np.array_equal(np.asarray(from_bytes), np.asarray(decoded))


def test_import_does_not_load_heif() -> None:
    code = "import sys, autoalbum.embedding.images; sys.exit('pillow_heif' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- orientation and scaling ----------------------------------------------------------------


def _quadrants() -> NDArray[np.uint8]:
    """40x20 stored pixels: red, green on top; blue, white below."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10, :20], stored[:10, 20:], stored[10:, :20], stored[10:, 20:] = RED, GREEN, BLUE, WHITE
    return stored


# How a viewer shows stored pixels for each EXIF orientation, written from the EXIF spec.
UPRIGHT: dict[int, Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = {
    1: lambda s: s,
    2: lambda s: s[:, ::-1],
    3: lambda s: s[::-1, ::-1],
    4: lambda s: s[::-1, :],
    5: lambda s: s.transpose(1, 0, 2),
    6: lambda s: np.rot90(s, k=-1),
    7: lambda s: s.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda s: np.rot90(s, k=1),
}


def _jpeg_with_orientation(path: Path, pixels: NDArray[np.uint8], orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _saved(Image.fromarray(pixels), path, exif=exif, quality=95, subsampling=0)


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation(tmp_path: Path, orientation: int) -> None:
    stored = _quadrants()
    path = _jpeg_with_orientation(tmp_path / "turned.jpg", stored, orientation)
    decoded = np.asarray(decode_image(path), dtype=np.int16)
    expected = UPRIGHT[orientation](stored)
    assert decoded.shape == expected.shape
    assert np.abs(decoded - expected).mean() < 4


def test_orientation_6_is_portrait_with_red_top_right(tmp_path: Path) -> None:
    decoded = decode_image(_jpeg_with_orientation(tmp_path / "p.jpg", _quadrants(), 6))
    assert decoded.size == (20, 40)
    assert _near(decoded, (15, 5), RED, 15)


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _saved(_photo(4000, 3000), tmp_path_factory.mktemp("big") / "big.jpg", quality=80)


@pytest.mark.parametrize(
    ("min_side", "size"), [(224, (500, 375)), (1000, (2000, 1500)), (3000, (4000, 3000))]
)
def test_jpeg_draft_shrinks_but_not_below_min_side(
    big_jpeg: Path, min_side: int, size: tuple[int, int]
) -> None:
    decoded = decode_image(big_jpeg, min_side=min_side)
    assert decoded.size == size and min(decoded.size) >= min_side
    assert decode_fingerprinted(big_jpeg, min_side=min_side)[0].size == size


@pytest.mark.parametrize("whole_read_limit", [64 << 20, 1000])
def test_fingerprinted_decode_reads_what_it_decodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole_read_limit: int
) -> None:
    """Above the whole-read limit the file is hashed as a stream first, with the same result."""
    monkeypatch.setattr(images, "WHOLE_READ_LIMIT", whole_read_limit)
    path = _jpeg_with_orientation(tmp_path / "turned.jpg", _quadrants(), 6)
    image, fingerprint = decode_fingerprinted(path)
    assert fingerprint == fingerprint_file(path)
    assert np.array_equal(np.asarray(image), np.asarray(decode_image(path)))
    pixels, again = load_fingerprinted(path, 32)
    assert again == fingerprint and np.array_equal(pixels, load_for_model(path, 32))


def test_to_model_input_keeps_the_whole_frame(tmp_path: Path) -> None:
    wide = Image.new("RGB", (300, 100), RED)
    wide.paste(GREEN, (100, 0, 200, 100))
    pixels = to_model_input(wide, 224)
    assert pixels.shape == (224, 224, 3) and pixels.dtype == np.uint8
    # Thirds of the width stay thirds: red, green, red, squashed but not cropped.
    assert (np.abs(pixels[:, 8:66].astype(int) - RED) <= 2).all()
    assert (np.abs(pixels[:, 83:141].astype(int) - GREEN) <= 2).all()
    assert (np.abs(pixels[:, 158:216].astype(int) - RED) <= 2).all()


def test_load_for_model_is_thread_safe(tmp_path: Path) -> None:
    paths = [_saved(_photo(320 + 16 * i, 240), tmp_path / f"p{i}.jpg") for i in range(6)]
    paths += [_saved(_photo(300, 400), tmp_path / "p.png")]
    expected = [load_for_model(p, 32) for p in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: load_for_model(p, 32), paths * 4))
    for got, want in zip(results, expected * 4, strict=True):
        assert got.shape == (32, 32, 3) and np.array_equal(got, want)


def test_decoding_leaves_the_file_alone(tmp_path: Path) -> None:
    path = _jpeg_with_orientation(tmp_path / "keep.jpg", _quadrants(), 6)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    decode_image(path)
    load_for_model(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# --- which files are scanned ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_0042.JPG", True),
        ("holiday.jpeg", True),
        ("scan.TIFF", True),
        ("phone.HEIC", True),
        ("shot.webp", True),
        ("notes.txt", False),
        ("README", False),
        (".hidden.jpg", False),
        (".~lock.photo.jpg", False),
        ("photo.jpg.part", False),
        ("photo.jpg.crdownload", False),
        ("photo.jpg.tmp", False),
        ("~photo.jpg", False),
    ],
)
def test_is_candidate(name: str, expected: bool) -> None:
    assert is_candidate(Path("/photos") / name) is expected


def test_suffixes_are_lowercase_with_dot() -> None:
    assert all(s.startswith(".") and s == s.lower() for s in IMAGE_SUFFIXES)
    assert {".jpg", ".png", ".heic", ".tif", ".webp"} <= IMAGE_SUFFIXES
