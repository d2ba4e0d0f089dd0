"""Build dlib's face-recognition ResNet as an ONNX graph from its weights file, once, and cache it.

The network (dlib's ``dnn_face_recognition_ex``) is a 29-layer ResNet: a 7x7 stride-2
convolution and a 3x3 max pool, then residual blocks of two 3x3 convolutions each, a block that
halves the resolution adding an average-pooled shortcut that is zero-padded to the block's
channels and size (dlib's ``add_prev`` adds tensors of different shapes that way), a global
average pool and a 128-d linear layer. The layers' order, kernels, strides and paddings are read
from the file; each ``affine`` (dlib's frozen BatchNorm) is folded into its convolution. The
graph takes uint8 RGB face chips (N, 150, 150, 3) and returns dlib's raw 128-d ``descriptor``.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from autoalbum.durable import replacing
from autoalbum.embedding.graph import GraphBuilder
from autoalbum.embedding.model import cache_dir, file_digest
from autoalbum.faces.dlib_file import DlibFileError, Layer, conv_weights, read_layers

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # part of the cached file's name and of every library's face-model identity
TITLE = "dlib-face-resnet-v1"
INPUT_NAME = "chips"
OUTPUT_NAME = "descriptor"


@dataclass(frozen=True)
class _Shape:
    channels: int
    side: int

    def after(self, window: int, stride: int, pad: int, channels: int | None = None) -> _Shape:
        side = 1 + (self.side + 2 * pad - window) // stride
        return _Shape(self.channels if channels is None else channels, side)


class _Builder(GraphBuilder):
    def conv_affine(self, x: str, shape: _Shape, conv: Layer, affine: Layer) -> tuple[str, _Shape]:
        """A convolution with the following affine layer folded into its weights and bias."""
        weights, bias = conv_weights(conv, shape.channels)
        assert affine.params is not None
        gamma, beta = np.split(affine.params, 2)
        if gamma.size != weights.shape[0]:
            raise DlibFileError("an affine layer does not match its convolution")
        v = conv.values
        window, stride, pad = int(v["rows"]), int(v["stride_y"]), int(v["pad_y"])
        out = self.node(
            "Conv",
            [
                x,
                self.constant("w", (weights * gamma[:, None, None, None]).astype(np.float32)),
                self.constant("b", (bias * gamma + beta).astype(np.float32)),
            ],
            "conv",
            kernel_shape=[window, int(v["columns"])],
            strides=[stride, int(v["stride_x"])],
            pads=[pad, int(v["pad_x"]), pad, int(v["pad_x"])],
        )
        return out, shape.after(window, stride, pad, weights.shape[0])

    def pool(self, op: str, x: str, shape: _Shape, layer: Layer) -> tuple[str, _Shape]:
        v = layer.values
        window, stride, pad = int(v["rows"]), int(v["stride_y"]), int(v["pad_y"])
        out = self.node(
            op,
            [x],
            op.lower(),
            kernel_shape=[window, int(v["columns"])],
            strides=[stride, int(v["stride_x"])],
            pads=[pad, int(v["pad_x"]), pad, int(v["pad_x"])],
        )
        return out, shape.after(window, stride, pad)

    def padded(self, x: str, shape: _Shape, to: _Shape) -> str:
        """Zero-pad channels and sides at their ends, as dlib's addition of unequal tensors."""
        if shape == to:
            return x
        grow = [0, to.channels - shape.channels, to.side - shape.side, to.side - shape.side]
        pads = self.constant("pads", np.array([0, 0, 0, 0, *grow], dtype=np.int64))
        return self.node("Pad", [x, pads], "pad")

    def residual(
        self, x: str, shape: _Shape, layers: list[Layer], at: int
    ) -> tuple[str, _Shape, int]:
        """One residual block starting at layers[at]; returns its output, shape and next index."""
        h, inner = self.conv_affine(x, shape, layers[at], layers[at + 1])
        h = self.node("Relu", [h], "relu")
        h, inner = self.conv_affine(h, inner, layers[at + 2], layers[at + 3])
        at += 4
        shortcut, short = x, shape
        if layers[at].kind == "avg_pool" and layers[at].values["rows"]:
            shortcut, short = self.pool("AveragePool", x, shape, layers[at])
            at += 1
        out = _Shape(max(inner.channels, short.channels), max(inner.side, short.side))
        total = self.node(
            "Add", [self.padded(h, inner, out), self.padded(shortcut, short, out)], "add"
        )
        return self.node("Relu", [total], "relu"), out, at


def _kinds(layers: list[Layer], at: int, *kinds: str) -> bool:
    return [layer.kind for layer in layers[at : at + len(kinds)]] == list(kinds)


def build_graph(layers: list[Layer]) -> onnx.ModelProto:
    """The inference graph of dlib's face-recognition ResNet, from its layers."""
    if not _kinds(layers, 0, "input", "conv", "affine", "max_pool"):
        raise DlibFileError("not dlib's face-recognition ResNet: it starts with another layer")
    image = layers[0].values
    side = int(image["rows"])
    means = np.array([image["red"], image["green"], image["blue"]], dtype=np.float32)
    g = _Builder()
    x = g.node("Cast", [INPUT_NAME], "to_float", to=TensorProto.FLOAT)
    x = g.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    x = g.node("Sub", [x, g.constant("means", means.reshape(1, 3, 1, 1))], "centre")
    x = g.node("Mul", [x, g.constant("scale", np.array(1 / 256, dtype=np.float32))], "scale")
    x, shape = g.conv_affine(x, _Shape(3, side), layers[1], layers[2])
    x, shape = g.pool("MaxPool", g.node("Relu", [x], "relu"), shape, layers[3])
    at = 4
    while _kinds(layers, at, "conv", "affine", "conv", "affine"):
        x, shape, at = g.residual(x, shape, layers, at)
    if not _kinds(layers, at, "avg_pool", "fc") or layers[at].values["rows"]:
        raise DlibFileError("not dlib's face-recognition ResNet: no global pool and fc at the end")
    fc = layers[at + 1]
    assert fc.params is not None
    outputs = int(fc.values["outputs"])
    weights = fc.params.reshape(shape.channels, outputs)
    pooled = g.node("Flatten", [g.node("GlobalAveragePool", [x], "pool")], "flatten", axis=1)
    g.nodes.append(helper.make_node("MatMul", [pooled, g.constant("fc", weights)], [OUTPUT_NAME]))
    return g.model(
        TITLE,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", side, side, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", outputs])],
    )


def weights_file() -> Path:
    """dlib's face-recognition weights (CC0) inside the face_recognition_models package."""
    package = importlib.import_module("face_recognition_models")
    return Path(package.face_recognition_model_location())


def ensure_onnx(weights: Path | None = None, directory: Path | None = None) -> Path:
    """The cached ONNX file of the face-descriptor network, built from its weights on first use;
    its name holds the weights' digest and the builder's version."""
    weights = weights or weights_file()
    directory = directory or cache_dir() / "models"
    target = directory / f"{TITLE}-{file_digest(weights)}-v{BUILDER_VERSION}.onnx"
    if target.is_file():
        return target
    log.info("building the face-descriptor ONNX graph from %s (once)", weights)
    graph = build_graph(read_layers(weights))
    directory.mkdir(parents=True, exist_ok=True)
    with replacing(target) as stream:
        stream.write(graph.SerializeToString())
    log.info("saved %s", target)
    return target
