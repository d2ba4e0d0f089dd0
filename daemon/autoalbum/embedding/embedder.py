"""Run an ONNX image model in onnxruntime: batches of uint8 images in, L2-normalised vectors out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from autoalbum.errors import AutoalbumError

if TYPE_CHECKING:
    from autoalbum.config import ModelConfig

log = logging.getLogger(__name__)


class Device(str, Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Layout(str, Enum):
    """How a model wants its input: raw uint8 NHWC (the bundled model) or float NCHW."""

    NHWC_UINT8 = "nhwc-uint8"
    NCHW_FLOAT = "nchw-float"


class ModelError(AutoalbumError):
    """The model can't be loaded or run as configured."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to run an ONNX image model as an embedder."""

    path: Path
    input_size: int = 224
    layout: Layout = Layout.NHWC_UINT8
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    embedding_output: str | None = None  # None: the model's first output
    logits_output: str | None = None  # ImageNet logits, used to name albums when present


@dataclass(frozen=True)
class Embeddings:
    vectors: NDArray[np.float32]  # (n, d), each row L2-normalised
    top_classes: NDArray[np.int64] | None  # (n,) ImageNet top-1 index, if the model has logits
    top_probs: NDArray[np.float32] | None


class Embedder(Protocol):
    @property
    def input_size(self) -> int: ...  # a property, so that LazyEmbedder can load to answer

    def embed(self, images: NDArray[np.uint8]) -> Embeddings: ...


class LazyEmbedder:
    """An embedder whose model is opened on first use and then kept, so that a run whose
    vectors are all stored (a no-change index, a reused evaluation) loads no model at all."""

    def __init__(self, open_model: Callable[[], Embedder], name: str = "") -> None:
        self.name = name  # what its vectors are keyed by, known before the model is opened
        self._open = open_model
        self._model: Embedder | None = None

    @property
    def model(self) -> Embedder:
        if self._model is None:
            self._model = self._open()
        return self._model

    @property
    def input_size(self) -> int:
        return self.model.input_size

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        return self.model.embed(images)


def select_providers(device: Device) -> list[str]:
    """onnxruntime execution providers for the requested device."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    cuda = "CUDAExecutionProvider" in available
    if device is Device.CUDA and not cuda:
        raise ModelError(
            "device 'cuda' requested but onnxruntime has no CUDA provider; "
            "install the GPU build with pip install 'autoalbum[gpu]' or use --device cpu"
        )
    if device is Device.CPU or not cuda:
        return ["CPUExecutionProvider"]
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


class OnnxEmbedder:
    """An onnxruntime session over an image model; thread-safe for concurrent `embed` calls."""

    def __init__(self, spec: ModelSpec, device: Device = Device.AUTO, threads: int = 0) -> None:
        import onnxruntime as ort

        self.spec = spec
        self.name = spec.path.name  # what stored vectors are keyed by (evaluate's cache)
        self.input_size = spec.input_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(spec.path), options, providers=select_providers(device)
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load model {spec.path}: {exc}") from exc
        self.provider = self.session.get_providers()[0]
        self._input = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        self._embedding = spec.embedding_output or outputs[0]
        for name in (self._embedding, spec.logits_output):
            if name is not None and name not in outputs:
                raise ModelError(f"model {spec.path} has no output {name!r}; it has {outputs}")
        log.info("model %s on %s", spec.path.name, self.provider)

    def _prepare(self, images: NDArray[np.uint8]) -> NDArray[np.generic]:
        if self.spec.layout is Layout.NHWC_UINT8:
            return images
        mean = np.asarray(self.spec.mean, dtype=np.float32)
        std = np.asarray(self.spec.std, dtype=np.float32)
        scaled = (images.astype(np.float32) / 255.0 - mean) / std
        return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))

    def embed(self, images: NDArray[np.uint8]) -> Embeddings:
        """Embed a batch of (n, size, size, 3) uint8 RGB images."""
        wanted = [self._embedding] + ([self.spec.logits_output] if self.spec.logits_output else [])
        results = self.session.run(wanted, {self._input: self._prepare(images)})
        raw = np.asarray(results[0], dtype=np.float32).reshape(len(images), -1)
        vectors = normalise(raw)
        if len(results) == 1:
            return Embeddings(vectors, None, None)
        probs = softmax(np.asarray(results[1], dtype=np.float32))
        top = probs.argmax(axis=1)
        return Embeddings(vectors, top.astype(np.int64), probs[np.arange(len(top)), top])

    def classify(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        """ImageNet class probabilities (n, 1000); needs a model with logits."""
        if not self.spec.logits_output:
            raise ModelError(f"model {self.spec.path} has no classifier output configured")
        (logits,) = self.session.run(
            [self.spec.logits_output], {self._input: self._prepare(images)}
        )
        return softmax(np.asarray(logits, dtype=np.float32))


def normalise(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Scale each row to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: NDArray[np.float32] = np.divide(
        vectors, norms, out=np.zeros_like(vectors), where=norms > 0
    )
    return unit


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs: NDArray[np.float32] = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return probs


def bundled_model_spec() -> ModelSpec:
    """The EfficientNet-Lite0 model built from the bundled weights (built on first use)."""
    from autoalbum.embedding.model import EMBEDDING_NAME, LOGITS_NAME, ensure_lite0_onnx

    return ModelSpec(
        path=ensure_lite0_onnx(),
        input_size=224,
        layout=Layout.NHWC_UINT8,
        embedding_output=EMBEDDING_NAME,
        logits_output=LOGITS_NAME,
    )


def model_spec(model: ModelConfig) -> ModelSpec:
    """The model named by the config's model section (the bundled one when no path is set)."""
    if model.path is None:
        return bundled_model_spec()
    if not model.path.is_file():
        raise ModelError(f"model.path: {model.path} does not exist; fix the path or leave it empty")
    return ModelSpec(
        path=model.path,
        input_size=model.input_size,
        layout=Layout(model.layout),
        mean=(model.mean[0], model.mean[1], model.mean[2]),
        std=(model.std[0], model.std[1], model.std[2]),
        embedding_output=model.embedding_output,
        logits_output=model.logits_output,
    )


def open_embedder(model: ModelConfig, device: str | None = None) -> OnnxEmbedder:
    """Load the configured model; `device` overrides the config's."""
    return OnnxEmbedder(model_spec(model), Device(device or model.device))
