"""Read PyTorch's legacy (pre-zip) checkpoint format without PyTorch.

The file is three small pickles (magic number, protocol version, system info), the state-dict
pickle, a pickle of storage keys, and then for each key an int64 element count followed by the
raw little-endian storage bytes. The state-dict pickle is read with an unpickler that admits only
the handful of globals a plain tensor state dict needs; anything else is refused.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from autoalbum.errors import AutoalbumError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(AutoalbumError):
    """The checkpoint is not a legacy PyTorch state dict we can read safely."""


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: _StorageRef, offset: int, shape: tuple[int, ...], strides: tuple[int, ...], *_: Any
) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(strides))


class _StateDictUnpickler(pickle.Unpickler):
    """Admits only OrderedDict, the tensor rebuild function and storage type names."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a checkpoint")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, type_name, key, _location, numel = pid[:5]
        if type_name not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type {type_name!r}")
        return _StorageRef(str(key), _STORAGE_DTYPES[type_name], int(numel))


class _PlainUnpickler(pickle.Unpickler):
    """The header pickles hold only ints, strings and dicts: refuse any global."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a checkpoint")


def _load_header_pickle(stream: BinaryIO) -> Any:
    return _PlainUnpickler(stream).load()


def _read_storages(stream: BinaryIO, refs: dict[str, _StorageRef]) -> dict[str, NDArray[Any]]:
    keys = _load_header_pickle(stream)
    storages: dict[str, NDArray[Any]] = {}
    for key in keys:
        ref = refs.get(str(key))
        (numel,) = struct.unpack("<q", stream.read(8))
        if ref is None:
            raise CheckpointError(f"storage {key} is not used by any tensor")
        raw = stream.read(numel * ref.dtype.itemsize)
        if len(raw) != numel * ref.dtype.itemsize:
            raise CheckpointError(f"storage {key} is truncated")
        storages[ref.key] = np.frombuffer(raw, dtype=ref.dtype)
    return storages


def _materialise(ref: _TensorRef, storage: NDArray[Any]) -> NDArray[Any]:
    itemsize = storage.itemsize
    needed = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides, strict=True)) + 1
    if ref.shape and min(ref.shape) > 0 and needed > storage.size:
        raise CheckpointError(f"tensor in storage {ref.storage.key} runs past its end")
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :],
        shape=ref.shape,
        strides=tuple(s * itemsize for s in ref.strides),
        writeable=False,
    )
    return np.array(view, order="C", copy=True)


def load_state_dict(path: Path) -> dict[str, NDArray[Any]]:
    """Return the checkpoint's tensors as contiguous numpy arrays, by parameter name."""
    try:
        with path.open("rb") as stream:
            return _load(stream)
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable legacy PyTorch checkpoint ({exc})") from exc


def _load(stream: BinaryIO) -> dict[str, NDArray[Any]]:
    if _load_header_pickle(stream) != LEGACY_MAGIC:
        raise CheckpointError("bad magic number (is this a zip-format checkpoint?)")
    _load_header_pickle(stream)  # protocol version
    sys_info = _load_header_pickle(stream)
    if not sys_info.get("little_endian", True):
        raise CheckpointError("big-endian checkpoints are not supported")
    tensors = _StateDictUnpickler(stream).load()
    if not isinstance(tensors, dict):
        raise CheckpointError("the checkpoint does not hold a state dict")
    refs = {t.storage.key: t.storage for t in tensors.values() if isinstance(t, _TensorRef)}
    storages = _read_storages(stream, refs)
    return {
        name: _materialise(t, storages[t.storage.key])
        for name, t in tensors.items()
        if isinstance(t, _TensorRef)
    }
