"""ops.masks: YOLOv5's process_mask_native in numpy, against a torch reference written from YOLOv5's formulas."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_tfserving._errors import InputError
from yolo_tfserving.ops import masks as M

# (canvas_hw, image_hw): square letterbox both ways, rect canvases, odd sizes, up- and down-sampling
CASES = [
    ((64, 64), (48, 64)),
    ((64, 64), (64, 37)),
    ((64, 96), (61, 90)),
    ((128, 128), (333, 500)),
    ((160, 160), (40, 41)),
    ((96, 64), (101, 67)),
]


def _random_case(rng: np.random.Generator, canvas_hw: tuple[int, int], image_hw: tuple[int, int], n: int = 6):
    mh, mw = canvas_hw[0] // 4, canvas_hw[1] // 4
    # smooth-ish protos (as a real Proto branch gives), so masks are blobs, not noise
    base = rng.normal(size=(max(mh // 4, 1), max(mw // 4, 1), 32)).astype(np.float32)
    protos = np.kron(base, np.ones((4, 4, 1), np.float32))[:mh, :mw] + 0.3 * rng.normal(size=(mh, mw, 32))
    coefficients = rng.normal(size=(n, 32)).astype(np.float32)
    h, w = image_hw
    x1 = rng.uniform(-5, w * 0.8, n)
    y1 = rng.uniform(-5, h * 0.8, n)
    boxes = np.stack([x1, y1, x1 + rng.uniform(0, w, n), y1 + rng.uniform(0, h, n)], 1).astype(np.float32)
    return protos.astype(np.float32), coefficients, boxes


def _torch_process_mask_native(protos_hwc, coefficients, boxes, image_hw):
    """YOLOv5's process_mask_native + crop_mask, from its formulas (protos CHW, boxes rounded first)."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    protos = torch.from_numpy(np.ascontiguousarray(protos_hwc.transpose(2, 0, 1)))
    c, mh, mw = protos.shape
    masks = (torch.from_numpy(coefficients) @ protos.float().view(c, -1)).sigmoid().view(-1, mh, mw)
    gain = min(mh / image_hw[0], mw / image_hw[1])
    pad = (mw - image_hw[1] * gain) / 2, (mh - image_hw[0] * gain) / 2
    top, left = int(pad[1]), int(pad[0])
    bottom, right = int(mh - pad[1]), int(mw - pad[0])
    masks = masks[:, top:bottom, left:right]
    masks = functional.interpolate(masks[None], image_hw, mode="bilinear", align_corners=False)[0]
    b = torch.from_numpy(boxes).round()
    _, h, w = masks.shape
    x1, y1, x2, y2 = torch.chunk(b[:, :, None], 4, 1)
    r = torch.arange(w, dtype=x1.dtype)[None, None, :]
    cc = torch.arange(h, dtype=x1.dtype)[None, :, None]
    masks = masks * ((r >= x1) * (r < x2) * (cc >= y1) * (cc < y2))
    return masks.gt_(0.5).numpy()


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.mark.parametrize(("in_hw", "out_hw"), [((16, 16), (64, 48)), ((12, 17), (45, 33)), ((40, 30), (13, 29))])
def test_resize_bilinear_float_equals_torch_interpolate(in_hw, out_hw) -> None:
    torch = pytest.importorskip("torch")
    maps = np.random.default_rng(0).random((3, *in_hw), dtype=np.float32)
    ours = M.resize_bilinear_float(maps, out_hw)
    theirs = torch.nn.functional.interpolate(
        torch.from_numpy(maps)[None], out_hw, mode="bilinear", align_corners=False
    )[0].numpy()
    assert ours.shape == theirs.shape
    # torch's kernel contracts multiply-adds (FMA) where numpy rounds each step: a few float32 ulps apart
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("canvas_hw", "image_hw"), CASES)
def test_process_mask_native_matches_yolov5(canvas_hw, image_hw) -> None:
    rng = np.random.default_rng(sum(canvas_hw) * 1000 + sum(image_hw))
    protos, coefficients, boxes = _random_case(rng, canvas_hw, image_hw)
    theirs = _torch_process_mask_native(protos, coefficients, boxes, image_hw)
    ours = M.process_mask_native(protos, coefficients, boxes, canvas_hw, image_hw)
    assert ours.shape == theirs.shape == (len(boxes), *image_hw)
    assert ours.dtype == bool
    assert theirs.any(), "the case must have foreground to compare"
    ious = [_iou(a, b) for a, b in zip(ours, theirs, strict=True)]
    assert min(ious) >= 0.99, ious
    # exact in practice: at most a handful of pixels sit on the 0.5 boundary
    assert np.count_nonzero(ours != theirs) <= 0.001 * ours.size


