"""Issue 13, the model side of segmentation: our Segment/Proto layers, v7.0 checkpoints, export, masks, parity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the [export] extra")

from helpers import seg_class_paths, training_checkpoint
from yolo_tfserving.yolov5 import segment
from yolo_tfserving.yolov5.checkpoint import load_checkpoint

NC = 3
NAMES = ["cat", "dog", "bird"]


def tiny_seg_model(seed: int = 0, *, confident: bool = False) -> segment.SegmentationModel:
    """A narrow random YOLOv5n-seg. ``confident`` raises objectness and class biases so that detections
    appear (some tens per image), and calibrates the Proto branch's batch norms on sample images: a random
    trunk's P3 map barely varies across the image, so uncalibrated protos are flat and every mask is all
    or nothing inside its box; calibrated, masks have foreground and background."""
    model = segment.build_segmentation_model(nc=NC, width_multiple=0.125, names=NAMES, seed=seed)
    if confident:
        head = model.model[-1]
        for conv in head.m:
            bias = conv.bias.detach().view(head.na, -1)
            bias[:, 4] += 5.0
            bias[:, 5 : 5 + NC] += 2.0
        _calibrate_protos(model)
    return model


def _calibrate_protos(model: segment.SegmentationModel, size: int = 96) -> None:
    from yolo_tfserving.export.parity import _synthetic_samples
    from yolo_tfserving.ops import letterbox_batch

    proto = model.model[-1].proto
    canvases = np.concatenate([letterbox_batch([rgb], (size, size))[0] for _, _, rgb in _synthetic_samples()])
    for bn in (proto.cv1.bn, proto.cv2.bn, proto.cv3.bn):
        bn.reset_running_stats()
        bn.momentum = None  # a plain average over the calibration batch
    proto.train()
    with torch.no_grad():
        model(torch.from_numpy(canvases.astype(np.float32).transpose(0, 3, 1, 2) / 255.0))
    proto.eval()


def save_seg_checkpoint(model: torch.nn.Module, path: Path, **extra: Any) -> Path:
    """As YOLOv5 v7.0's segment/train.py saves last.pt: model and ema fp16, optimizer state, opt, git, date."""
    ckpt = training_checkpoint(model, release="v7.0") | extra
    with seg_class_paths():
        torch.save(ckpt, path)
    return path


def test_v7_segmentation_checkpoint_loads(tmp_path):
    model = tiny_seg_model()
    path = save_seg_checkpoint(model, tmp_path / "best.pt")
    loaded = load_checkpoint(path)
    assert loaded.task == "segment"
    assert loaded.names == tuple(NAMES)
    assert isinstance(loaded.model, segment.SegmentationModel)
    head = loaded.model.model[-1]
    assert isinstance(head, segment.Segment) and (head.nm, head.npr, head.no) == (32, 32, 5 + NC + 32)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want_pred, want_protos = model.float().eval()(x)
        got_pred, got_protos = loaded.model(x)
    assert got_pred.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 5 + NC + 32)
    assert got_protos.shape == (1, 32, 16, 16)
    # fp16 weights: the loaded model is the saved one rounded to half precision
    assert torch.allclose(got_pred, want_pred, atol=0.05, rtol=0.01)
    assert torch.allclose(got_protos, want_protos, atol=0.05, rtol=0.01)


def test_segment_row_of_a_seg_yaml_builds_our_head():
    from yolo_tfserving.yolov5.config import parse_layers

    cfg = dict(segment.YOLOV5N_SEG_ARCH, nc=NC)
    layers, save = parse_layers(cfg, [3])
    head = layers[-1]
    assert isinstance(head, segment.Segment)
    assert head.type == "models.yolo.Segment" and head.f == [17, 20, 23]
    assert (head.nm, head.npr) == (32, 64)  # 256 protos scaled by width 0.25
    assert isinstance(head.proto, segment.Proto) and head.proto.cv1.conv.in_channels == 64  # P3's channels
    assert {17, 20, 23} <= set(save)


def test_rect_is_refused_for_segmentation_before_any_conversion(tmp_path):
    from yolo_tfserving._errors import InputError
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    path = save_seg_checkpoint(tiny_seg_model(), tmp_path / "best.pt")
    with pytest.raises(InputError, match="--rect"):
        export_model(path, tmp_path / "repo", options=ExportOptions(imgsz=96, rect=True))


