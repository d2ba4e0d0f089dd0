"""Any ONNX image model can be an embedder; device choice falls back cleanly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from autoalbum.embedding.embedder import (
    Device,
    Layout,
    ModelError,
    ModelSpec,
    OnnxEmbedder,
    select_providers,
)
from autoalbum.embedding.model import IR_VERSION, OPSET


def _mean_colour_model(path: Path) -> Path:
    """A tiny float NCHW model whose 'features' output is each image's mean colour."""
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["features"], axis=1),
        ],
        "mean_colour",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 3, 16, 16])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 3])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.save(model, str(path))
    return path


def test_custom_nchw_model(tmp_path: Path) -> None:
    spec = ModelSpec(
        path=_mean_colour_model(tmp_path / "m.onnx"),
        input_size=16,
        layout=Layout.NCHW_FLOAT,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
    embedder = OnnxEmbedder(spec, Device.CPU)
    images = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    images[0, ..., 0] = 255  # red
    images[1, ..., 2] = 255  # blue
    result = embedder.embed(images)
    assert result.top_classes is None
    # (x/255 - 0.5) / 0.5 maps 255 -> 1 and 0 -> -1; then each row is L2-normalised.
    expected = np.array([[1, -1, -1], [-1, -1, 1]], dtype=np.float32) / np.sqrt(3)
    np.testing.assert_allclose(result.vectors, expected, atol=1e-6)


def test_a_models_identity_covers_its_file_and_preprocessing(tmp_path: Path) -> None:
    spec = ModelSpec(path=_mean_colour_model(tmp_path / "m.onnx"), layout=Layout.NCHW_FLOAT)
    identity = OnnxEmbedder(spec, Device.CPU).identity
    assert (identity.title, identity.dim) == ("m.onnx", 3)
    assert OnnxEmbedder(spec, Device.CPU).identity == identity, "the same model, the same identity"
    other_std = dataclasses.replace(spec, std=(0.5, 0.5, 0.5))
    assert OnnxEmbedder(other_std, Device.CPU).identity.digest != identity.digest
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(spec.path.read_bytes())
    assert OnnxEmbedder(dataclasses.replace(spec, path=copy), Device.CPU).identity.digest == (
        identity.digest
    ), "a copy elsewhere is the same model"


def test_missing_output_is_named(tmp_path: Path) -> None:
    spec = ModelSpec(path=_mean_colour_model(tmp_path / "m.onnx"), embedding_output="nope")
    with pytest.raises(ModelError, match=r"has no output 'nope'.*features"):
        OnnxEmbedder(spec, Device.CPU)


def test_unreadable_model_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load model"):
        OnnxEmbedder(ModelSpec(path=broken), Device.CPU)


def test_device_selection_falls_back_to_cpu() -> None:
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert select_providers(Device.CPU) == ["CPUExecutionProvider"]
    if has_cuda:
        assert select_providers(Device.AUTO)[0] == "CUDAExecutionProvider"
    else:
        assert select_providers(Device.AUTO) == ["CPUExecutionProvider"]
        with pytest.raises(ModelError, match=r"autoalbum\[gpu\]"):
            select_providers(Device.CUDA)
