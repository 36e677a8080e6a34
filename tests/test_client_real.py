"""On the real yolov5n and all of coco128 (needs ../shared): both client modes agree, and both
modes, square and ``--rect``, match an independent PyTorch reference with YOLOv5's semantics
(OpenCV's own letterbox: ``cv2.resize`` INTER_LINEAR, ``auto=True`` padding for ``--rect``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import coco128_images, running_server
from yolo_tfserving import Client, Detections
from yolo_tfserving.export.parity import match_detections

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def real_server(real_export: Any) -> Iterator[Any]:
    out, _ = real_export
    with running_server(model_name="yolov5", model_base_path=str(out / "yolov5")) as server:
        yield server


def _as_tuple(d: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return d.xyxy, d.confidence, d.class_id


def test_client_and_server_modes_agree_on_coco128(real_server: Any) -> None:
    images = coco128_images()
    if len(images) < 128:
        pytest.skip("coco128 incomplete")
    matched = 0
    failures = []
    with (
        Client(f"grpc://127.0.0.1:{real_server.grpc_port}", mode="server") as server_mode,
        Client(f"http://127.0.0.1:{real_server.rest_port}", mode="client") as client_mode,
    ):
        for path in images:
            a, b = server_mode.detect(path), client_mode.detect(path)
            m = match_detections(_as_tuple(a), _as_tuple(b), conf_threshold=0.25, iou_floor=0.98, score_margin=0.01)
            matched += m.matched
            if not m.passed:
                failures.append(path.name)
    assert not failures, failures
    assert matched > 500


@pytest.fixture(scope="module")
def real_rect_server(real_rect_export: Any) -> Iterator[Any]:
    out, _ = real_rect_export
    with running_server(model_name="yolov5", model_base_path=str(out / "yolov5")) as server:
        yield server


def _torch_reference(model: Any, path: Path, *, rect: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YOLOv5's pipeline written independently of our ops: OpenCV letterbox (detect.py's
    ``auto=True`` with ``rect``), torch NMS, ``scale_boxes`` from the canvas size."""
    cv2 = pytest.importorskip("cv2")
    import torch

    bgr = cv2.imread(str(path))
    h0, w0 = bgr.shape[:2]
    r = min(640 / h0, 640 / w0)
    new_w, new_h = int(round(w0 * r)), int(round(h0 * r))
    dw, dh = 640 - new_w, 640 - new_h
    if rect:
        dw, dh = dw % 32, dh % 32
    dw, dh = dw / 2, dh / 2
    img = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR) if (w0, h0) != (new_w, new_h) else bgr
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    x = torch.from_numpy(img[:, :, ::-1].transpose(2, 0, 1).copy()).float()[None] / 255.0
    with torch.no_grad():
        pred = model(x)[0]
    pred = pred[pred[:, 4] > 0.25]
    scores_all = pred[:, 5:] * pred[:, 4:5]
    conf, cls = scores_all.max(1)
    keep = conf > 0.25
    pred, conf, cls = pred[keep], conf[keep], cls[keep]
    boxes = torch.cat([pred[:, :2] - pred[:, 2:4] / 2, pred[:, :2] + pred[:, 2:4] / 2], 1)
    order = conf.argsort(descending=True)
    boxes, conf, cls = boxes[order], conf[order], cls[order]
    shifted = boxes + cls[:, None].float() * 7680
    kept: list[int] = []
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in range(len(boxes)):
        if suppressed[i]:
            continue
        kept.append(i)
        lt = torch.maximum(shifted[i, :2], shifted[:, :2])
        rb = torch.minimum(shifted[i, 2:], shifted[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(1)
        area = (shifted[:, 2:] - shifted[:, :2]).prod(1)
        iou = inter / (area[i] + area - inter)
        suppressed |= iou > 0.45
    boxes, conf, cls = boxes[kept], conf[kept], cls[kept]
    ch, cw = img.shape[:2]
    gain = min(ch / h0, cw / w0)
    pad = torch.tensor([(cw - w0 * gain) / 2, (ch - h0 * gain) / 2] * 2)
    boxes = (boxes - pad) / gain
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, w0)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, h0)
    return boxes.numpy(), conf.numpy(), cls.numpy()


@pytest.mark.parametrize("export", ["square", "rect"])
@pytest.mark.parametrize("mode", ["server", "client"])
def test_detections_equal_pytorch_reference(request: Any, real_weights: Path, export: str, mode: str) -> None:
    """Every coco128 image: each of the reference's detections is matched (IoU >= 0.98, same class),
    none extra; only a score within 0.01 of the threshold may fall either side."""
    from yolo_tfserving.yolov5.checkpoint import load_checkpoint

    images = coco128_images()
    if len(images) < 128:
        pytest.skip("coco128 incomplete")
    server = request.getfixturevalue("real_rect_server" if export == "rect" else "real_server")
    model = load_checkpoint(real_weights).model
    matched = excused = 0
    failures = []
    with Client(f"http://127.0.0.1:{server.rest_port}", mode=mode) as client:
        for path in images:
            ref = _torch_reference(model, path, rect=export == "rect")
            got = _as_tuple(client.detect(path))
            m = match_detections(ref, got, conf_threshold=0.25, iou_floor=0.98, score_margin=0.01)
            matched += m.matched
            excused += m.excused
            if not m.passed:
                failures.append(f"{path.name}: {m.missing} missing, {m.extra} extra")
    print(f"{export}/{mode}: {matched} matched, {excused} near the threshold")
    assert not failures, failures
    assert matched > 500 and excused <= 0.01 * matched
