"""YOLOv5's Segment head in TensorFlow (NHWC), and the converted seg network: images -> (predictions, protos).

A Segment layer is a Detect whose 1x1 convolutions give ``5 + nc + nm`` columns per anchor. The
first ``5 + nc`` (box, objectness, classes) decode exactly as Detect's: :func:`tf_head.decode` runs
on a view of the head holding only those columns. The last ``nm`` are the mask coefficients,
passed through without a sigmoid, in the same row order (level, anchor, grid row, grid column).

The ``Proto`` branch stays in the converted trunk: the trunk ONNX has one more output, the protos
``(b, nm, H/4, W/4)``, which onnx2tf hands back NHWC (or, at times, still NCHW; both are recognised
by shape). The network returns ``predictions (b, A, 5 + nc + nm)`` and ``protos (b, H/4, W/4, nm)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .._errors import ExportError
from . import tf_head
from .tf_convert import _convert_frozen
from .tf_head import BOX_COLUMNS, DetectHead

PROTO_STRIDE = 4  # protos are at 1/4 of the input (P3/8, upsampled x2)
SCORED_COLUMNS = BOX_COLUMNS + 1  # x, y, w, h, objectness; the class columns follow


@dataclass(frozen=True)
class SegmentHead:
    """A Segment layer's facts: the Detect part (all ``5 + nc + nm`` columns) and ``nm``."""

    detect: DetectHead
    num_masks: int

    @classmethod
    def from_segment(cls, segment: Any) -> SegmentHead:
        """From our PyTorch ``Segment`` module."""
        return cls(DetectHead.from_detect(segment), int(segment.nm))

    @property
    def num_scored(self) -> int:
        """``5 + nc``: the columns Detect decodes."""
        return self.detect.num_outputs - self.num_masks

    def boxes_and_scores(self) -> DetectHead:
        """The head without its mask columns: what :func:`tf_head.decode` decodes."""
        columns = self._columns(0, self.num_scored)
        return DetectHead(
            tuple(w[:, columns] for w in self.detect.weights),
            tuple(b[columns] for b in self.detect.biases),
            self.detect.strides,
            self.detect.anchors_wh,
            self.num_scored,
        )

    def coefficient_columns(self, anchor: int) -> list[int]:
        no = self.detect.num_outputs
        return list(range(anchor * no + self.num_scored, (anchor + 1) * no))

    def _columns(self, start: int, stop: int) -> list[int]:
        no = self.detect.num_outputs
        return [a * no + k for a in range(self.detect.num_anchors) for k in range(start, stop)]


def decode_segment(features: Sequence[tf.Tensor], head: SegmentHead) -> tf.Tensor:
    """NHWC feature maps (head level order) -> ``(b, anchors, 5 + nc + nm)``: Detect's columns, then the raw
    mask coefficients."""
    scored = tf_head.decode(features, head.boxes_and_scores())
    coefficients = []
    for level, feature in enumerate(features):
        weight, bias = head.detect.weights[level], head.detect.biases[level]
        for anchor in range(head.detect.num_anchors):
            columns = head.coefficient_columns(anchor)
            conv = tf.nn.bias_add(
                tf.nn.conv2d(feature, tf.constant(weight[None, None][..., columns].astype(np.float32)), 1, "VALID"),
                tf.constant(bias[columns].astype(np.float32)),
            )
            coefficients.append(tf.reshape(conv, [tf.shape(feature)[0], -1, head.num_masks]))
    return tf.concat([scored, tf.concat(coefficients, 1)], -1)


def proto_index(
    shapes: Sequence[Sequence[int | None]], head: SegmentHead, size_hw: tuple[int, int]
) -> tuple[int, bool]:
    """Which converted trunk output is the protos, and whether onnx2tf left it NCHW."""
    h, w = size_hw[0] // PROTO_STRIDE, size_hw[1] // PROTO_STRIDE
    nhwc, nchw = [h, w, head.num_masks], [head.num_masks, h, w]
    # onnx2tf's usual layout is NHWC: a shape that reads both ways (H/4 = W/4 = nm) is taken as NHWC
    hits = [(i, list(s[1:]) != nhwc) for i, s in enumerate(shapes) if list(s[1:]) in (nhwc, nchw)]
    if len(hits) != 1:
        raise ExportError(f"cannot tell the protos ({h}x{w}x{head.num_masks}) among converted outputs {shapes}")
    return hits[0]


def convert_segment_trunk(
    onnx_path: Path, head: SegmentHead, *, input_name: str, size_hw: tuple[int, int], batch: int | None
) -> Callable[..., object]:
    """The trunk ONNX (features, then protos) converted and finished with our Segment head:
    NHWC float32 images -> ``(predictions, protos NHWC)``."""
    graph_def, input_tensor, outputs = _convert_frozen(onnx_path, input_name=input_name, size_hw=size_hw, batch=batch)
    trunk = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []).prune(
        input_tensor, outputs
    )
    shapes = [t.shape.as_list() for t in trunk.outputs]
    proto_at, proto_nchw = proto_index(shapes, head, size_hw)
    feature_at = [i for i in range(len(shapes)) if i != proto_at]
    feature_shapes = [shapes[i] for i in feature_at]
    nchw = tf_head.left_in_nchw(feature_shapes, head.detect, size_hw)
    feature_shapes = [[s[0], s[2], s[3], s[1]] if flag else s for s, flag in zip(feature_shapes, nchw, strict=True)]
    order = tf_head.feature_order(feature_shapes, head.detect, size_hw)
    spec = tf.TensorSpec([batch, size_hw[0], size_hw[1], 3], tf.float32)

    def network(images: Any) -> Any:
        out = trunk(images)
        features = [out[i] for i in feature_at]
        features = [tf.transpose(f, [0, 2, 3, 1]) if flag else f for f, flag in zip(features, nchw, strict=True)]
        protos = tf.transpose(out[proto_at], [0, 2, 3, 1]) if proto_nchw else out[proto_at]
        return decode_segment([features[i] for i in order], head), protos

    return tf.function(network, input_signature=[spec])


def convert_segment(torch_model: Any, info: Any, *, opset: int, scratch: Path) -> Callable[..., object]:
    """A seg checkpoint's TensorFlow network: its trunk (with Proto) to ONNX, converted, finished with our head."""
    from .onnx_export import export_trunk_onnx

    trunk_path = scratch / "trunk.onnx"
    export_trunk_onnx(torch_model, trunk_path, size_hw=info.size_hw, opset=opset, dynamic_batch=info.dynamic_batch)
    head = SegmentHead.from_segment(torch_model.model[-1])
    batch = None if info.dynamic_batch else 1
    return convert_segment_trunk(trunk_path, head, input_name="images", size_hw=info.size_hw, batch=batch)
