"""Read the layers of a dlib DNN file (.dat), such as dlib's face-recognition ResNet.

dlib writes a network layer by layer, the input layer first: each layer's details start with its
type as a string (``con_4``, ``affine_``, ``fc_2``...) and hold their parameters as a tensor of
little-endian float32. Integers use dlib's variable-length encoding (a byte with the length and
the sign, then the bytes) and scalars of the input layer dlib's portable floats (a mantissa and
an exponent). Only what an inference graph needs is read; no code of dlib's runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoalbum.errors import AutoalbumError

# The details a graph needs, by the type strings this reader knows; other layers (relu, tags,
# skips, additions, the loss) carry no parameters and their places follow from the network.
_KNOWN = (b"input_rgb_image_sized", b"con_4", b"affine_", b"max_pool_2", b"avg_pool_2", b"fc_2")
_LAYER = re.compile(b"\x01[\x04-\x15](" + b"|".join(_KNOWN) + b")")


class DlibFileError(AutoalbumError):
    """The file is not a dlib network this reader knows."""


@dataclass(frozen=True)
class Layer:
    """One layer's details: its type and the values an inference graph needs."""

    kind: str  # "input", "conv", "affine", "max_pool", "avg_pool", "fc"
    values: dict[str, int | float] = field(default_factory=dict)
    params: NDArray[np.float32] | None = None


class _Reader:
    def __init__(self, data: bytes, at: int) -> None:
        self.data = data
        self.at = at

    def integer(self) -> int:
        head = self.data[self.at]
        size = head & 0x0F
        if size > 8:
            raise DlibFileError(f"a malformed integer at byte {self.at}")
        value = int.from_bytes(self.data[self.at + 1 : self.at + 1 + size], "little")
        self.at += 1 + size
        return -value if head & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(np.ldexp(float(mantissa), exponent))

    def text(self) -> str:
        size = self.integer()
        value = self.data[self.at : self.at + size].decode("ascii")
        self.at += size
        return value

    def tensor(self) -> NDArray[np.float32]:
        version = self.integer()
        if version != 2:
            raise DlibFileError(f"a tensor of version {version} at byte {self.at} (known: 2)")
        dims = [self.integer() for _ in range(4)]
        count = int(np.prod(dims))
        end = self.at + 4 * count
        if end > len(self.data):
            raise DlibFileError("the file ends inside a tensor: truncated")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.at)
        self.at = end
        return values.astype(np.float32)

    def integers(self, *names: str) -> dict[str, int | float]:
        return {name: self.integer() for name in names}


def _layer(reader: _Reader) -> Layer:
    kind = reader.text()
    if kind == "input_rgb_image_sized":
        means = {colour: reader.real() for colour in ("red", "green", "blue")}
        return Layer("input", {**means, **reader.integers("rows", "columns")})
    if kind == "con_4":
        params = reader.tensor()
        conv = ("filters", "rows", "columns", "stride_y", "stride_x", "pad_y", "pad_x")
        return Layer("conv", reader.integers(*conv), params)
    if kind == "affine_":
        return Layer("affine", {}, reader.tensor())
    if kind in ("max_pool_2", "avg_pool_2"):
        pool = ("rows", "columns", "stride_y", "stride_x", "pad_y", "pad_x")
        return Layer(kind.removesuffix("_2"), reader.integers(*pool))
    outputs, inputs = reader.integer(), reader.integer()  # fc_2
    return Layer("fc", {"outputs": outputs, "inputs": inputs}, reader.tensor())


def read_layers(path: Path) -> list[Layer]:
    """The network's parameterised layers and pools, input first."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DlibFileError(f"cannot read {path}: {error.strerror}") from None
    layers: list[Layer] = []
    at = 0
    while match := _LAYER.search(data, at):
        reader = _Reader(data, match.start())
        try:
            layers.append(_layer(reader))
        except (IndexError, UnicodeDecodeError):
            raise DlibFileError(f"{path}: a malformed layer at byte {match.start()}") from None
        at = reader.at
    if not layers or layers[0].kind != "input":
        raise DlibFileError(f"{path} holds no dlib network with an RGB input layer")
    return layers


def conv_weights(layer: Layer, channels: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """A convolution's filters (out, in, rows, columns) and biases, from its parameters."""
    assert layer.params is not None
    v: dict[str, Any] = layer.values
    shape = (v["filters"], channels, v["rows"], v["columns"])
    count = int(np.prod(shape))
    if layer.params.size != count + v["filters"]:
        raise DlibFileError(f"a convolution's {layer.params.size} parameters don't fit {shape}")
    return layer.params[:count].reshape(shape), layer.params[count:]
