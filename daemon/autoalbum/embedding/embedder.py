"""Run an ONNX image model in onnxruntime: batches of uint8 images in, L2-normalised vectors out."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from autoalbum.embedding.bundled import DEFAULT_MODEL, MODELS
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
    title: str = ""  # for people, e.g. efficientnet-lite2; empty: the file's name
    source: str = ""  # what made the file (bundled: checkpoint digest, builder version); empty:
    # the file's own digest stands for it


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made a set of vectors: vectors of two identities are never compared."""

    title: str
    digest: str  # of everything that decides the vectors: weights, graph builder, preprocessing
    dim: int

    def __str__(self) -> str:
        return f"{self.title} ({self.digest})"


@dataclass(frozen=True)
class Embeddings:
    vectors: NDArray[np.float32]  # (n, d), each row L2-normalised
    top_classes: NDArray[np.int64] | None  # (n,) ImageNet top-1 index, if the model has logits
    top_probs: NDArray[np.float32] | None


class Embedder(Protocol):
    @property
    def input_size(self) -> int: ...  # a property, so that LazyEmbedder can load to answer

    def embed(self, images: NDArray[np.uint8]) -> Embeddings: ...


@runtime_checkable
class Identified(Protocol):
    """An embedder that can say which model it is (a real one; stand-ins in tests can't)."""

    @property
    def identity(self) -> ModelIdentity: ...


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
        log.info("model %s on %s", spec.title or spec.path.name, self.provider)

    @cached_property
    def identity(self) -> ModelIdentity:
        """The model's identity: what a library records and checks its vectors by."""
        from autoalbum.embedding.model import file_digest

        spec = self.spec
        source = spec.source or file_digest(spec.path)
        recipe = (source, spec.input_size, spec.layout.value, spec.mean, spec.std, self._embedding)
        digest = hashlib.sha256(repr(recipe).encode()).hexdigest()[:16]
        return ModelIdentity(spec.title or spec.path.name, digest, self._dim())

    def _dim(self) -> int:
        output = next(o for o in self.session.get_outputs() if o.name == self._embedding)
        if all(isinstance(n, int) for n in output.shape[1:]):
            return math.prod(output.shape[1:])
        blank = np.zeros((1, self.input_size, self.input_size, 3), dtype=np.uint8)
        return int(self.embed(blank).vectors.shape[1])  # a symbolic shape: ask the model

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


def bundled_model_spec(name: str = DEFAULT_MODEL) -> ModelSpec:
    """A bundled EfficientNet-Lite (lite0, lite1, lite2), its ONNX graph built on first use."""
    from autoalbum.embedding.model import (
        BUILDER_VERSION,
        EMBEDDING_NAME,
        LOGITS_NAME,
        ensure_onnx,
        file_digest,
    )

    model = MODELS[name]
    checkpoint = model.checkpoint()
    return ModelSpec(
        path=ensure_onnx(model, checkpoint),
        input_size=model.input_size,
        layout=Layout.NHWC_UINT8,
        embedding_output=EMBEDDING_NAME,
        logits_output=LOGITS_NAME,
        title=model.title,
        source=f"{model.title}-{file_digest(checkpoint)}-v{BUILDER_VERSION}",
    )


def model_spec(model: ModelConfig) -> ModelSpec:
    """The model named by the config's model section: model.path, else the bundled model.name."""
    if model.path is None:
        return bundled_model_spec(model.name)
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


def open_bundled(identity: ModelIdentity, device: Device) -> OnnxEmbedder | None:
    """The bundled model that made vectors of `identity`, if one did and can be opened: what a
    library keeps filing photos with while it switches to another model."""
    for name, bundled in MODELS.items():
        if bundled.title != identity.title:
            continue
        try:
            embedder = OnnxEmbedder(bundled_model_spec(name), device)
        except (AutoalbumError, ImportError, OSError) as error:
            log.warning("cannot open %s: %s", bundled.title, error)
            return None
        if embedder.identity.digest == identity.digest:
            return embedder
    return None


def open_embedder(model: ModelConfig, device: str | None = None) -> OnnxEmbedder:
    """Load the configured model; `device` overrides the config's."""
    return OnnxEmbedder(model_spec(model), Device(device or model.device))
