"""The bundled EfficientNet-Lites, built without PyTorch by one builder, predict like the
reference."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from autoalbum.embedding.bundled import MODELS, ModelName
from autoalbum.embedding.checkpoint import CheckpointError, load_state_dict
from autoalbum.embedding.classnames import imagenet_name
from autoalbum.embedding.embedder import Device, OnnxEmbedder, bundled_model_spec
from autoalbum.embedding.model import IR_VERSION, block_table, build_graph, ensure_onnx

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


@pytest.mark.parametrize(
    ("name", "repeats", "channels", "first_stride_2"),
    [
        ("lite0", (1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320), [1, 3, 5, 11]),
        ("lite1", (1, 3, 3, 4, 4, 5, 1), (16, 24, 40, 80, 112, 192, 320), [1, 4, 7, 15]),
        ("lite2", (1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352), [1, 4, 7, 15]),
    ],
)
def test_block_table_read_from_the_checkpoint(
    name: ModelName, repeats: tuple[int, ...], channels: tuple[int, ...], first_stride_2: list[int]
) -> None:
    blocks = block_table(load_state_dict(MODELS[name].checkpoint()))
    stage_ends = [b.channels_out for b in blocks if b.channels_in != b.channels_out or not b.index]
    assert tuple(stage_ends) == channels
    assert tuple(sum(b.channels_out == c for b in blocks) for c in channels) == repeats
    assert [b.index for b in blocks if b.stride == 2] == first_stride_2
    kernels = {b.channels_out: b.kernel for b in blocks}  # per stage, as in EfficientNet
    assert [kernels[c] for c in channels] == [3, 3, 5, 3, 5, 5, 3]
    assert not blocks[0].expands and all(b.expands for b in blocks[1:])


@pytest.fixture(scope="module", params=["lite1", "lite2"])
def larger_model(request: pytest.FixtureRequest, model_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(bundled_model_spec(request.param), Device.CPU)


@pytest.mark.parametrize(
    ("photo", "expected"), [("chelsea", "Egyptian cat"), ("coffee", "espresso")]
)
def test_larger_models_predict_the_sample_photos(
    larger_model: OnnxEmbedder, photo: str, expected: str
) -> None:
    size = larger_model.input_size
    assert size == MODELS[larger_model.spec.title.removeprefix("efficientnet-")].input_size > 224
    probs = larger_model.classify(_model_input(photo, size))[0]
    assert imagenet_name(int(probs.argmax())) == expected
    assert probs.max() > 0.5
    assert larger_model.identity.dim == 1280


def test_each_model_has_its_own_identity_and_file(model_cache: Path) -> None:
    specs = [bundled_model_spec(name) for name in MODELS]
    assert len({spec.path for spec in specs}) == len({spec.source for spec in specs}) == 3
    assert all(spec.path.name.startswith(f"{spec.title}-") for spec in specs)


def test_not_an_efficientnet() -> None:
    with pytest.raises(CheckpointError, match="no _blocks"):
        build_graph({"weight": np.zeros(3, dtype=np.float32)}, "nothing")


def test_graph_is_valid_with_pinned_ir_version(model_cache: Path) -> None:
    model = onnx.load(str(ensure_onnx()))
    onnx.checker.check_model(model)
    assert model.ir_version == IR_VERSION
    ops = {node.op_type for node in model.graph.node}
    assert "BatchNormalization" not in ops, "BatchNorm should be folded into the convolutions"
    assert "Pad" not in ops, "SAME padding should be auto_pad, not explicit Pad nodes"
    assert [o.name for o in model.graph.output] == ["embedding", "logits"]


def test_built_once_and_reused(tmp_path: Path) -> None:
    first = ensure_onnx(directory=tmp_path)
    stamp = first.stat().st_mtime_ns
    second = ensure_onnx(directory=tmp_path)
    assert second == first
    assert second.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name], "no temp files left behind"
    umask = os.umask(0o022)
    os.umask(umask)
    assert first.stat().st_mode & 0o777 == 0o666 & ~umask, "the umask decides who may read it"