def test_masks_are_empty_outside_their_windows_and_crops_round_trip() -> None:
    rng = np.random.default_rng(7)
    canvas_hw, image_hw = (64, 64), (50, 70)
    protos, coefficients, boxes = _random_case(rng, canvas_hw, image_hw, n=8)
    windows = M.mask_windows(boxes, image_hw)
    dense = M.process_mask_native(protos, coefficients, boxes, canvas_hw, image_hw)
    crops = M.crop_to_windows(dense, windows)
    assert np.array_equal(M.paste(windows, crops, image_hw), dense)  # nothing outside the windows
    assert [c.shape for c in crops] == [(y1 - y0, x1 - x0) for x0, y0, x1, y1 in windows]
    direct = M.process_mask_native_crops(protos, coefficients, windows, canvas_hw, image_hw)
    assert all(np.array_equal(a, b) for a, b in zip(direct, crops, strict=True))
    for window, crop in zip(windows, crops, strict=True):
        png = M.encode_png(crop)
        assert (png == b"") == (crop.size == 0)
        assert np.array_equal(M.decode_png(png, window), crop)


def test_mask_windows_round_then_clip() -> None:
    windows = M.mask_windows(np.array([[0.4, 0.6, 10.5, 11.5], [-3, -2, 200, 300], [5.2, 5, 5.4, 9]]), (100, 120))
    # numpy rounds half to even, as torch does: 10.5 -> 10, 11.5 -> 12
    assert windows.tolist() == [[0, 1, 10, 12], [0, 0, 120, 100], [5, 5, 5, 9]]
    assert windows.dtype == np.int32


def test_bad_inputs_raise_input_error() -> None:
    protos = np.zeros((16, 16, 32), np.float32)
    with pytest.raises(InputError, match="coefficients"):
        M.process_mask_native(protos, np.zeros((2, 31)), np.zeros((2, 4)), (64, 64), (64, 64))
    with pytest.raises(InputError, match="canvas"):
        M.process_mask_native(protos, np.zeros((2, 32)), np.zeros((2, 4)), (64, 96), (64, 64))
    with pytest.raises(InputError, match="decoded"):
        M.decode_png(b"not a png", (0, 0, 4, 4))
    png = M.encode_png(np.ones((3, 5), bool))
    with pytest.raises(InputError, match="window"):
        M.decode_png(png, (0, 0, 4, 4))
    with pytest.raises(InputError, match="window"):
        M.paste(np.array([[0, 0, 5, 3]]), [np.ones((3, 4), bool)], (10, 10))


# -- Detections with masks ---------------------------------------------------------------------------
def _seg_detections():
    from yolo_tfserving.client import Detections

    rng = np.random.default_rng(3)
    canvas_hw, image_hw = (64, 64), (40, 60)
    protos, coefficients, boxes = _random_case(rng, canvas_hw, image_hw, n=5)
    boxes = M.mask_windows(boxes, image_hw).astype(np.float32)  # valid xyxy inside the image
    windows = M.mask_windows(boxes, image_hw)
    crops = M.process_mask_native_crops(protos, coefficients, windows, canvas_hw, image_hw)
    masks = M.MaskCrops(windows, image_hw, crops=crops)
    dets = Detections.from_arrays(boxes, np.linspace(0.9, 0.5, 5), [0, 1, 0, 2, 1], mask_crops=masks)
    dense = M.process_mask_native(protos, coefficients, boxes, canvas_hw, image_hw)
    return dets, dense


def _serving_outputs(dets, k: int = 8) -> dict[str, np.ndarray]:
    """The contract's seg serving_default outputs for one image, padded to k rows."""
    n = len(dets)
    pad = k - n
    pngs = dets.mask_crops.pngs() + [b""] * pad
    return {
        "boxes": np.concatenate([dets.xyxy, np.zeros((pad, 4), np.float32)])[None],
        "scores": np.concatenate([dets.confidence, np.zeros(pad, np.float32)])[None],
        "classes": np.concatenate([dets.class_id, np.zeros(pad, np.int64)])[None],
        "class_names": np.asarray([[*(s.encode() for s in dets.class_name), *([b""] * pad)]], dtype=object),
        "num_detections": np.asarray([n], np.int32),
        "mask_boxes": np.concatenate([dets.mask_crops.windows, np.zeros((pad, 4), np.int32)])[None],
        "masks_png_bytes": np.asarray([pngs], dtype=object),
    }