# -- export ---------------------------------------------------------------------------------------
IMGSZ = 96  # protos 24 x 24 x 32: no shape reads both NHWC and NCHW


def _images() -> list[Path]:
    from helpers import coco128_images

    return coco128_images(2)


@pytest.fixture(scope="module")
def seg_export(tmp_path_factory):
    """A confident tiny seg model exported once (imgsz 96, verified: raw, protos, detections and masks)."""
    pytest.importorskip("onnx2tf")
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    root = tmp_path_factory.mktemp("seg")
    weights = save_seg_checkpoint(tiny_seg_model(confident=True), root / "best.pt")
    result = export_model(weights, root / "repo", options=ExportOptions(imgsz=IMGSZ, name="seg"))
    return result


@pytest.fixture(scope="module")
def seg_saved(seg_export):
    import tensorflow as tf

    return tf.saved_model.load(str(seg_export.version_dir))


def _encoded(path: Path | None = None) -> tuple[bytes, np.ndarray]:
    from yolo_tfserving.export.parity import _synthetic_samples, load_rgb

    if path is not None:
        return load_rgb(path)
    _, data, rgb = _synthetic_samples()[1]
    return data, rgb


def test_export_passes_parity_on_predictions_protos_and_masks(seg_export):
    parity = seg_export.parity
    assert parity is not None and parity["passed"] and parity["task"] == "segment"
    assert set(parity["raw_max_scaled_diff"]) == {"onnxruntime", "savedmodel_raw", "savedmodel_protos"}
    assert max(parity["raw_max_scaled_diff"].values()) <= 1e-3
    assert parity["detections"]["matched"] > 0 and parity["detections"]["missing"] == 0
    assert parity["masks"]["compared"] == parity["detections"]["matched"]
    assert parity["masks"]["min_iou"] >= 0.99


def test_export_metadata_says_segment_and_warmup_covers_every_signature(seg_export):
    from yolo_tfserving._repository_layout import ExportMetadata
    from yolo_tfserving.export import repository

    meta = ExportMetadata.read(seg_export.version_dir)
    assert meta.task == "segment" and meta.class_names == tuple(NAMES)
    assert (seg_export.version_dir / repository.WARMUP_FILE).stat().st_size > 0
    assert {"serving_default", "detect", "raw", "raw_bytes", "limits"} <= set(seg_export.signatures)


def test_limits_answer_num_masks_and_proto_stride(seg_saved):
    import tensorflow as tf

    out = seg_saved.signatures["limits"](names=tf.constant(["num_masks", "proto_stride", "size_h", "nope"]))
    assert out["values"].numpy().tolist() == [32, 4, IMGSZ, -1]


