"""Box format conversions and IoU (numpy)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]


def cxcywh_to_xyxy(boxes: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    """``(cx, cy, w, h)`` -> ``(x1, y1, x2, y2)``, same dtype."""
    out = np.empty_like(boxes)
    half_w = boxes[..., 2] / 2
    half_h = boxes[..., 3] / 2
    out[..., 0] = boxes[..., 0] - half_w
    out[..., 1] = boxes[..., 1] - half_h
    out[..., 2] = boxes[..., 0] + half_w
    out[..., 3] = boxes[..., 1] + half_h
    return out


def clip_xyxy(boxes: NDArray[np.floating[Any]], size_hw: tuple[int, int]) -> NDArray[np.floating[Any]]:
    """Clip ``xyxy`` boxes to an image of ``size_hw`` (in place and returned)."""
    height, width = size_hw
    np.clip(boxes[..., 0], 0, width, out=boxes[..., 0])
    np.clip(boxes[..., 1], 0, height, out=boxes[..., 1])
    np.clip(boxes[..., 2], 0, width, out=boxes[..., 2])
    np.clip(boxes[..., 3], 0, height, out=boxes[..., 3])
    return boxes


def box_iou(a: NDArray[np.floating[Any]], b: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    """Pairwise IoU of ``xyxy`` boxes: ``(N, 4) x (M, 4) -> (N, M)``."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou.astype(a.dtype, copy=False)