def test_detections_mask_is_lazy_dense_and_indexing_keeps_masks_aligned() -> None:
    dets, dense = _seg_detections()
    assert dets.image_size_hw == (40, 60)
    assert dets.mask is not None and np.array_equal(dets.mask, dense)
    keep = dets.class_id == 0
    picked = dets[keep]
    assert len(picked) == 2 and np.array_equal(picked.mask, dense[keep])
    assert np.array_equal(dets[3].mask, dense[3:4])
    assert np.array_equal(dets[::-1].mask, dense[::-1])
    assert np.array_equal(dets[np.array([4, 0])].mask, dense[[4, 0]])


def test_detections_equality_covers_masks_and_serving_outputs_round_trip() -> None:
    from yolo_tfserving.client import Detections

    dets, dense = _seg_detections()
    served = Detections.from_serving_outputs(_serving_outputs(dets), image_size_hw=(40, 60))
    assert served == dets  # PNG crops decoded lazily, compared by value
    assert np.array_equal(served.mask, dense)
    flipped = dense.copy()
    flipped[0, 20, 30] = not flipped[0, 20, 30]
    window = np.array([[0, 0, 60, 40]] * 5)
    other = Detections(
        dets.xyxy,
        dets.confidence,
        dets.class_id,
        dets.class_name,
        dets.image_size_hw,
        M.MaskCrops.from_dense(flipped, window),
    )
    assert other != dets
    same = Detections(
        dets.xyxy,
        dets.confidence,
        dets.class_id,
        dets.class_name,
        dets.image_size_hw,
        M.MaskCrops.from_dense(dense, window),
    )
    assert same == dets  # other windows, same masks
    plain = Detections(dets.xyxy, dets.confidence, dets.class_id, dets.class_name, dets.image_size_hw)
    assert plain != dets and plain.mask is None
    with pytest.raises(InputError, match="image_size_hw"):
        Detections.from_serving_outputs(_serving_outputs(dets))
    with pytest.raises(InputError, match="masks for"):
        Detections(dets.xyxy[:2], dets.confidence[:2], dets.class_id[:2], mask_crops=dets.mask_crops)


def test_to_coco_writes_rle_segmentations() -> None:
    mask_utils = pytest.importorskip("pycocotools.mask")
    dets, dense = _seg_detections()
    rows = dets.to_coco(7)
    assert len(rows) == len(dets)
    for row, mask in zip(rows, dense, strict=True):
        rle = row["segmentation"]
        assert rle["size"] == [40, 60] and isinstance(rle["counts"], str)
        decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        assert np.array_equal(decoded.astype(bool), mask)
    assert (
        "segmentation" not in dets[[]].to_coco(7)
        and "segmentation" not in (type(dets)(dets.xyxy, dets.confidence, dets.class_id).to_coco(1)[0])
    )


def test_to_coco_without_pycocotools_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from yolo_tfserving._errors import MissingDependencyError

    dets, _ = _seg_detections()
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    with pytest.raises(MissingDependencyError, match=r"yolo-tfserving\[eval\]"):
        dets.to_coco(1)


def test_annotate_blends_masks_only_inside_them() -> None:
    dets, dense = _seg_detections()
    image = np.full((40, 60, 3), 100, np.uint8)
    boxes_only = np.asarray(type(dets)(dets.xyxy, dets.confidence, dets.class_id).annotate(image, line_width=1))
    drawn = np.asarray(dets.annotate(image, line_width=1))
    changed = (drawn != boxes_only).any(axis=2)
    union = dense.any(axis=0)
    assert changed.any()
    assert not (changed & ~union).any()  # masks change nothing outside themselves
    with pytest.raises(InputError, match="masks are"):
        dets.annotate(np.zeros((10, 10, 3), np.uint8))


def test_supervision_round_trip_carries_masks() -> None:
    pytest.importorskip("supervision")
    from yolo_tfserving.client import Detections

    dets, dense = _seg_detections()
    sv_dets = dets.to_supervision()
    assert np.array_equal(sv_dets.mask, dense)
    back = Detections.from_supervision(sv_dets)
    assert back == dets  # tight windows, same masks
    assert M.tight_windows(dense[:1]).tolist() == M.tight_windows(back.mask[:1]).tolist()
    assert M.tight_windows(np.zeros((1, 4, 4), bool)).tolist() == [[0, 0, 0, 0]]


