"""The parity gate and NMS near-ties (issue 11, item 4): raw outputs that agree to 1e-5 can still keep a
different box of a near-tied pair; that is reported as a near-tie, not refused. Real drift is refused.

Synthetic raw predictions (``(anchors, 5 + nc)`` rows: cx, cy, w, h, objectness, class probabilities) on a
64 x 64 canvas that is the source image itself (no letterbox), run through our numpy NMS on each side."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_tfserving.export.parity import DetectionMatch, ParityOptions, ParityReport, match_detections
from yolo_tfserving.export.parity_ties import NMSInputs, TieCheck
from yolo_tfserving.ops import Letterbox, NMSConfig, box_iou, non_max_suppression, unletterbox_xyxy

NMS = NMSConfig(conf_threshold=0.25, iou_threshold=0.45)
PLAN = Letterbox.plan((64, 64), (64, 64))
OPTIONS = ParityOptions()


def row(cx: float, cy: float, w: float, h: float, obj: float, cls: tuple[float, float, float]) -> list[float]:
    return [cx, cy, w, h, obj, *cls]


def background() -> list[list[float]]:
    """A confident box far from the others, the same on both sides (it must simply match)."""
    return [row(50, 50, 10, 10, 0.95, (0.02, 0.95, 0.02))]


def detections(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, scores, classes = non_max_suppression(raw, NMS)
    return unletterbox_xyxy(boxes, PLAN), scores, classes


def compare(ref_rows: list[list[float]], cand_rows: list[list[float]], *, ties: bool = True) -> DetectionMatch:
    ref_raw = np.asarray(ref_rows, np.float32)
    cand_raw = np.asarray(cand_rows, np.float32)
    check = None
    if ties:
        check = TieCheck(
            reference=NMSInputs.from_raw(ref_raw, NMS, PLAN),
            candidate=NMSInputs.from_raw(cand_raw, NMS, PLAN),
            iou_threshold=NMS.iou_threshold,
            score_tolerance=OPTIONS.raw_tolerance,
            iou_margin=OPTIONS.nms_iou_margin,
        )
    return match_detections(
        detections(ref_raw),
        detections(cand_raw),
        conf_threshold=NMS.conf_threshold,
        iou_floor=OPTIONS.iou_floor,
        score_margin=OPTIONS.score_margin,
        ties=check,
    )


def report(match: DetectionMatch) -> ParityReport:
    return ParityReport(
        images=1,
        raw_max_abs_diff={"savedmodel_raw": 1e-5},
        raw_max_scaled_diff={"savedmodel_raw": 1e-5},
        detections=match,
        options=OPTIONS,
    )


# two overlapping boxes of one class (IoU 0.6 > 0.45: NMS keeps only the first), scores 0.81 +- 5e-6
A = (20.0, 20.0, 20.0, 20.0)
B = (24.0, 20.0, 20.0, 20.0)


def test_the_pair_overlaps_past_the_nms_threshold() -> None:
    a = np.asarray([[10, 10, 30, 30]], np.float64)
    b = np.asarray([[14, 10, 34, 30]], np.float64)
    assert box_iou(a, b)[0, 0] == pytest.approx(0.6667, abs=1e-3)


def test_swapped_near_tied_pair_is_a_near_tie_not_a_failure() -> None:
    ref = [row(*A, 0.9, (0.9, 0.05, 0.05)), row(*B, 0.9, (0.899995, 0.05, 0.05)), *background()]
    cand = [row(*A, 0.9, (0.899995, 0.05, 0.05)), row(*B, 0.9, (0.9, 0.05, 0.05)), *background()]
    # what the gate said before: the reference keeps A, the candidate keeps B
    old = compare(ref, cand, ties=False)
    assert (old.matched, old.missing, old.extra) == (1, 1, 1) and not old.passed
    match = compare(ref, cand)
    assert (match.matched, match.missing, match.extra, match.near_tie) == (1, 0, 0, 2)
    assert match.passed
    parity = report(match)
    assert parity.passed and parity.to_json()["detections"]["excused_near_tie"] == 2
    assert "2 near-tie" in parity.summary()


def test_iou_a_hair_past_the_nms_threshold_is_a_near_tie() -> None:
    """Same score ranking on both sides; the second box's IoU with the first is 0.4499 in the reference
    (kept) and 0.4501 in the candidate (suppressed): within 1e-3 of the threshold."""

    def pair(shift: float) -> list[list[float]]:
        return [row(20, 20, 20, 20, 0.95, (0.95, 0.02, 0.02)), row(20 + shift, 20, 20, 20, 0.8, (0.8, 0.1, 0.1))]

    # IoU of two 20 x 20 boxes shifted by s along x: (20 - s) / (20 + s); 0.45 at s = 7.5862...
    kept, suppressed = 7.587, 7.585
    assert (20 - kept) / (20 + kept) < 0.45 < (20 - suppressed) / (20 + suppressed)
    match = compare([*pair(kept), *background()], [*pair(suppressed), *background()])
    assert (match.matched, match.missing, match.extra, match.near_tie) == (2, 0, 0, 1)
    assert match.passed


def test_a_box_shifted_by_pixels_is_drift() -> None:
    ref = [row(*A, 0.9, (0.9, 0.05, 0.05)), *background()]
    cand = [row(A[0] + 4, A[1], A[2], A[3], 0.9, (0.9, 0.05, 0.05)), *background()]
    match = compare(ref, cand)
    assert (match.matched, match.missing, match.extra, match.near_tie) == (1, 1, 1, 0)
    assert not match.passed and not report(match).passed


def test_a_missing_confident_box_is_drift() -> None:
    ref = [row(*A, 0.9, (0.9, 0.05, 0.05)), *background()]
    cand = [row(*A, 0.01, (0.9, 0.05, 0.05)), *background()]  # the candidate lost it
    match = compare(ref, cand)
    assert (match.missing, match.extra, match.near_tie) == (1, 0, 0)
    assert not match.passed


def test_a_swap_without_a_tie_is_drift() -> None:
    """The candidate keeps B because A's score dropped by 0.1: not within the raw tolerance."""
    ref = [row(*A, 0.9, (0.9, 0.05, 0.05)), row(*B, 0.9, (0.85, 0.05, 0.05)), *background()]
    cand = [row(*A, 0.9, (0.75, 0.05, 0.05)), row(*B, 0.9, (0.85, 0.05, 0.05)), *background()]
    match = compare(ref, cand)
    assert (match.missing, match.extra, match.near_tie) == (1, 1, 0)
    assert not match.passed


def test_a_suppression_far_from_the_threshold_is_drift() -> None:
    """The candidate's second box moved from IoU 0.30 (kept) to 0.60 (suppressed): not a near-tie."""

    def pair(shift: float) -> list[list[float]]:
        return [row(20, 20, 20, 20, 0.95, (0.95, 0.02, 0.02)), row(20 + shift, 20, 20, 20, 0.8, (0.8, 0.1, 0.1))]

    match = compare([*pair(10.77), *background()], [*pair(5.0), *background()])
    assert match.missing == 1 and match.near_tie == 0 and not match.passed
