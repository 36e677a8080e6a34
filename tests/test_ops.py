"""Pure-numpy letterbox and NMS: YOLOv5 facts, OpenCV agreement, property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yolo_tfserving.ops import (
    Letterbox,
    NMSConfig,
    box_iou,
    letterbox,
    nms_indices,
    non_max_suppression,
    resize_bilinear,
    unletterbox_xyxy,
)


def test_plan_matches_yolov5_rounding():
    # 480x640 -> 640: scale 1.0, new 480x640, dh = 80 -> top 80 (round(79.9)), bottom 80
    plan = Letterbox.plan((480, 640), (640, 640))
    assert plan.resized_hw == (480, 640) and plan.pad_top == 80 and plan.pad_left == 0
    # odd padding: 333 rows -> dh = 153.5 -> top round(153.4)=153, bottom round(153.6)=154
    plan = Letterbox.plan((333, 640), (640, 640))
    assert plan.resized_hw == (333, 640) and plan.pad_top == 153
    # Python's round is half-to-even: 427 * (640/854) = 319.999.. ; 3 * 0.5 style halves
    plan = Letterbox.plan((5, 10), (10, 20))
    assert plan.scale == 2.0 and plan.resized_hw == (10, 20)
    assert Letterbox.plan((100, 100), (640, 640), scaleup=False).scale == 1.0


def test_letterbox_layout_and_fill():
    image = np.full((100, 200, 3), 7, np.uint8)
    canvas, plan = letterbox(image, (64, 64))
    assert canvas.shape == (64, 64, 3)
    assert plan.resized_hw == (32, 64) and plan.pad_top == 16
    assert (canvas[:16] == 114).all() and (canvas[48:] == 114).all()
    assert (canvas[16:48] == 7).all()


# This used to allow one grey level of difference (a float bilinear resize rounded to 8 bits);
# resize_bilinear now computes OpenCV's fixed-point INTER_LINEAR, so the bytes must be equal
# (tests/test_opencv_resize.py checks many more sizes and all of coco128).
@pytest.mark.parametrize("src_hw,dst_hw", [((480, 640), (427, 569)), ((37, 53), (100, 71)), ((300, 200), (640, 427))])
def test_bilinear_equals_opencv(src_hw, dst_hw):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*src_hw, 3), dtype=np.uint8)
    ours = resize_bilinear(image, dst_hw)
    theirs = cv2.resize(image, dst_hw[::-1], interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(ours, theirs)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(8, 900),
    w=st.integers(8, 900),
    target=st.sampled_from([64, 320, 640]),
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
    fw=st.floats(0.01, 1),
    fh=st.floats(0.01, 1),
)
def test_unletterbox_inverts_letterbox(h, w, target, fx, fy, fw, fh):
    plan = Letterbox.plan((h, w), (target, target))
    x1, y1 = fx * w * 0.9, fy * h * 0.9
    box = np.array([[x1, y1, min(w, x1 + fw * w), min(h, y1 + fh * h)]], np.float64)
    gain = min(target / h, target / w)
    pad_x, pad_y = (target - w * gain) / 2, (target - h * gain) / 2
    on_canvas = box * gain + np.array([pad_x, pad_y, pad_x, pad_y])
    back = unletterbox_xyxy(on_canvas, plan)
    assert np.allclose(back, box, atol=1e-6)
    assert (back[:, [0, 2]] >= 0).all() and (back[:, [0, 2]] <= w).all()
    assert (back[:, [1, 3]] >= 0).all() and (back[:, [1, 3]] <= h).all()
    # the resized content sits inside the canvas
    assert 0 <= plan.pad_top and plan.pad_top + plan.resized_hw[0] <= target
    assert 0 <= plan.pad_left and plan.pad_left + plan.resized_hw[1] <= target


def _brute_force_nms(boxes, scores, iou_threshold):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    for i in order:
        if all(box_iou(boxes[[i]], boxes[[k]])[0, 0] <= iou_threshold for k in keep):
            keep.append(i)
    return keep


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 10_000), thr=st.floats(0.1, 0.9))
def test_nms_indices_equals_greedy_reference(n, seed, thr):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(1, 50, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / max(n, 1)  # distinct scores
    assert list(nms_indices(boxes, scores, thr)) == _brute_force_nms(boxes, scores, thr)


def _random_prediction(rng, anchors=500, nc=5):
    pred = np.zeros((anchors, 5 + nc), np.float32)
    pred[:, :2] = rng.uniform(0, 640, (anchors, 2))
    pred[:, 2:4] = rng.uniform(4, 200, (anchors, 2))
    pred[:, 4] = rng.uniform(0, 1, anchors)
    pred[:, 5:] = rng.uniform(0, 1, (anchors, nc))
    return pred


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    conf=st.floats(0.05, 0.9),
    iou=st.floats(0.1, 0.9),
    max_det=st.integers(1, 50),
    agnostic=st.booleans(),
    multi_label=st.booleans(),
)
def test_nms_invariants(seed, conf, iou, max_det, agnostic, multi_label):
    rng = np.random.default_rng(seed)
    pred = _random_prediction(rng)
    cfg = NMSConfig(conf_threshold=conf, iou_threshold=iou, max_det=max_det, agnostic=agnostic, multi_label=multi_label)
    boxes, scores, classes = non_max_suppression(pred, cfg)
    assert len(boxes) == len(scores) == len(classes) <= max_det
    assert (scores > conf).all()
    assert (np.diff(scores) <= 0).all()  # best first
    ious = box_iou(boxes, boxes)
    same = np.ones_like(ious, bool) if agnostic else classes[:, None] == classes[None, :]
    np.fill_diagonal(same, False)
    assert (ious[same] <= iou + 1e-6).all()
    if not multi_label:  # best class only: the score is the max of obj * cls
        cand = pred[pred[:, 4] > conf]
        best = (cand[:, 5:] * cand[:, 4:5]).max(1)
        assert set(np.round(scores, 6)) <= set(np.round(best, 6))


def test_nms_classes_filter_and_empty():
    rng = np.random.default_rng(0)
    pred = _random_prediction(rng)
    _, _, classes = non_max_suppression(pred, NMSConfig(conf_threshold=0.1, classes=(2,)))
    assert set(classes.tolist()) <= {2} and len(classes)
    empty = non_max_suppression(pred, NMSConfig(conf_threshold=1.0))
    assert all(len(a) == 0 for a in empty)
    with pytest.raises(ValueError, match="conf_threshold"):
        NMSConfig(conf_threshold=1.5)


def test_nms_per_class_keeps_overlapping_boxes_of_different_classes():
    pred = np.zeros((2, 7), np.float32)
    pred[:, :4] = [50, 50, 20, 20]
    pred[:, 4] = 0.9
    pred[0, 5], pred[1, 6] = 0.9, 0.8
    assert len(non_max_suppression(pred, NMSConfig())[0]) == 2
    assert len(non_max_suppression(pred, NMSConfig(agnostic=True))[0]) == 1
