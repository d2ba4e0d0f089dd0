"""Find faces in a decoded photo and cut each out as an aligned chip for the descriptor.

dlib's HOG detector (compiled into dlib, Boost licence) looks at a copy of the photo shrunk to
`detect_side` pixels on its long side; it finds faces from about 80 pixels across in that copy.
dlib's 5-point landmark model (CC0) places eyes and nose, and dlib cuts the chip (150 x 150,
dlib's padding 0.25) from the photo as decoded, which is often bigger than the copy, so a chip
is as sharp as the decoded photo allows. The photo arrives upright (EXIF orientation applied
by the decoder), so boxes are relative to the photo as it is shown.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

CHIP_SIDE = 150  # the descriptor's input, as dlib's network was trained
CHIP_PADDING = 0.25  # dlib's compute_face_descriptor default
DEFAULT_DETECT_SIDE = 640  # long side of the copy HOG scans: see README "People" for the cost
MAX_FACES = 64  # per photo, the biggest first: a crowd costs a bounded time
HOG_WINDOW = 80  # dlib's frontal detector's smallest face, in pixels of the scanned copy
# HOG's score for a face it is sure of: real faces measured 0.34-1.7, patterns on clothes
# 0.03-0.12. Weaker finds are stored (a later detector may judge them) but make no person and
# no photo of people.
SURE_SCORE = 0.3


@dataclass(frozen=True)
class Box:
    """A face's box relative to the upright photo: left, top, right, bottom in [0, 1]."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def area(self) -> float:
        return (self.right - self.left) * (self.bottom - self.top)


@dataclass(frozen=True)
class FoundFace:
    """A face found: its box, its size in the photo's own pixels, the detector's confidence
    and the aligned chip the descriptor reads."""

    box: Box
    side: int  # the box's width in pixels of the original photo
    score: float
    chip: NDArray[np.uint8]


@dataclass(frozen=True)
class Face:
    """A face as stored: where, how big, how sure, and its descriptor."""

    box: Box
    side: int
    score: float
    descriptor: NDArray[np.float32]


def landmarks_file() -> Path:
    """dlib's 5-point landmark model (CC0) inside the face_recognition_models package."""
    package = importlib.import_module("face_recognition_models")
    return Path(package.pose_predictor_five_point_model_location())


class FaceDetector:
    """Detects faces and cuts chips; one per process, safe to call from several threads: dlib's
    detector is not (two threads at once find garbage), and keeps the GIL while it works, so
    calls take turns under a lock at no cost."""

    def __init__(self, detect_side: int = DEFAULT_DETECT_SIDE) -> None:
        self.detect_side = detect_side
        self._lock = threading.Lock()

    @property
    def _dlib(self) -> tuple[Any, Any, Any]:
        return _dlib_models()

    def find(self, image: Image.Image, original_width: int) -> list[FoundFace]:
        """The faces in an upright RGB `image`, biggest first; `original_width` is the photo's
        width before the decoder shrank it, to tell each face's size in the photo."""
        with self._lock:
            return self._find(image, original_width)

    def _find(self, image: Image.Image, original_width: int) -> list[FoundFace]:
        dlib, detect, landmarks = self._dlib
        pixels = np.asarray(image)
        scale = min(1.0, self.detect_side / max(image.size))
        small = image
        if scale < 1.0:
            shrunk = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            small = image.resize(shrunk, Image.Resampling.BILINEAR, reducing_gap=2.0)
        ratio = image.width / small.width
        rects, scores, _ = detect.run(np.asarray(small), 0, 0.0)
        found = sorted(zip(rects, scores, strict=True), key=lambda rs: -rs[0].width())
        faces = []
        for rect, score in found[:MAX_FACES]:
            big = dlib.rectangle(
                round(rect.left() * ratio),
                round(rect.top() * ratio),
                round(rect.right() * ratio),
                round(rect.bottom() * ratio),
            )
            shape = landmarks(pixels, big)
            chip = dlib.get_face_chip(pixels, shape, size=CHIP_SIDE, padding=CHIP_PADDING)
            faces.append(
                FoundFace(
                    _box(big, image.size),
                    round(big.width() * original_width / image.width),
                    float(score),
                    np.asarray(chip, dtype=np.uint8),
                )
            )
        return faces


@cache
def _dlib_models() -> tuple[Any, Any, Any]:
    """dlib, its face detector and the landmark model: loaded once per process."""
    import dlib

    return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmarks_file()))


def _box(rect: Any, size: tuple[int, int]) -> Box:
    width, height = size

    def clip(value: float) -> float:
        return min(1.0, max(0.0, value))

    return Box(
        clip(rect.left() / width),
        clip(rect.top() / height),
        clip((rect.right() + 1) / width),
        clip((rect.bottom() + 1) / height),
    )