def test_raw_and_raw_bytes_return_predictions_and_nhwc_protos(seg_saved):
    import tensorflow as tf

    canvas = np.random.default_rng(0).integers(0, 256, (2, IMGSZ, IMGSZ, 3), dtype=np.uint8)
    raw = seg_saved.signatures["raw"](images=tf.constant(canvas.astype(np.float32) / 255.0))
    anchors = 3 * sum((IMGSZ // s) ** 2 for s in (8, 16, 32))
    assert raw["predictions"].shape == (2, anchors, 5 + NC + 32)
    assert raw["protos"].shape == (2, IMGSZ // 4, IMGSZ // 4, 32)
    packed = seg_saved.signatures["raw_bytes"](images=tf.constant([c.tobytes() for c in canvas]))
    for name, want in (("predictions", raw["predictions"]), ("protos", raw["protos"])):
        got = np.stack([tf.io.parse_tensor(b, tf.float32).numpy() for b in packed[f"{name}_bytes"].numpy()])
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


def test_served_masks_follow_the_contract(seg_saved):
    import tensorflow as tf

    from yolo_tfserving.ops import masks as mask_ops

    (data_a, rgb_a), (data_b, rgb_b) = _encoded(), _encoded(next(iter(_images()), None))
    out = seg_saved.signatures["serving_default"](images=tf.constant([data_a, data_b]))
    k = out["boxes"].shape[1]
    assert out["mask_boxes"].dtype == tf.int32 and out["mask_boxes"].shape == (2, k, 4)
    assert out["masks_png_bytes"].dtype == tf.string and out["masks_png_bytes"].shape == (2, k)
    nontrivial = 0
    for index, rgb in enumerate((rgb_a, rgb_b)):
        n = int(out["num_detections"][index])
        assert 0 < n < k
        windows = out["mask_boxes"].numpy()[index]
        pngs = out["masks_png_bytes"].numpy()[index]
        want = mask_ops.mask_windows(out["boxes"].numpy()[index, :n], rgb.shape[:2])
        np.testing.assert_array_equal(windows[:n], want)
        assert not windows[n:].any() and not any(pngs[n:])  # padded rows are empty
        for window, png in zip(windows[:n].tolist(), pngs[:n], strict=True):
            x0, y0, x1, y1 = window
            if x1 <= x0 or y1 <= y0:
                assert png == b""
                continue
            crop = mask_ops.decode_png(bytes(png), window)
            assert crop.shape == (y1 - y0, x1 - x0)
            nontrivial += int(0 < crop.mean() < 1)
    assert nontrivial > 0  # the forced confidences give masks with both foreground and background


def test_served_masks_equal_the_numpy_reference_on_the_models_own_raw_outputs(seg_saved):
    """serving_default's masks vs ops.masks.process_mask_native on the SavedModel's raw protos and the
    coefficients of the rows NMS kept (IoU >= 0.99 per mask, as the issue asks)."""
    import tensorflow as tf

    from yolo_tfserving.export.parity_segment import mask_iou, reference_masks, served_masks
    from yolo_tfserving.ops import letterbox_batch
    from yolo_tfserving.ops.nms import NMSConfig

    data, rgb = _encoded()
    canvases, (plan,) = letterbox_batch([rgb], (IMGSZ, IMGSZ))
    raw = seg_saved.signatures["raw"](images=tf.constant(canvases.astype(np.float32) / 255.0))
    image_hw = rgb.shape[:2]
    (boxes, _, classes), want = reference_masks(
        raw["predictions"].numpy()[0], raw["protos"].numpy()[0], plan, NMSConfig()
    )
    out = seg_saved.signatures["serving_default"](images=tf.constant([data]))
    n = int(out["num_detections"][0])
    assert n == len(boxes) > 0
    np.testing.assert_array_equal(out["classes"].numpy()[0, :n], classes)
    np.testing.assert_allclose(out["boxes"].numpy()[0, :n], boxes, atol=1e-3)
    got = served_masks(out, n, image_hw)
    assert got.shape == want.shape == (n, *image_hw)
    assert min(mask_iou(a, b) for a, b in zip(want, got, strict=True)) >= 0.99


def test_detect_signature_caps_max_det_and_keeps_masks_aligned(seg_saved):
    import tensorflow as tf

    data, _ = _encoded()
    full = seg_saved.signatures["serving_default"](images=tf.constant([data]))
    capped = seg_saved.signatures["detect"](
        images=tf.constant([data]),
        conf_threshold=tf.constant([0.25]),
        iou_threshold=tf.constant([0.45]),
        max_det=tf.constant([3], tf.int32),
    )
    assert int(capped["num_detections"][0]) == 3
    for key in ("boxes", "mask_boxes", "masks_png_bytes"):
        np.testing.assert_array_equal(capped[key].numpy()[0, :3], full[key].numpy()[0, :3])


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.export
def test_yolov5n_weights_in_a_seg_model_pass_mask_parity_on_coco128(tmp_path, real_weights):
    """Real boxes: YOLOv5n's weights in a YOLOv5n-seg (random mask columns, Proto calibrated on sample images),
    exported at 320 and verified on 8 coco128 images: raw predictions, protos, detections, every mask IoU >= 0.99."""
    from helpers import coco128_images
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    images = coco128_images(8)
    model = segment.segmentation_from_detection(load_checkpoint(real_weights, fuse=False).model)
    _calibrate_protos(model, size=320)
    weights = tmp_path / "yolov5n-seg.pt"
    with seg_class_paths():
        torch.save({"model": model.half(), "ema": None, "date": "test"}, weights)
    result = export_model(weights, tmp_path / "repo", options=ExportOptions(imgsz=320, verify_images=images))
    parity = result.parity
    assert parity is not None and parity["passed"]
    assert parity["detections"]["matched"] >= 10 and parity["masks"]["compared"] == parity["detections"]["matched"]
    assert parity["masks"]["mean_iou"] >= 0.99 and parity["masks"]["min_iou"] >= 0.99
