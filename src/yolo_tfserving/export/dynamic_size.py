"""Free a converted trunk's spatial size: one graph that runs at any H x W (``export --rect``).

onnx2tf converts at one fixed input size, and the frozen trunk carries that size in two kinds
of places: the input placeholder's shape, and the constant output size of every upsampling
(``ResizeNearestNeighbor`` / ``ResizeBilinear``, YOLOv5's ``nn.Upsample(scale_factor=2)``).
Everything else in a YOLOv5 trunk (convolutions, pooling, concatenation, element-wise ops) is
size-free. This pass rewrites the placeholder to ``[batch, ?, ?, channels]`` and each constant
resize size to ``shape(input)[1:3] * factor``, the factor read from the converted sizes.

A graph with any other size-dependent constant (a ``Reshape`` in a transformer block, say) is
not detected here: the export runs the result at rectangular sizes against PyTorch and refuses
it there (see ``parity``), so a wrong graph is never written.
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import graph_pb2, node_def_pb2, types_pb2
from tensorflow.python.framework import tensor_util

from .._errors import ExportError

_RESIZES = ("ResizeNearestNeighbor", "ResizeBilinear")


def _base(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _const(graph: graph_pb2.GraphDef, name: str, value: np.ndarray) -> str:
    node = graph.node.add()
    node.name = name
    node.op = "Const"
    node.attr["dtype"].type = types_pb2.DT_INT32
    node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value.astype(np.int32)))
    return name


def _add(graph: graph_pb2.GraphDef, name: str, op: str, inputs: list[str]) -> node_def_pb2.NodeDef:
    node = graph.node.add()
    node.name = name
    node.op = op
    node.input.extend(inputs)
    return node


def _static_hw(graph_def: graph_pb2.GraphDef, tensor: str) -> tuple[int, int]:
    """The static H, W of ``tensor`` in the converted (fixed-size) graph."""
    import tensorflow as tf

    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        shape = graph.get_tensor_by_name(tensor if ":" in tensor else f"{tensor}:0").shape.as_list()
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise ExportError(f"cannot free the input size: {tensor} has shape {shape}; expected static NHWC")
    return int(shape[1]), int(shape[2])


def free_spatial_size(graph_def: graph_pb2.GraphDef, input_name: str) -> graph_pb2.GraphDef:
    """A copy of ``graph_def`` whose ``input_name`` placeholder takes any H x W (see the module docstring)."""
    work = graph_pb2.GraphDef()
    work.CopyFrom(graph_def)
    nodes = {n.name: n for n in work.node}
    placeholder = nodes.get(_base(input_name))
    if placeholder is None or placeholder.op != "Placeholder":
        raise ExportError(f"cannot free the input size: {input_name} is not a placeholder of the converted graph")
    factors: dict[str, tuple[int, int]] = {}
    for node in work.node:
        if node.op not in _RESIZES:
            continue
        size_node = nodes.get(_base(node.input[1]))
        if size_node is None or size_node.op != "Const":
            continue  # already computed from shapes
        size = np.asarray(tensor_util.MakeNdarray(size_node.attr["value"].tensor)).reshape(-1)
        in_h, in_w = _static_hw(graph_def, node.input[0])
        if size.shape != (2,) or size[0] % in_h or size[1] % in_w:
            raise ExportError(
                f"cannot free the input size: {node.name} resizes {in_h}x{in_w} to {size.tolist()}, "
                "not by a whole factor (--rect needs an upsampling by integer factors)"
            )
        factors[node.name] = (int(size[0] // in_h), int(size[1] // in_w))
    for name, (fh, fw) in factors.items():
        node = nodes[name]
        shape = _add(work, f"{name}/dynamic_size/shape", "Shape", [node.input[0]])
        shape.attr["T"].type = types_pb2.DT_FLOAT
        shape.attr["out_type"].type = types_pb2.DT_INT32
        hw = _add(
            work,
            f"{name}/dynamic_size/hw",
            "StridedSlice",
            [
                shape.name,
                _const(work, f"{name}/dynamic_size/begin", np.array([1])),
                _const(work, f"{name}/dynamic_size/end", np.array([3])),
                _const(work, f"{name}/dynamic_size/strides", np.array([1])),
            ],
        )
        hw.attr["T"].type = types_pb2.DT_INT32
        hw.attr["Index"].type = types_pb2.DT_INT32
        for mask in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
            hw.attr[mask].i = 0
        scaled = _add(
            work,
            f"{name}/dynamic_size/size",
            "Mul",
            [hw.name, _const(work, f"{name}/dynamic_size/factor", np.array([fh, fw]))],
        )
        scaled.attr["T"].type = types_pb2.DT_INT32
        node.input[1] = scaled.name
    dims = placeholder.attr["shape"].shape.dim
    if len(dims) != 4:
        raise ExportError(f"cannot free the input size: {input_name} has rank {len(dims)}; expected NHWC")
    dims[1].size = -1
    dims[2].size = -1
    for node in work.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    return work
