"""YOLOv5's ``non_max_suppression``, reproduced in numpy.

Semantics: candidates are rows with objectness ``> conf_threshold``; a row's class scores
are ``obj * cls``; boxes go from ``cxcywh`` to ``xyxy``; by default each row keeps its best
class (``multi_label`` keeps every class above the threshold); an optional class filter;
the top ``max_nms`` rows by score enter a greedy NMS (suppress IoU > ``iou_threshold``)
where classes are kept apart by offsetting boxes ``class * 7680`` unless ``agnostic``;
at most ``max_det`` rows survive. There is no time limit: no work is ever dropped.

Segmentation predictions (``5 + nc + nm`` columns, YOLOv5's ``nm`` mask coefficients last) go
through the same steps with ``num_masks=nm``: the class scores are columns ``5 : 5 + nc`` only, and
:func:`non_max_suppression_rows` also returns each survivor's row in ``prediction`` so its mask
coefficients follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError
from .boxes import cxcywh_to_xyxy

CLASS_OFFSET = 7680.0  # YOLOv5's max_wh: larger than any image side


@dataclass(frozen=True)
class NMSConfig:
    """Post-processing thresholds; defaults are YOLOv5 detect.py's."""

    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    agnostic: bool = False
    multi_label: bool = False
    max_nms: int = 30000

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf_threshold <= 1.0:
            raise InputError(f"conf_threshold must be in [0, 1], got {self.conf_threshold}")
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise InputError(f"iou_threshold must be in [0, 1], got {self.iou_threshold}")
        if self.max_det < 1:
            raise InputError(f"max_det must be >= 1, got {self.max_det}")


def nms_indices(
    boxes_xyxy: NDArray[np.floating[Any]], scores: NDArray[np.floating[Any]], iou_threshold: float
) -> NDArray[np.intp]:
    """Greedy NMS as torchvision.ops.nms: indices kept, by descending score."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes_xyxy[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        if not rest.size:
            break
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = w * h
        union = areas[best] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def non_max_suppression(
    prediction: NDArray[np.floating[Any]], config: NMSConfig = NMSConfig()
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """One image's raw predictions ``(anchors, 5 + nc)`` -> ``(xyxy, scores, class_ids)``.

    Boxes stay in the model's input (letterboxed) pixels; see ``unletterbox_xyxy``.
    """
    boxes, scores, class_ids, _ = non_max_suppression_rows(prediction, config)
    return boxes, scores, class_ids


def non_max_suppression_rows(
    prediction: NDArray[np.floating[Any]], config: NMSConfig = NMSConfig(), *, num_masks: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64], NDArray[np.intp]]:
    """:func:`non_max_suppression` plus each survivor's row index in ``prediction`` (``(anchors,
    5 + nc + num_masks)``; a segmentation model's coefficients are ``prediction[rows, 5 + nc:]``)."""
    boxes, scores, class_ids, rows = nms_candidate_rows(prediction, config, num_masks=num_masks)
    if not scores.shape[0]:
        return boxes, scores, class_ids, rows
    offsets = np.float32(0.0 if config.agnostic else CLASS_OFFSET) * class_ids.astype(np.float32)
    kept = nms_indices(boxes + offsets[:, None], scores, config.iou_threshold)[: config.max_det]
    return boxes[kept], scores[kept].astype(np.float32), class_ids[kept], rows[kept]


def nms_candidates(
    prediction: NDArray[np.floating[Any]], config: NMSConfig = NMSConfig()
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """The rows that enter the greedy NMS of :func:`non_max_suppression`: ``(xyxy, scores, class_ids)``
    after the thresholds, the class filter and the ``max_nms`` cut (boxes in the model's input pixels)."""
    boxes, scores, class_ids, _ = nms_candidate_rows(prediction, config)
    return boxes, scores, class_ids


def nms_candidate_rows(
    prediction: NDArray[np.floating[Any]], config: NMSConfig = NMSConfig(), *, num_masks: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64], NDArray[np.intp]]:
    """:func:`nms_candidates` plus each candidate's row index in ``prediction``; the last
    ``num_masks`` columns (mask coefficients) are not class scores."""
    if num_masks < 0 or prediction.ndim != 2 or prediction.shape[1] < 6 + num_masks:
        raise InputError(
            f"expected predictions of shape (anchors, 5 + classes + {num_masks} masks), got {prediction.shape}"
        )
    source_rows = np.flatnonzero(prediction[:, 4] > config.conf_threshold)
    pred = prediction[source_rows].astype(np.float32, copy=False)
    empty = (
        np.zeros((0, 4), np.float32),
        np.zeros((0,), np.float32),
        np.zeros((0,), np.int64),
        np.zeros((0,), np.intp),
    )
    if not pred.shape[0]:
        return empty
    class_scores = pred[:, 5 : pred.shape[1] - num_masks] * pred[:, 4:5]
    boxes = cxcywh_to_xyxy(pred[:, :4])
    if config.multi_label:
        rows, cols = np.nonzero(class_scores > config.conf_threshold)
        boxes, scores, class_ids = boxes[rows], class_scores[rows, cols], cols.astype(np.int64)
        source_rows = source_rows[rows]
    else:
        class_ids = class_scores.argmax(1)
        scores = class_scores[np.arange(len(class_ids)), class_ids]
        keep = scores > config.conf_threshold
        boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep].astype(np.int64)
        source_rows = source_rows[keep]
    if config.classes is not None:
        keep = np.isin(class_ids, np.asarray(config.classes))
        boxes, scores, class_ids, source_rows = boxes[keep], scores[keep], class_ids[keep], source_rows[keep]
    if not scores.shape[0]:
        return empty
    if scores.shape[0] > config.max_nms:
        top = np.argsort(-scores, kind="stable")[: config.max_nms]
        boxes, scores, class_ids, source_rows = boxes[top], scores[top], class_ids[top], source_rows[top]
    return boxes, scores.astype(np.float32, copy=False), class_ids, source_rows.astype(np.intp, copy=False)


def batched_non_max_suppression(
    predictions: NDArray[np.floating[Any]], config: NMSConfig = NMSConfig()
) -> Sequence[tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]]:
    """:func:`non_max_suppression` over a batch ``(N, anchors, 5 + nc)``."""
    return [non_max_suppression(p, config) for p in predictions]
