"""The legacy PyTorch checkpoint reader: correct tensors, and nothing else gets loaded."""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autoalbum.embedding.bundled import MODELS
from autoalbum.embedding.checkpoint import LEGACY_MAGIC, CheckpointError, load_state_dict


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


class _Tensor:
    """Pickles the way torch pickles a tensor: _rebuild_tensor_v2(storage, offset, ...)."""

    def __init__(
        self, storage: _Storage, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]
    ):
        self.args = (storage, offset, shape, strides, False, collections.OrderedDict())

    def __reduce__(self) -> tuple[Any, ...]:
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            return ("storage", "FloatStorage", obj.key, "cpu", obj.data.size)
        return None


@pytest.fixture
def fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Just enough of a `torch._utils` module for pickle to name the rebuild function."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: Any) -> None: ...

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return utils


def _write_legacy(path: Path, state: dict[str, Any], storages: list[_Storage]) -> None:
    out = io.BytesIO()
    for header in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, out, protocol=2)
    _LegacyPickler(out, protocol=2).dump(collections.OrderedDict(state))
    pickle.dump([s.key for s in storages], out, protocol=2)
    for storage in storages:
        out.write(struct.pack("<q", storage.data.size))
        out.write(storage.data.astype("<f4").tobytes())
    path.write_bytes(out.getvalue())


def test_reads_strided_and_offset_tensors(tmp_path: Path, fake_torch: types.ModuleType) -> None:
    data = np.arange(30, dtype=np.float32)
    shared = _Storage("7", data)
    state = {
        "plain": _Tensor(shared, 0, (2, 3), (3, 1)),
        "transposed": _Tensor(shared, 0, (3, 2), (1, 3)),
        "offset": _Tensor(shared, 10, (4,), (1,)),
    }
    path = tmp_path / "weights.pth"
    _write_legacy(path, state, [shared])
    tensors = load_state_dict(path)
    np.testing.assert_array_equal(tensors["plain"], data[:6].reshape(2, 3))
    np.testing.assert_array_equal(tensors["transposed"], data[:6].reshape(2, 3).T)
    np.testing.assert_array_equal(tensors["offset"], data[10:14])
    assert all(t.flags["C_CONTIGUOUS"] for t in tensors.values())


def test_refuses_arbitrary_globals(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.mkdir, (str(marker),))

    out = io.BytesIO()
    for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    pickle.dump({"weight": Evil()}, out, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(out.getvalue())
    with pytest.raises(CheckpointError, match="refusing to load global"):
        load_state_dict(path)
    assert not marker.exists()


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    path.write_bytes(MODELS["lite0"].checkpoint().read_bytes()[:100_000])
    with pytest.raises(CheckpointError):
        load_state_dict(path)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "zip.pth"
    path.write_bytes(b"PK\x03\x04 not a legacy checkpoint")
    with pytest.raises(CheckpointError, match="not a readable legacy PyTorch checkpoint"):
        load_state_dict(path)


def test_bundled_lite0_weights() -> None:
    tensors = load_state_dict(MODELS["lite0"].checkpoint())
    assert tensors["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert tensors["_fc.weight"].shape == (1000, 1280)
    assert sum(1 for k in tensors if k.endswith("_project_conv.weight")) == 16
    assert all(np.isfinite(t).all() for t in tensors.values())
