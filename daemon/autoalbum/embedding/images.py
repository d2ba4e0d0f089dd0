"""Decode photo files into upright RGB images and the uint8 squares the model eats.

Every way a file can be unusable becomes one `ImageDecodeError` with a short reason, so callers
can skip the file and report it instead of crashing a worker thread. The indexer decodes and
fingerprints a new file from one read of it (`decode_fingerprinted`).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import stat
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from autoalbum.embedding.capture import Capture, read_capture
from autoalbum.embedding.fingerprint import Fingerprint, fingerprint_bytes, fingerprint_stream
from autoalbum.errors import AutoalbumError

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 150_000_000
WHOLE_READ_LIMIT = 64 << 20  # bigger files are fingerprinted as a stream, then decoded

_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
_HEIF_SUFFIXES = {".heic", ".heif", ".hif"}
# Pillow decodes AVIF itself only when built with libavif; pillow-heif no longer does.
_AVIF_SUFFIXES = {".avif"} if importlib.util.find_spec("PIL._avif") is not None else set()
IMAGE_SUFFIXES: frozenset[str] = frozenset(_SUFFIXES | _HEIF_SUFFIXES | _AVIF_SUFFIXES)

_HIGH_DEPTH_MODES = frozenset({"I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
# Plugins raise all of these for damaged data; warnings arrive as errors under `-W error`.
_DECODE_FAILURES = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    MemoryError,
    Warning,
)
_setup_lock = threading.Lock()
_plugins_ready = False


FULL_SIZE = "autoalbum.full_size"  # in a decoded image's info: its size in the file, upright
CAPTURE = "autoalbum.capture"  # in a decoded image's info: when and where it was taken


class ImageDecodeError(AutoalbumError):
    """A file that can't be used as a photo; `reason` says why in a few words. `fingerprint`
    is the content's, when it was read before decoding failed."""

    def __init__(self, path: Path, reason: str, fingerprint: Fingerprint | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.fingerprint = fingerprint

    def __reduce__(
        self,
    ) -> tuple[type[ImageDecodeError], tuple[Path, str, Fingerprint | None]]:
        return type(self), (self.path, self.reason, self.fingerprint)


def is_candidate(path: Path) -> bool:
    """True for image files that are neither hidden nor temporary downloads."""
    # Partial downloads (.part, .crdownload, .tmp) and editor backups fail the suffix test.
    return not path.name.startswith((".", "~")) and path.suffix.lower() in IMAGE_SUFFIXES


def _prepare_pillow(max_pixels: int) -> None:
    """Register the HEIF opener once; stop Pillow's own bomb check firing below our limit."""
    global _plugins_ready
    with _setup_lock:
        if not _plugins_ready:
            import pillow_heif

            pillow_heif.register_heif_opener()
            Image.init()  # import every plugin now, not racily from several threads
            _plugins_ready = True
        # Only ever raised, so no thread sees a limit below the one it asked for.
        pillow_limit = Image.MAX_IMAGE_PIXELS
        if pillow_limit is not None and pillow_limit < max_pixels:
            Image.MAX_IMAGE_PIXELS = max_pixels


def _pixels(count: int) -> str:
    for unit, scale in (("Gpx", 1e9), ("Mpx", 1e6)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} px"


def _too_large(max_pixels: int, size: tuple[int, int] | None = None) -> str:
    what = f"{size[0]}x{size[1]} = {_pixels(size[0] * size[1])}" if size else "image"
    return f"too large: {what} exceeds the {_pixels(max_pixels)} limit (raise decode.max_pixels)"


def _open_readonly(path: Path) -> IO[bytes]:
    """Open for reading without blocking on a FIFO; refuse anything but a non-empty file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    file = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    reason = None
    if stat.S_ISDIR(info.st_mode):
        reason = "not a file (it is a directory)"
    elif not stat.S_ISREG(info.st_mode):
        reason = "not a regular file"
    elif info.st_size == 0:
        reason = "empty file (0 bytes)"
    if reason is not None:
        file.close()
        raise ImageDecodeError(path, reason)
    return file


def _unidentified(file: IO[bytes]) -> str:
    """Tell a damaged image header apart from a file that is no image at all."""
    file.seek(0)
    prefix = file.read(16)
    formats = [name for name, (_, accept) in Image.OPEN.items() if accept and accept(prefix)]
    if formats:
        return f"corrupt image header (looks like {formats[0]} but cannot be read)"
    return "not an image (cannot identify image file)"


def _oriented(image: Image.Image, path: Path) -> Image.Image:
    """The image turned upright per its EXIF orientation; unreadable EXIF leaves it as stored."""
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
            return image  # upright already: skip exif_transpose's full-size copy
        return ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, KeyError, TypeError) as error:
        log.debug("ignoring unreadable EXIF orientation in %s: %s", path, error)
        return image


def _grey_to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit and float greyscale to 0..255 by its nominal range."""
    data = np.nan_to_num(np.asarray(image, dtype=np.float32))
    if image.mode.startswith("I;16"):
        peak = 65535.0
    else:
        top = float(data.max(initial=0.0))
        ranges = (1.0, 255.0, 65535.0) if image.mode == "F" else (255.0, 65535.0)
        peak = next((p for p in ranges if top <= p), top)
    grey = np.clip(data * (255.0 / peak), 0.0, 255.0)
    return Image.fromarray(np.rint(grey).astype(np.uint8))


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB with transparency flattened onto white and deep greyscale scaled, not clipped."""
    if image.mode in _HIGH_DEPTH_MODES:
        return _grey_to_8bit(image).convert("RGB")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _decode_file(path: Path, file: IO[bytes], min_side: int, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(file)
    except UnidentifiedImageError:
        raise ImageDecodeError(path, _unidentified(file)) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageDecodeError(path, _too_large(max_pixels, image.size))
    capture = read_capture(image, path)  # from the header Pillow parsed: no pixel decoded
    # JPEG decodes at 1/2, 1/4 or 1/8 scale, never below min_side; HEIF picks a thumbnail.
    image.draft("RGB", (min_side, min_side))
    image.load()
    upright = _to_rgb(_oriented(image, path))
    turned = (upright.width > upright.height) != (image.width > image.height)
    upright.info[FULL_SIZE] = (height, width) if turned else (width, height)
    upright.info[CAPTURE] = capture
    return upright


def full_size(image: Image.Image) -> tuple[int, int]:
    """The upright photo's size in its file, before decoding shrank it."""
    size = image.info.get(FULL_SIZE)
    return size if isinstance(size, tuple) else image.size


def capture_of(image: Image.Image) -> Capture | None:
    """When and where a decoded photo was taken, as its file says (None: not read)."""
    capture = image.info.get(CAPTURE)
    return capture if isinstance(capture, Capture) else None


def _reason(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError):
        return "file vanished"
    if isinstance(error, PermissionError):
        return "unreadable: permission denied"
    if isinstance(error, IsADirectoryError):
        return "not a file (it is a directory)"
    if isinstance(error, MemoryError):
        return "out of memory while decoding (lower decode.max_pixels or use fewer workers)"
    if isinstance(error, OSError) and error.errno is not None:
        return f"unreadable: {error.strerror or error}"
    return f"truncated or corrupt image data ({error})"


def _prepare(min_side: int, max_pixels: int) -> None:
    if min_side < 1:
        raise ValueError(f"min_side must be at least 1, got {min_side}")
    _prepare_pillow(max_pixels)


@contextmanager
def _reasons(path: Path, max_pixels: int) -> Iterator[None]:
    """Turn every way reading or decoding fails into an ImageDecodeError."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(path, _too_large(max_pixels)) from None
    except _DECODE_FAILURES as error:
        raise ImageDecodeError(path, _reason(error)) from error


def decode_image(
    path: Path, min_side: int = 224, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Fully decode `path` into an upright RGB image, shrunk on load but not below `min_side`."""
    _prepare(min_side, max_pixels)
    with _reasons(path, max_pixels), _open_readonly(path) as file:
        return _decode_file(path, file, min_side, max_pixels)


def decode_fingerprinted(
    path: Path, min_side: int = 224, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, Fingerprint]:
    """`decode_image` and the fingerprint of the bytes it decoded, from one read of the file
    (two above WHOLE_READ_LIMIT, which is not held in memory)."""
    _prepare(min_side, max_pixels)
    fingerprint = None
    try:
        with _reasons(path, max_pixels), _open_readonly(path) as file:
            if os.fstat(file.fileno()).st_size > WHOLE_READ_LIMIT:
                fingerprint = fingerprint_stream(file)
                file.seek(0)
                return _decode_file(path, file, min_side, max_pixels), fingerprint
            data = file.read()
            fingerprint = fingerprint_bytes(data)
            return _decode_file(path, io.BytesIO(data), min_side, max_pixels), fingerprint
    except ImageDecodeError as error:
        error.fingerprint = fingerprint
        raise


def to_model_input(image: Image.Image, size: int = 224) -> NDArray[np.uint8]:
    """Resize the whole frame to (size, size, 3) uint8, as the model was trained to see it.

    Squashing rather than centre-cropping keeps the whole photo in view (a cat at the edge of
    a wide shot still counts) and reproduces the reference predictions of the bundled model.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    rgb = _to_rgb(image)
    return np.array(rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0))


def load_for_model(
    path: Path, size: int = 224, max_pixels: int = DEFAULT_MAX_PIXELS
) -> NDArray[np.uint8]:
    """Decode `path` straight to model input; safe to call from many threads at once."""
    return to_model_input(decode_image(path, size, max_pixels), size)


def load_fingerprinted(
    path: Path, size: int = 224, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[NDArray[np.uint8], Fingerprint]:
    """`load_for_model` and the file's fingerprint, from one read of the file."""
    image, fingerprint = decode_fingerprinted(path, size, max_pixels)
    return to_model_input(image, size), fingerprint