# -- NMS carrying coefficients, and the client-mode pipeline ------------------------------------------
def _seg_predictions(rng: np.random.Generator, canvas_hw: tuple[int, int], nc: int = 3, anchors: int = 200):
    h, w = canvas_hw
    xy = rng.uniform(0, 1, (anchors, 2)) * [w, h]
    wh = rng.uniform(4, 0.6 * min(h, w), (anchors, 2))
    obj = rng.uniform(0, 1, (anchors, 1))
    cls = rng.uniform(0, 1, (anchors, nc))
    coeffs = rng.normal(0, 3, (anchors, 32))  # raw, large: must never be read as class scores
    return np.concatenate([xy, wh, obj, cls, coeffs], 1).astype(np.float32)


@pytest.mark.parametrize("multi_label", [False, True])
def test_nms_rows_carry_coefficients_and_ignore_them_as_classes(multi_label: bool) -> None:
    from yolo_tfserving.ops import NMSConfig, cxcywh_to_xyxy, non_max_suppression, non_max_suppression_rows

    pred = _seg_predictions(np.random.default_rng(11), (64, 64))
    config = NMSConfig(conf_threshold=0.2, multi_label=multi_label, classes=(0, 2))
    boxes, scores, classes, rows = non_max_suppression_rows(pred, config, num_masks=32)
    ref_boxes, ref_scores, ref_classes = non_max_suppression(pred[:, :8], config)  # the detection columns alone
    assert len(rows) > 3
    assert np.array_equal(boxes, ref_boxes) and np.array_equal(scores, ref_scores)
    assert np.array_equal(classes, ref_classes)
    np.testing.assert_array_equal(cxcywh_to_xyxy(pred[rows, :4]), boxes)
    assert np.allclose(pred[rows, 4] * pred[rows, 5 + classes], scores)
    with pytest.raises(InputError, match="masks"):
        non_max_suppression_rows(pred[:, :20], config, num_masks=32)


@pytest.mark.parametrize(("canvas_hw", "image_hw"), [((64, 64), (48, 80)), ((96, 64), (150, 97))])
def test_segments_from_predictions_matches_yolov5_retina_masks(canvas_hw, image_hw) -> None:
    from yolo_tfserving.ops import NMSConfig, non_max_suppression_rows, unletterbox_xyxy
    from yolo_tfserving.ops.letterbox import Letterbox
    from yolo_tfserving.ops.pipeline import segments_from_predictions

    rng = np.random.default_rng(5)
    plan = Letterbox.plan(image_hw, canvas_hw)
    pred = _seg_predictions(rng, canvas_hw)
    protos, _, _ = _random_case(rng, canvas_hw, image_hw)
    config = NMSConfig(conf_threshold=0.3)
    xyxy, _, _, windows, crops = segments_from_predictions(pred, protos, plan, config)
    # YOLOv5's predict.py --retina-masks: NMS (nm=32), scale_boxes(...).round(), process_mask_native
    boxes, _, _, rows = non_max_suppression_rows(pred, config, num_masks=32)
    scaled = unletterbox_xyxy(boxes, plan)
    np.testing.assert_array_equal(xyxy, scaled.astype(np.float32))
    theirs = _torch_process_mask_native(protos, pred[rows, 8:], np.round(scaled).astype(np.float32), image_hw)
    ours = M.paste(windows, crops, image_hw)
    assert len(ours) == len(theirs) > 2 and theirs.any()
    assert min(_iou(a, b) for a, b in zip(ours, theirs, strict=True)) >= 0.99


def test_to_dicts_carry_mask_windows_and_pngs() -> None:
    import base64

    dets, dense = _seg_detections()
    rows = dets.to_dicts()
    assert [r["mask_window"] for r in rows] == dets.mask_crops.windows.tolist()
    for row, mask in zip(rows, dense, strict=True):
        crop = M.decode_png(base64.b64decode(row["mask_png_b64"]), row["mask_window"])
        assert np.array_equal(M.paste(np.array([row["mask_window"]]), [crop], (40, 60))[0], mask)
    plain = type(dets)(dets.xyxy, dets.confidence, dets.class_id).to_dicts()
    assert "mask_window" not in plain[0]
