"""NMS near-ties: when a detection present on one side of the parity check is absent on the other
although the raw predictions agree.

Greedy NMS is discontinuous: two overlapping boxes whose scores differ by 1e-6 keep one or the
other depending on float noise, and a box whose IoU with a kept box is within a hair of the IoU
threshold is kept on one side and suppressed on the other. Raw outputs that match to 3.6e-5 can
thus give "1 missing, 1 extra". A detection ``d`` of one side, unmatched on the other side, is
explained by a near-tie when, on the other side:

- ``d``'s own row entered NMS there (a candidate box of the same class with IoU >= the match
  floor: the same anchor, so the network agrees about it), and
- a box the other side kept (a candidate that is one of its detections), of the same class
  unless NMS is class-agnostic, scored at least as high within ``score_tolerance``, overlaps that
  row with an IoU at least the NMS threshold minus ``iou_margin`` (it could suppress it), and either
  their scores are within ``score_tolerance`` (the order of the pair is a tie) or their IoU is within
  ``iou_margin`` of the threshold (the suppression is a tie).

A box that moved, vanished or changed its score by more than the tolerance is not explained, so it
still fails the check. IoUs with the NMS threshold are taken in the model's input pixels, where
NMS compares boxes; matching with detections in source pixels, where detections are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..ops import Letterbox, NMSConfig, box_iou, nms_candidates, unletterbox_xyxy

Detections = tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.integer]]


@dataclass(frozen=True)
class NMSInputs:
    """One side's NMS candidates: boxes in the model's input pixels and in source pixels."""

    boxes: NDArray[np.float64]
    source_boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    classes: NDArray[np.int64]

    @classmethod
    def from_raw(cls, prediction: NDArray[np.floating], nms: NMSConfig, plan: Letterbox) -> NMSInputs:
        """From one image's raw predictions ``(anchors, 5 + nc)``, as :func:`~..ops.non_max_suppression`
        builds them."""
        boxes, scores, classes = nms_candidates(prediction, nms)
        return cls(
            boxes=boxes.astype(np.float64),
            source_boxes=unletterbox_xyxy(boxes, plan).astype(np.float64),
            scores=scores.astype(np.float64),
            classes=classes.astype(np.int64),
        )


@dataclass(frozen=True)
class TieCheck:
    """Both sides' NMS candidates and the NMS they went through."""

    reference: NMSInputs
    candidate: NMSInputs
    iou_threshold: float
    score_tolerance: float
    iou_margin: float = 1e-3
    agnostic: bool = False

    def explains(
        self,
        box: NDArray[np.floating],
        cls: int,
        *,
        absent_from: Literal["reference", "candidate"],
        kept: Detections,
        floor: float,
    ) -> bool:
        """Whether a detection (``box`` in source pixels, class ``cls``) that the ``absent_from`` side
        ("reference" or "candidate") lacks is a near-tie there; ``kept``: that side's detections."""
        pool = self.reference if absent_from == "reference" else self.candidate
        if not len(pool.scores):
            return False
        twins = np.flatnonzero((pool.classes == cls) & (_iou(box, pool.source_boxes) >= floor))
        return any(self._tied(pool, int(row), kept, floor) for row in twins)

    def _tied(self, pool: NMSInputs, row: int, kept: Detections, floor: float) -> bool:
        """Whether a box the pool's side kept suppresses candidate ``row`` by a near-tie."""
        score = pool.scores[row]
        iou = _iou(pool.boxes[row], pool.boxes)
        rivals = (iou >= self.iou_threshold - self.iou_margin) & (pool.scores >= score - self.score_tolerance)
        rivals[row] = False
        if not self.agnostic:
            rivals &= pool.classes == pool.classes[row]
        for q in np.flatnonzero(rivals):
            tie = abs(pool.scores[q] - score) <= self.score_tolerance or iou[q] <= self.iou_threshold + self.iou_margin
            if tie and _is_kept(pool, int(q), kept, floor):
                return True
        return False


def _iou(box: NDArray[np.floating], boxes: NDArray[np.floating]) -> NDArray[np.float64]:
    if not len(boxes):
        return np.zeros(0)
    return box_iou(np.asarray(box, np.float64)[None, :4], np.asarray(boxes, np.float64))[0]


def _is_kept(pool: NMSInputs, row: int, kept: Detections, floor: float) -> bool:
    """Whether candidate ``row`` is one of that side's detections (same class, IoU >= ``floor``)."""
    boxes, _, classes = kept
    same = np.asarray(classes) == pool.classes[row]
    return bool(same.any() and (_iou(pool.source_boxes[row], np.asarray(boxes)[same]) >= floor).any())
