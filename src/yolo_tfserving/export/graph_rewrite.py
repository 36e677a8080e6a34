"""Remove the layout shuffles a converted graph carries (a GraphDef pass).

onnx2tf turns NCHW graphs into NHWC, but around element-wise adds and concatenations it
often goes back to NCHW and forth again: ``Transpose -> AddV2 -> Transpose`` pairs that
cost a full copy of the tensor each. This pass *sinks* a transpose through an op whose
data inputs are all transposed the same way (the op runs on the untransposed tensors and
one transpose follows it), then cancels transposes that undo each other. The result
computes the same values with the same ops minus the copies; tests check the equality.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from tensorflow.core.framework import graph_pb2, node_def_pb2
from tensorflow.python.framework import tensor_util

_ELEMENTWISE = {"AddV2", "Add", "Sub", "Mul", "Maximum", "Minimum"}
_CONCAT = "ConcatV2"


def _base(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _const_value(node: node_def_pb2.NodeDef) -> np.ndarray | None:
    if node.op != "Const":
        return None
    return np.asarray(tensor_util.MakeNdarray(node.attr["value"].tensor))


class _Graph:
    def __init__(self, graph_def: graph_pb2.GraphDef) -> None:
        self.gd = graph_def
        self.nodes = {n.name: n for n in graph_def.node}
        self._counter = 0

    def consumers(self) -> dict[str, list[node_def_pb2.NodeDef]]:
        out: dict[str, list[node_def_pb2.NodeDef]] = defaultdict(list)
        for node in self.gd.node:
            for inp in node.input:
                out[_base(inp)].append(node)
        return out

    def perm_of(self, node: node_def_pb2.NodeDef) -> tuple[int, ...] | None:
        if node.op != "Transpose" or len(node.input) != 2:
            return None
        value = _const_value(self.nodes[_base(node.input[1])])
        return None if value is None else tuple(int(v) for v in value.reshape(-1))

    def new_const(self, prefix: str, value: np.ndarray) -> str:
        self._counter += 1
        node = self.gd.node.add()
        node.name = f"{prefix}/sunk_const_{self._counter}"
        node.op = "Const"
        node.attr["dtype"].type = tensor_util.make_tensor_proto(value).dtype
        node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value))
        self.nodes[node.name] = node
        return node.name

    def new_transpose(self, source: str, perm: tuple[int, ...], dtype_attr: node_def_pb2.NodeDef) -> str:
        self._counter += 1
        perm_name = self.new_const(source, np.asarray(perm, dtype=np.int32))
        node = self.gd.node.add()
        node.name = f"{source}/sunk_transpose_{self._counter}"
        node.op = "Transpose"
        node.input.extend([source, perm_name])
        node.attr["T"].CopyFrom(dtype_attr.attr["T"])
        node.attr["Tperm"].type = tensor_util.make_tensor_proto(np.int32(0)).dtype
        self.nodes[node.name] = node
        return node.name


def _rename_inputs(nodes: Iterable[node_def_pb2.NodeDef], old: str, new: str, skip: str) -> None:
    for node in nodes:
        if node.name == skip:
            continue
        for i, inp in enumerate(node.input):
            if inp == old or inp == f"{old}:0":
                node.input[i] = new


def _sink_once(graph: _Graph, protected: set[str]) -> bool:
    consumers = graph.consumers()
    for node in list(graph.gd.node):
        if (node.op not in _ELEMENTWISE and node.op != _CONCAT) or node.name in protected:
            continue
        data_inputs = list(node.input[:-1]) if node.op == _CONCAT else list(node.input)
        if any(inp.startswith("^") for inp in node.input):
            continue
        perms = set()
        transposed: list[int] = []
        for idx, inp in enumerate(data_inputs):
            source = graph.nodes[_base(inp)]
            perm = graph.perm_of(source)
            if perm is not None:
                perms.add(perm)
                transposed.append(idx)
                continue
            const = _const_value(source)
            if node.op in _ELEMENTWISE and const is not None and const.size == 1:
                continue  # a scalar broadcasts the same in any layout
            perms.add(None)  # type: ignore[arg-type]
        if len(perms) != 1 or None in perms or not transposed:
            continue
        perm = perms.pop()
        for idx in transposed:
            node.input[idx] = graph.nodes[_base(data_inputs[idx])].input[0]
        if node.op == _CONCAT:
            axis_node = graph.nodes[_base(node.input[-1])]
            axis = int(_const_value(axis_node))  # type: ignore[arg-type]
            axis %= len(perm)
            node.input[-1] = graph.new_const(node.name, np.asarray(perm[axis], dtype=np.int32))
        new_t = graph.new_transpose(node.name, perm, graph.nodes[_base(data_inputs[transposed[0]])])
        _rename_inputs(consumers.get(node.name, []), node.name, new_t, skip=new_t)
        return True
    return False


def _cancel_once(graph: _Graph) -> bool:
    consumers = graph.consumers()
    for node in list(graph.gd.node):
        outer = graph.perm_of(node)
        if outer is None:
            continue
        inner_node = graph.nodes[_base(node.input[0])]
        inner = graph.perm_of(inner_node)
        if inner is None or len(inner) != len(outer):
            continue
        if consumers.get(node.name) and all(inner[outer[d]] == d for d in range(len(outer))):
            _rename_inputs(consumers[node.name], node.name, inner_node.input[0], skip="")
            return True
    return False


def _prune(graph_def: graph_pb2.GraphDef, outputs: set[str]) -> graph_pb2.GraphDef:
    nodes = {n.name: n for n in graph_def.node}
    keep: set[str] = set()
    stack = list(outputs)
    while stack:
        name = stack.pop()
        if name in keep or name not in nodes:
            continue
        keep.add(name)
        stack.extend(_base(i) for i in nodes[name].input)
    pruned = graph_pb2.GraphDef()
    pruned.versions.CopyFrom(graph_def.versions)
    pruned.library.CopyFrom(graph_def.library)
    pruned.node.extend(n for n in graph_def.node if n.name in keep or n.op == "Placeholder")
    return pruned


def sink_transposes(
    graph_def: graph_pb2.GraphDef, outputs: Iterable[str], *, max_rounds: int = 10_000
) -> graph_pb2.GraphDef:
    """Return a copy of ``graph_def`` with redundant layout transposes removed.

    ``outputs`` are the node names that must keep their values (the fetches).
    """
    work = graph_pb2.GraphDef()
    work.CopyFrom(graph_def)
    graph = _Graph(work)
    out_names = {_base(o) for o in outputs}
    for _ in range(max_rounds):
        changed = _cancel_once(graph) or _sink_once(graph, out_names)
        if not changed:
            break
        graph = _Graph(_prune(graph.gd, out_names))
    return _prune(graph.gd, out_names)


def count_ops(graph_def: graph_pb2.GraphDef, op: str) -> int:
    return sum(1 for n in graph_def.node if n.op == op)


def bias_adds(graph_def: graph_pb2.GraphDef) -> graph_pb2.GraphDef:
    """``AddV2(Conv2D, const[C])`` -> ``BiasAdd`` so the runtime can fuse conv, bias and activation."""
    work = graph_pb2.GraphDef()
    work.CopyFrom(graph_def)
    nodes = {n.name: n for n in work.node}
    for node in work.node:
        if node.op not in ("AddV2", "Add") or len(node.input) != 2:
            continue
        a, b = (nodes.get(_base(i)) for i in node.input)
        if a is None or b is None:
            continue
        if b.op == "Conv2D" and a.op == "Const":
            a, b = b, a
            node.input[0], node.input[1] = node.input[1], node.input[0]
        if a.op != "Conv2D" or b.op != "Const":
            continue
        value = _const_value(b)
        filter_node = nodes.get(_base(a.input[1]))
        kernel = _const_value(filter_node) if filter_node is not None else None
        channels = kernel.shape[-1] if kernel is not None else -1
        if value is None or value.ndim != 1 or value.shape[0] != channels:
            continue
        if a.attr["data_format"].s not in (b"", b"NHWC"):
            continue
        node.op = "BiasAdd"
        node.attr["data_format"].s = b"NHWC"
    return work


def explicit_padding(graph_def: graph_pb2.GraphDef) -> graph_pb2.GraphDef:
    """``Conv2D(Pad(x, p), VALID)`` -> ``Conv2D(x, EXPLICIT p)``: one op, no padded copy."""
    work = graph_pb2.GraphDef()
    work.CopyFrom(graph_def)
    nodes = {n.name: n for n in work.node}
    consumers: dict[str, int] = defaultdict(int)
    for node in work.node:
        for inp in node.input:
            consumers[_base(inp)] += 1
    for node in work.node:
        if node.op != "Conv2D" or node.attr["padding"].s != b"VALID":
            continue
        pad = nodes.get(_base(node.input[0]))
        if pad is None or pad.op != "Pad" or consumers[pad.name] != 1:
            continue
        pads = _const_value(nodes[_base(pad.input[1])])
        if pads is None or pads.shape != (4, 2) or pads[0].any() or pads[3].any() or (pads < 0).any():
            continue
        node.input[0] = pad.input[0]
        node.attr["padding"].s = b"EXPLICIT"
        node.attr["explicit_paddings"].list.i.extend(int(v) for v in pads.reshape(-1))
    return work


def optimize(graph_def: graph_pb2.GraphDef, outputs: Iterable[str]) -> graph_pb2.GraphDef:
    """All rewrites, in order: layout transposes, bias adds, explicit padding."""
    outputs = list(outputs)
    graph_def = sink_transposes(graph_def, outputs)
    graph_def = bias_adds(graph_def)
    graph_def = explicit_padding(graph_def)
    return _prune(graph_def, {_base(o) for o in outputs})
