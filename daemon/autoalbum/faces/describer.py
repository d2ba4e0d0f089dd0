"""Describe face chips with dlib's face-recognition network, run by onnxruntime (batched, and on
the GPU when one is present): 128 numbers per face, two faces of one person closer than about
0.6 (dlib's own threshold)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.embedder import Device, select_providers
from autoalbum.faces.detector import CHIP_PADDING, CHIP_SIDE, landmarks_file

log = logging.getLogger(__name__)

DESCRIPTOR_DIM = 128


@dataclass(frozen=True)
class FaceModelIdentity:
    """What made a library's face descriptors: compared before any is stored beside them."""

    title: str
    digest: str  # weights, builder, landmarks, chip and detection settings

    def describe(self) -> str:
        return f"{self.title} ({self.digest})"


@cache
def face_model_identity(detect_side: int) -> FaceModelIdentity:
    """The identity of the faces found and described at this detection size."""
    from autoalbum.embedding.model import file_digest
    from autoalbum.faces import descriptor_model  # onnx: 0.6 s to import, only where needed

    recipe = (
        descriptor_model.ensure_onnx().name,  # the weights' digest and the builder's version
        file_digest(landmarks_file()),
        CHIP_SIDE,
        CHIP_PADDING,
        "dlib-hog",
        detect_side,
    )
    digest = hashlib.sha256(repr(recipe).encode()).hexdigest()[:16]
    return FaceModelIdentity(descriptor_model.TITLE, digest)


class FaceDescriber:
    """An onnxruntime session over the face-descriptor graph; `describe` is thread-safe."""

    def __init__(self, detect_side: int, device: Device = Device.AUTO, threads: int = 0) -> None:
        import onnxruntime as ort

        from autoalbum.faces import descriptor_model

        self.detect_side = detect_side
        self.path = descriptor_model.ensure_onnx()
        self._input, self._output = descriptor_model.INPUT_NAME, descriptor_model.OUTPUT_NAME
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.path), options, providers=select_providers(device)
        )
        self.provider = self.session.get_providers()[0]
        log.info("face descriptor %s on %s", descriptor_model.TITLE, self.provider)

    @staticmethod
    @cache
    def shared(detect_side: int, device: Device = Device.AUTO) -> FaceDescriber:
        """One describer per process for these settings: its model is loaded once."""
        return FaceDescriber(detect_side, device)

    def describe(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(n, 150, 150, 3) uint8 chips -> (n, 128) descriptors."""
        if not len(chips):
            return np.zeros((0, DESCRIPTOR_DIM), np.float32)
        (out,) = self.session.run([self._output], {self._input: chips})
        return np.asarray(out, dtype=np.float32)
