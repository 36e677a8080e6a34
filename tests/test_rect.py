"""Rectangular inference (``export --rect``) and rectangular sizes (``export --imgsz H W``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import running_server
from yolo_tfserving.ops import Letterbox, batch_canvas_hw, letterbox, rect_canvas_hw


# -- the numpy letterbox: YOLOv5's letterbox(auto=True) ------------------------------------------
@pytest.mark.parametrize(
    ("source_hw", "canvas_hw"),
    [
        ((480, 640), (480, 640)),  # 4:3 landscape: no padding at all
        ((640, 480), (640, 480)),  # portrait
        ((427, 640), (448, 640)),  # 427 + (640 - 427) % 32 = 448
        ((333, 500), (448, 640)),  # resized to 426 x 640, padded by 214 % 32 = 22
        ((500, 666), (480, 640)),  # 480.48 rounds to 480: no padding
        ((640, 640), (640, 640)),
        ((100, 1000), (64, 640)),  # 64 x 640
    ],
)
def test_rect_canvas_is_yolov5s_auto_letterbox(source_hw: tuple[int, int], canvas_hw: tuple[int, int]) -> None:
    assert rect_canvas_hw(source_hw, (640, 640), 32) == canvas_hw
    image = np.zeros((*source_hw, 3), np.uint8)
    canvas, plan = letterbox(image, (640, 640), stride=32)
    assert canvas.shape[:2] == canvas_hw and plan.target_hw == canvas_hw
    # the padding is YOLOv5's: dh = ((640 - new_h) % 32) / 2, top = round(dh - 0.1)
    dh = ((640 - plan.resized_hw[0]) % 32) / 2
    dw = ((640 - plan.resized_hw[1]) % 32) / 2
    assert (plan.pad_top, plan.pad_left) == (round(dh - 0.1), round(dw - 0.1))
    assert plan.resized_hw == Letterbox.plan(source_hw, (640, 640)).resized_hw  # resized as for the square


def test_batch_canvas_holds_every_image() -> None:
    assert batch_canvas_hw([(480, 640), (427, 640)], (640, 640), 32) == (480, 640)
    assert batch_canvas_hw([(480, 640), (640, 480)], (640, 640), 32) == (640, 640)  # mixed: the square
    assert batch_canvas_hw([(100, 1000)], (640, 640), 32) == (64, 640)
    with pytest.raises(ValueError, match="at least one image"):
        batch_canvas_hw([], (640, 640), 32)
    # a batch of one is the image's own canvas; more images centre in the shared one
    image = np.full((427, 640, 3), 7, np.uint8)
    canvas, plan = letterbox(image, (640, 640), canvas_hw=(480, 640))
    assert canvas.shape[:2] == (480, 640) and plan.pad_top == round((480 - 427) / 2 - 0.1)
    with pytest.raises(ValueError, match="cannot hold"):
        letterbox(image, (640, 640), canvas_hw=(416, 640))


def test_letterbox_batch_is_the_one_pipeline_step() -> None:
    """ops.letterbox_batch / detections_from_predictions: the steps every numpy caller shares."""
    from yolo_tfserving.ops import (
        NMSConfig,
        detections_from_predictions,
        letterbox_batch,
        non_max_suppression,
        unletterbox_xyxy,
    )

    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (*hw, 3), np.uint8) for hw in ((48, 64), (40, 64))]
    square, plans = letterbox_batch(images, (64, 64))
    assert square.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(square[1], letterbox(images[1], (64, 64))[0])
    rect, rect_plans = letterbox_batch(images, (64, 64), rect_stride=32)
    assert rect.shape == (2, 64, 64, 3)  # 48 -> 64 (48 + 16), 40 -> 64 (40 + 24): the batch's canvas
    rect, rect_plans = letterbox_batch(images[:1], (64, 64), rect_stride=16)
    assert rect.shape == (1, 48, 64, 3) and rect_plans[0].target_hw == (48, 64)
    pred = np.zeros((50, 7), np.float32)
    pred[:, :2] = rng.uniform(0, 64, (50, 2))
    pred[:, 2:4] = rng.uniform(2, 20, (50, 2))
    pred[:, 4:] = rng.uniform(0, 1, (50, 3))
    cfg = NMSConfig(conf_threshold=0.1)
    xyxy, scores, classes = detections_from_predictions(pred, plans[0], cfg)
    want = non_max_suppression(pred, cfg)
    np.testing.assert_allclose(xyxy, unletterbox_xyxy(want[0], plans[0]))
    assert scores.tolist() == want[1].tolist() and classes.tolist() == want[2].tolist() and len(scores) > 0


def test_imgsz_parsing() -> None:
    from yolo_tfserving._errors import InputError
    from yolo_tfserving.cli.main import _parse_imgsz, join_imgsz
    from yolo_tfserving.export.pipeline import image_size_hw

    assert join_imgsz(["export", "m.pt", "--imgsz", "480", "640", "--out", "r"]) == [
        "export",
        "m.pt",
        "--imgsz",
        "480,640",
        "--out",
        "r",
    ]
    assert join_imgsz(["export", "--imgsz", "640", "m.pt"]) == ["export", "--imgsz", "640", "m.pt"]
    assert _parse_imgsz("480,640") == (480, 640) and _parse_imgsz("640") == (640,)
    assert image_size_hw(640) == (640, 640) and image_size_hw((480, 640)) == (480, 640)
    for bad in ((480, 650), (0,), (1, 2, 3)):
        with pytest.raises(InputError, match="multiple of 32"):
            image_size_hw(bad)
    with pytest.raises(InputError, match="--imgsz"):
        _parse_imgsz("480x")


# -- a --rect export of a tiny random model --------------------------------------------------------
@pytest.fixture(scope="module")
def rect_export(tmp_path_factory: Any, tiny_checkpoint: Path) -> tuple[Path, Any]:
    pytest.importorskip("onnx2tf")
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    out = tmp_path_factory.mktemp("rect-repo")
    result = export_model(tiny_checkpoint, out, options=ExportOptions(imgsz=128, rect=True))
    return out, result


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    images = []
    for hw in ((96, 128), (60, 128), (128, 80), (50, 70)):
        image = rng.integers(0, 256, (*hw, 3), np.uint8)
        image[hw[0] // 4 : hw[0] // 2, hw[1] // 4 : hw[1] // 2] = (250, 20, 20)
        images.append(image)
    return images


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def test_rect_export_passes_parity_at_rectangular_sizes(rect_export: tuple[Path, Any]) -> None:
    _, result = rect_export
    parity = result.parity
    assert parity["passed"], parity
    # the synthetic images (480x640, 333x500, 720x405 at 128) ran at their own rectangles
    assert parity["raw_max_scaled_diff"]["savedmodel_raw"] <= 1e-3
    meta = result.version_dir / "assets.extra" / "yolo_tfserving.json"
    assert '"rect": true' in meta.read_text()


def test_raw_takes_any_stride_multiple(rect_export: tuple[Path, Any], tiny_model: Any) -> None:
    tf = pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    _, result = rect_export
    raw = tf.saved_model.load(str(result.version_dir)).signatures["raw"]
    rng = np.random.default_rng(0)
    for hw in ((128, 128), (96, 128), (128, 64), (32, 96)):
        x = rng.random((2, *hw, 3), dtype=np.float32)
        got = raw(images=tf.constant(x))["predictions"].numpy()
        with torch.no_grad():
            want = tiny_model.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        assert got.shape == want.shape
        assert (np.abs(got - want) / np.maximum(1.0, np.abs(want))).max() <= 1e-3
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 32"):
        raw(images=tf.constant(np.zeros((1, 100, 128, 3), np.float32)))


def test_serving_default_runs_each_image_at_its_rectangle(rect_export: tuple[Path, Any], tiny_model: Any) -> None:
    """In-graph detections equal the numpy reference with YOLOv5's auto letterbox, image by image and
    for a batch (every image in the batch's shared canvas)."""
    tf = pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    from yolo_tfserving.ops import NMSConfig, non_max_suppression, unletterbox_xyxy

    _, result = rect_export
    loaded = tf.saved_model.load(str(result.version_dir))
    detect = loaded.signatures["detect"]
    images = _images()
    cfg = NMSConfig(conf_threshold=0.001, iou_threshold=0.45, max_det=300)

    def reference(batch: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        canvas_hw = batch_canvas_hw([im.shape[:2] for im in batch], (128, 128), 32)
        out = []
        for image in batch:
            canvas, plan = letterbox(image, (128, 128), canvas_hw=canvas_hw)
            x = torch.from_numpy((canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy())
            with torch.no_grad():
                pred = tiny_model.eval()(x).numpy()[0]
            boxes, scores, _ = non_max_suppression(pred, cfg)
            out.append((unletterbox_xyxy(boxes, plan), scores))
        return out

    def served(batch: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        n = len(batch)
        got = detect(
            images=tf.constant([_png(im) for im in batch]),
            conf_threshold=tf.fill([n], 0.001),
            iou_threshold=tf.fill([n], 0.45),
            max_det=tf.fill([n], 300),
        )
        counts = got["num_detections"].numpy()
        return [(got["boxes"].numpy()[i, : counts[i]], got["scores"].numpy()[i, : counts[i]]) for i in range(n)]

    checked = 0
    for batch in [[im] for im in images] + [images[:2], images]:
        for (rb, rs), (cb, cs) in zip(reference(batch), served(batch), strict=True):
            checked += _assert_top_found(rb, rs, cb, cs)
    assert checked > 0


def _assert_top_found(rb: np.ndarray, rs: np.ndarray, cb: np.ndarray, cs: np.ndarray, top: int = 10) -> int:
    """Each of the reference's ``top`` detections is among the candidate's (same box, same score).

    Random weights score many boxes alike, so ranks may swap between equal pipelines; the boxes do not.
    """
    from yolo_tfserving.ops import box_iou

    k = min(len(rs), top)
    assert len(cs) >= k
    if k == 0:
        return 0
    ious = box_iou(rb[:k].astype(np.float64), cb.astype(np.float64))
    for i in range(k):
        hits = (ious[i] >= 0.99) & (np.abs(cs - rs[i]) <= 2e-3)
        assert hits.any(), f"reference detection {i} ({rb[i]}, {rs[i]:.4f}) not among the candidate's"
    return k


def test_limits_say_rect(rect_export: tuple[Path, Any]) -> None:
    tf = pytest.importorskip("tensorflow")
    _, result = rect_export
    limits = tf.saved_model.load(str(result.version_dir)).signatures["limits"]
    names = [b"size_h", b"size_w", b"stride", b"rect", b"nonsense"]
    assert limits(names=tf.constant(names))["values"].numpy().tolist() == [128, 128, 32, 1, -1]


@pytest.fixture(scope="module")
def rect_served(rect_export: tuple[Path, Any]) -> Iterator[Any]:
    out, _ = rect_export
    with running_server(model_name="yolov5", model_base_path=str(out / "yolov5")) as server:
        yield server


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_rect_client_modes_agree(rect_served: Any, protocol: str) -> None:
    from yolo_tfserving import Client

    url = (
        f"http://127.0.0.1:{rect_served.rest_port}"
        if protocol == "rest"
        else f"grpc://127.0.0.1:{rect_served.grpc_port}"
    )
    images = _images()
    with (
        Client(url, mode="server", conf_threshold=0.001) as srv,
        Client(url, mode="client", conf_threshold=0.001) as cli,
    ):
        facts = cli.model_facts()
        assert facts.size_hw == (128, 128) and facts.rect_stride == 32
        for batch in ([images[1]], images[:2], images):
            a, b = srv.detect_batch(batch), cli.detect_batch(batch)
            assert sum(len(x) for x in a) > 0
            for x, y in zip(a, b, strict=True):
                _assert_top_found(x.xyxy, x.confidence, y.xyxy, y.confidence)


def test_fixed_rectangular_imgsz(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """``--imgsz 96 160``: a fixed H x W; the CLI takes YOLOv5's two-value spelling."""
    pytest.importorskip("onnx2tf")
    tf = pytest.importorskip("tensorflow")
    from yolo_tfserving.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["export", str(tiny_checkpoint), "--out", str(tmp_path), "--imgsz", "96", "160", "--no-onnx"])
    assert exited.value.code == 0
    loaded = tf.saved_model.load(str(tmp_path / "yolov5" / "1"))
    assert loaded.signatures["raw"].structured_input_signature[1]["images"].shape.as_list() == [None, 96, 160, 3]
    out = loaded.signatures["serving_default"](images=tf.constant([_png(_images()[0])]))
    assert out["boxes"].shape[1:] == (300, 4)
