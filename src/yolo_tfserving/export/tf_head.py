"""YOLOv5's Detect head written directly in TensorFlow, laid out for NHWC.

The converted ONNX head works in NCHW: a 1x1 convolution gives ``(b, na*no, ny, nx)``, which
is viewed as ``(b, na, no, ny*nx)`` and permuted to ``(b, na, ny*nx, no)``. In TensorFlow's
NHWC that costs two full transposes per level, plus a slice of every class column to splice
the decoded boxes back in. Here the head convolution is split by anchor instead: each
anchor's convolution already yields its rows in YOLOv5's order (grid row, then column), so
no tensor is ever transposed:

- class and objectness columns: one ``conv -> sigmoid`` per level and anchor, reshaped to
  ``(b, ny*nx, nc + 1)`` and concatenated in YOLOv5's row order (level, anchor, row, column);
- box columns: one small convolution per level for all anchors' ``x, y, w, h``, decoded as
  YOLOv5 does: ``xy = (2 * sigmoid - 0.5 + cell) * stride``, ``wh = (2 * sigmoid)^2 * anchor``.

The output is the same ``(b, anchors, 5 + nc)`` tensor PyTorch's Detect returns; the export's
parity check compares the two on every export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from .._errors import ExportError

BOX_COLUMNS = 4


@dataclass(frozen=True)
class DetectHead:
    """The facts of a Detect layer, as arrays: one entry per level, largest feature map first.

    ``weights[i]`` is the level's 1x1 convolution as ``(in_channels, na * no)`` and
    ``biases[i]`` its ``(na * no,)`` bias, with output channels ordered anchor-major as in
    YOLOv5 (``anchor * no + column``); ``anchors_wh[i]`` is ``(na, 2)`` in input pixels.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    strides: tuple[float, ...]
    anchors_wh: tuple[np.ndarray, ...]
    num_outputs: int

    def __post_init__(self) -> None:
        levels = len(self.strides)
        if not (len(self.weights) == len(self.biases) == len(self.anchors_wh) == levels) or levels == 0:
            raise ExportError("DetectHead needs one weight, bias, stride and anchor set per level")
        for w, b, a in zip(self.weights, self.biases, self.anchors_wh, strict=True):
            if w.ndim != 2 or b.shape != (w.shape[1],) or a.ndim != 2 or a.shape[1] != 2:
                raise ExportError(f"bad Detect level shapes: weight {w.shape}, bias {b.shape}, anchors {a.shape}")
            if w.shape[1] != a.shape[0] * self.num_outputs:
                raise ExportError(
                    f"weight has {w.shape[1]} outputs; expected {a.shape[0]} anchors x {self.num_outputs}"
                )

    @classmethod
    def from_detect(cls, detect: Any) -> DetectHead:
        """From our PyTorch ``Detect`` module (``m``, ``stride``, ``anchors`` in grid units, ``no``)."""
        weights, biases, anchors = [], [], []
        strides = tuple(float(s) for s in detect.stride)
        for level, conv in enumerate(detect.m):
            kernel = conv.weight.detach().float().cpu().numpy()
            if kernel.shape[2:] != (1, 1):
                raise ExportError(f"Detect level {level} has a {kernel.shape[2:]} kernel; expected 1x1")
            weights.append(np.ascontiguousarray(kernel[:, :, 0, 0].T))
            biases.append(conv.bias.detach().float().cpu().numpy())
            anchors.append(detect.anchors[level].detach().float().cpu().numpy() * strides[level])
        return cls(tuple(weights), tuple(biases), strides, tuple(anchors), int(detect.no))

    @property
    def num_anchors(self) -> int:
        return int(self.anchors_wh[0].shape[0])

    def feature_shapes(self, size_hw: tuple[int, int]) -> list[tuple[int, int, int]]:
        """The ``(height, width, channels)`` each level's NHWC feature map must have."""
        h, w = size_hw
        return [(int(h // s), int(w // s), int(wt.shape[0])) for s, wt in zip(self.strides, self.weights, strict=True)]


def feature_order(shapes: Sequence[Sequence[int | None]], head: DetectHead, size_hw: tuple[int, int]) -> list[int]:
    """Which of the converted outputs (by NHWC shape) feeds each head level; converters may reorder."""
    found: dict[tuple[int, int, int], int] = {}
    for index, shape in enumerate(shapes):
        if len(shape) != 4 or any(d is None for d in shape[1:]):
            raise ExportError(f"a converted feature map has shape {list(shape)}; expected static NHWC")
        found[(int(shape[1]), int(shape[2]), int(shape[3]))] = index  # type: ignore[arg-type]
    wanted = head.feature_shapes(size_hw)
    if sorted(found) != sorted(wanted):
        raise ExportError(f"converted feature maps {sorted(found)} do not match the Detect head's {wanted}")
    return [found[s] for s in wanted]


def left_in_nchw(shapes: Sequence[Sequence[int | None]], head: DetectHead, size_hw: tuple[int, int]) -> list[bool]:
    """Which converted outputs onnx2tf left in the ONNX graph's NCHW layout.

    onnx2tf returns a graph output computed by an addition (a residual block or ``Sum``
    feeding Detect) as ``(b, c, h, w)`` at times. Such an output has the NCHW shape of a
    level and the NHWC shape of none; the caller transposes it (parity checks the result).
    """
    wanted = set(head.feature_shapes(size_hw))
    flags = []
    for shape in shapes:
        if len(shape) != 4 or any(d is None for d in shape[1:]):
            flags.append(False)
            continue
        c, h, w = (int(d) for d in shape[1:])  # type: ignore[arg-type]
        flags.append((c, h, w) not in wanted and (h, w, c) in wanted)
    return flags


def _conv1x1(x: tf.Tensor, weight: np.ndarray, bias: np.ndarray) -> tf.Tensor:
    kernel = tf.constant(weight[None, None].astype(np.float32))
    return tf.nn.bias_add(tf.nn.conv2d(x, kernel, strides=1, padding="VALID"), tf.constant(bias.astype(np.float32)))


def _cells(ny: int, nx: int) -> np.ndarray:
    """Grid cell offsets ``(1, 1, ny*nx, 2)`` as ``(x, y)``, shifted by -0.5 as YOLOv5 does."""
    ys, xs = np.meshgrid(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32), indexing="ij")
    return (np.stack([xs, ys], -1).reshape(1, 1, ny * nx, 2) - 0.5).astype(np.float32)


def _dynamic_cells(ny: tf.Tensor, nx: tf.Tensor) -> tf.Tensor:
    """:func:`_cells` for a feature map whose size is known only at run time (``export --rect``)."""
    ys, xs = tf.meshgrid(tf.range(ny, dtype=tf.float32), tf.range(nx, dtype=tf.float32), indexing="ij")
    return tf.reshape(tf.stack([xs, ys], -1), [1, 1, ny * nx, 2]) - 0.5


def decode(features: Sequence[tf.Tensor], head: DetectHead) -> tf.Tensor:
    """NHWC feature maps (in head level order) -> ``(b, anchors, 5 + nc)`` predictions.

    Feature maps of static size get constant grids; of dynamic size (``export --rect``), grids
    built from their run-time shape, as YOLOv5's Detect builds them.
    """
    na, no = head.num_anchors, head.num_outputs
    boxes: list[tf.Tensor] = []
    scores: list[tf.Tensor] = []
    for level, feature in enumerate(features):
        static = feature.shape[1] is not None and feature.shape[2] is not None
        if static:
            ny, nx = int(feature.shape[1]), int(feature.shape[2])
            cells = _cells(ny, nx)
        else:
            ny, nx = tf.shape(feature)[1], tf.shape(feature)[2]
            cells = _dynamic_cells(ny, nx)
        weight, bias = head.weights[level], head.biases[level]
        box_columns = [a * no + k for a in range(na) for k in range(BOX_COLUMNS)]
        box = tf.sigmoid(_conv1x1(feature, weight[:, box_columns], bias[box_columns]))
        # (b, ny, nx, na*4) -> (b, na, ny*nx, 4): a small tensor, the only reordering done
        box = tf.transpose(tf.reshape(box, [-1, ny * nx, na, BOX_COLUMNS]), [0, 2, 1, 3])
        stride = np.float32(head.strides[level])
        anchors = head.anchors_wh[level].astype(np.float32).reshape(1, na, 1, 2)
        xy = (box[..., 0:2] * 2.0 + cells) * stride
        wh = (box[..., 2:4] * 2.0) ** 2 * anchors
        boxes.append(tf.reshape(tf.concat([xy, wh], -1), [-1, na * ny * nx, BOX_COLUMNS]))
        for anchor in range(na):
            columns = slice(anchor * no + BOX_COLUMNS, (anchor + 1) * no)
            score = tf.sigmoid(_conv1x1(feature, weight[:, columns], bias[columns]))
            scores.append(tf.reshape(score, [-1, ny * nx, no - BOX_COLUMNS]))
    return tf.concat([tf.concat(boxes, 1), tf.concat(scores, 1)], -1)
