"""Parity targets on the real yolov5n and all 128 coco128 images (needs ../shared)."""

from __future__ import annotations

import pytest

from helpers import coco128_images

pytestmark = pytest.mark.shared


def test_real_model_parity_on_coco128(real_export, real_weights):
    from yolo_tfserving.export.parity import ParityOptions, verify_parity

    images = coco128_images()
    if len(images) < 128:
        pytest.skip("coco128 is incomplete in ../shared")
    _, result = real_export
    report = verify_parity(result.version_dir, weights=real_weights, images=images, options=ParityOptions())
    print(report.summary())
    assert report.images == 128
    # raw predictions: |a - b| <= 1e-3 * max(1, |b|) (see export/parity.py for why it is mixed)
    assert report.raw_max_scaled_diff["savedmodel_raw"] <= 1e-3
    assert report.raw_max_scaled_diff["onnxruntime"] <= 1e-3
    # probabilities and offsets (|b| <= 1) are held to 1e-3 absolute by the same rule
    d = report.detections
    assert d.missing == 0 and d.extra == 0, report.per_image_failures
    assert d.matched > 500  # coco128 holds hundreds of confident detections
    assert d.min_iou >= 0.98
    assert report.passed


def test_reference_scene_detections(real_export):
    """000000000009.jpg (labels: bowls, broccoli, oranges): YOLOv5n at 0.25 finds a bowl and broccoli."""
    tf = pytest.importorskip("tensorflow")
    images = coco128_images()
    path = next(p for p in images if p.name == "000000000009.jpg")
    _, result = real_export
    out = tf.saved_model.load(str(result.version_dir)).signatures["serving_default"](
        images=tf.constant([path.read_bytes()])
    )
    n = int(out["num_detections"][0])
    names = {x.decode() for x in out["class_names"].numpy()[0, :n]}
    assert n >= 2 and {"bowl", "broccoli"} <= names


def test_real_raw_network_is_layout_clean(real_export):
    """yolov5n: graph_rewrite leaves the trunk free of transposes; the head transposes only boxes."""
    tf = pytest.importorskip("tensorflow")
    _, result = real_export
    graph = tf.saved_model.load(str(result.version_dir)).signatures["raw"].graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    assert sum(n.op in ("Conv2D", "_FusedConv2D") for n in nodes) >= 60
    assert sum(n.op == "Transpose" for n in nodes) == 3  # one (b, ny*nx, 3, 4) box reorder per level
