"""A small helper for writing ONNX graphs node by node: named nodes and initializers.

onnx is imported only where a graph is built (once per model, then cached): importing it takes
0.6 s, which every command that only loads a cached graph would pay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray

if TYPE_CHECKING:
    import onnx

OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.15 reads it; the newest onnx would write one it may refuse


class GraphBuilder:
    """Accumulates nodes and initializers, each under a fresh unique name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: NDArray[Any]) -> str:
        """An initializer holding `value`; returns its name."""
        from onnx import numpy_helper

        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        """A node with one output; returns the output's name."""
        from onnx import helper

        out = self._name(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def model(
        self, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto]
    ) -> onnx.ModelProto:
        """The checked model of the nodes so far, with these inputs and outputs."""
        import onnx
        from onnx import helper

        graph = helper.make_graph(
            self.nodes, name.replace("-", "_"), inputs, outputs, self.initializers
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="autoalbum",
            ir_version=IR_VERSION,
        )
        onnx.checker.check_model(model)
        return model
