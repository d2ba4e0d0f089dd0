"""Faces of decoded photos: found in the decoding threads, described in batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from autoalbum.embedding.embedder import Device
from autoalbum.embedding.images import ImageDecodeError, decode_image, full_size
from autoalbum.faces.describer import FaceDescriber, FaceModelIdentity, face_model_identity
from autoalbum.faces.detector import DEFAULT_DETECT_SIDE, Face, FaceDetector, FoundFace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoFaces:
    """A photo's faces and its upright size in pixels (face boxes are relative to it)."""

    size: tuple[int, int]
    faces: list[Face] = field(default_factory=list)


@dataclass(frozen=True)
class Found:
    """A photo's faces before description: what a decoding thread hands on."""

    size: tuple[int, int]
    faces: list[FoundFace]


class FaceFinder:
    """Finds and describes faces; the descriptor model loads on first use."""

    def __init__(self, detect_side: int = DEFAULT_DETECT_SIDE, device: Device = Device.AUTO):
        self.detector = FaceDetector(detect_side)
        self.device = device

    @property
    def detect_side(self) -> int:
        return self.detector.detect_side

    @property
    def identity(self) -> FaceModelIdentity:
        return face_model_identity(self.detect_side)

    @property
    def describer(self) -> FaceDescriber:
        return FaceDescriber.shared(self.detect_side, self.device)

    def find(self, image: Image.Image) -> Found:
        """The faces of a decoded upright photo (thread-safe)."""
        size = full_size(image)
        return Found(size, self.detector.find(image, size[0]))

    def describe(self, found: Sequence[Found]) -> list[PhotoFaces]:
        """Describe the faces of several photos in one batch."""
        chips = [face.chip for photo in found for face in photo.faces]
        descriptors = self.describer.describe(np.stack(chips)) if chips else None
        described, at = [], 0
        for photo in found:
            faces = []
            for face in photo.faces:
                assert descriptors is not None
                faces.append(Face(face.box, face.side, face.score, descriptors[at]))
                at += 1
            described.append(PhotoFaces(photo.size, faces))
        return described


def _found(path: Path, finder: FaceFinder) -> Found | None:
    try:
        image = decode_image(path, finder.detect_side)
    except ImageDecodeError as error:
        log.info("no faces looked for in %s: %s", error.path, error.reason)
        return None
    return finder.find(image)


def find_faces(
    paths: Sequence[Path], finder: FaceFinder, workers: int | None = None
) -> list[PhotoFaces | None]:
    """The faces of photos already embedded (a library's catch-up): decoded in threads,
    described in one batch; None for a photo that can't be decoded now."""
    with ThreadPoolExecutor(max_workers=workers or 2, thread_name_prefix="faces") as pool:
        found = list(pool.map(lambda path: _found(path, finder), paths))
    described = iter(finder.describe([f for f in found if f is not None]))
    return [None if f is None else next(described) for f in found]
