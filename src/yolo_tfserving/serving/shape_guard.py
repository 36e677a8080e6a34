"""Shapes a signature was not built for, checked by TensorFlow's shape inference before they reach a kernel.

TF Serving feeds tensors as they come (a ``[1]`` x for a ``[?,1]`` signature is served), and so do we. But
some TensorFlow kernels do not refuse a tensor of the wrong rank: they abort the process (``Check failed:
index >= 0 && index < num_total_dims``: a ``[1,64,64]`` image for a ``[?,64,64,3]`` convolution). So a
feed whose shape is not compatible with the signature's static shape is first run through the graph's
shape inference (the graph imported with placeholders of the fed shapes): what TensorFlow can compute is
served, what it cannot is refused with its own words (INVALID_ARGUMENT), and the server lives. Results
are cached per signature and shapes; shapes the signature declares need no check at all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._deps import require
from .status import invalid_argument

if TYPE_CHECKING:
    from .servable import SignatureInfo

_CACHE_SIZE = 256


class ShapeGuard:
    def __init__(self, graph_def: Any) -> None:
        self._source = graph_def
        self._graph_def: Any = None  # the graph without its recorded shapes, made on first need
        self._verdicts: OrderedDict[tuple[Any, ...], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, signature: SignatureInfo, feeds: Mapping[str, np.ndarray], fetches: list[str]) -> None:
        by_tensor = {spec.tensor_name: spec for spec in signature.inputs.values()}
        if all(_compatible(by_tensor[name].shape, value.shape) for name, value in feeds.items()):
            return
        key = (signature.name, tuple(fetches), tuple((n, v.shape, v.dtype.str) for n, v in sorted(feeds.items())))
        with self._lock:
            known = key in self._verdicts
            verdict = self._verdicts.get(key)
            if known:
                self._verdicts.move_to_end(key)
        if not known:
            verdict = self._infer(feeds, fetches)
            with self._lock:
                self._verdicts[key] = verdict
                while len(self._verdicts) > _CACHE_SIZE:
                    self._verdicts.popitem(last=False)
        if verdict is not None:
            raise invalid_argument(verdict)

    def _infer(self, feeds: Mapping[str, np.ndarray], fetches: list[str]) -> str | None:
        """None when TensorFlow's shape inference accepts the shapes, else its message."""
        tf = require("tensorflow")
        from .servable import clean_tf_message

        if self._graph_def is None:
            self._graph_def = _without_recorded_shapes(self._source)
        graph = tf.Graph()
        try:
            with graph.as_default():
                placeholders = {
                    name: tf.compat.v1.placeholder(
                        tf.as_dtype(value.dtype) if value.dtype.kind != "O" else tf.string, value.shape
                    )
                    for name, value in feeds.items()
                }
                tf.compat.v1.import_graph_def(self._graph_def, input_map=placeholders, return_elements=fetches, name="")
        except ValueError as exc:
            return clean_tf_message(str(exc))
        return None


def _compatible(declared: tuple[int | None, ...] | None, fed: tuple[int, ...]) -> bool:
    if declared is None:
        return True  # unknown rank: any shape is one the signature was built for
    return len(declared) == len(fed) and all(d is None or d == f for d, f in zip(declared, fed, strict=True))


def _without_recorded_shapes(graph_def: Any) -> Any:
    """A copy without the ``_output_shapes`` a saved graph records: they are the shapes it was built for, and
    import refuses feeds that contradict them before inference even starts."""
    copy = type(graph_def)()
    copy.CopyFrom(graph_def)
    nodes = [*copy.node, *(n for f in copy.library.function for n in f.node_def)]
    for node in nodes:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    return copy
