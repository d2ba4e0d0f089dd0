"""The bundled EfficientNet-Lite0, built without PyTorch, predicts like the reference."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from autoalbum.embedding.classnames import imagenet_name
from autoalbum.embedding.embedder import OnnxEmbedder
from autoalbum.embedding.model import IR_VERSION, ensure_lite0_onnx

skimage_data = pytest.importorskip("skimage.data")


def _model_input(name: str, size: int = 224) -> np.ndarray:
    photo = Image.fromarray(getattr(skimage_data, name)())
    return np.asarray(photo.resize((size, size), Image.Resampling.BILINEAR))[None]


@pytest.mark.parametrize(
    ("photo", "expected", "probability"),
    [("chelsea", "Egyptian cat", 0.79), ("coffee", "espresso", 0.90)],
)
def test_reference_predictions(
    embedder: OnnxEmbedder, photo: str, expected: str, probability: float
) -> None:
    probs = embedder.classify(_model_input(photo))[0]
    top = int(probs.argmax())
    assert imagenet_name(top) == expected
    assert probs[top] == pytest.approx(probability, abs=0.05)


def test_embedding_is_1280_unit_vector(embedder: OnnxEmbedder) -> None:
    result = embedder.embed(np.concatenate([_model_input("chelsea"), _model_input("coffee")]))
    assert result.vectors.shape == (2, 1280)
    assert result.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, rtol=1e-5)
    assert result.top_classes is not None
    assert [imagenet_name(int(c)) for c in result.top_classes] == ["Egyptian cat", "espresso"]


def test_batched_equals_single(embedder: OnnxEmbedder) -> None:
    batch = np.concatenate([_model_input("chelsea"), _model_input("coffee")])
    together = embedder.embed(batch).vectors
    alone = np.concatenate([embedder.embed(batch[i : i + 1]).vectors for i in range(2)])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_graph_is_valid_with_pinned_ir_version(model_cache: Path) -> None:
    model = onnx.load(str(ensure_lite0_onnx()))
    onnx.checker.check_model(model)
    assert model.ir_version == IR_VERSION
    ops = {node.op_type for node in model.graph.node}
    assert "BatchNormalization" not in ops, "BatchNorm should be folded into the convolutions"
    assert "Pad" not in ops, "SAME padding should be auto_pad, not explicit Pad nodes"
    assert [o.name for o in model.graph.output] == ["embedding", "logits"]


def test_built_once_and_reused(tmp_path: Path) -> None:
    first = ensure_lite0_onnx(directory=tmp_path)
    stamp = first.stat().st_mtime_ns
    second = ensure_lite0_onnx(directory=tmp_path)
    assert second == first
    assert second.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name], "no temp files left behind"
    umask = os.umask(0o022)
    os.umask(umask)
    assert first.stat().st_mode & 0o777 == 0o666 & ~umask, "the umask decides who may read it"
