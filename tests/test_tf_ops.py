"""The in-graph (TensorFlow) pre/post-processing equals the numpy one, byte for byte."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

from yolo_tfserving.export import tf_ops  # noqa: E402
from yolo_tfserving.ops import NMSConfig, letterbox, non_max_suppression, unletterbox_xyxy  # noqa: E402


@pytest.mark.parametrize("hw", [(480, 640), (333, 500), (720, 405), (640, 640), (17, 1000), (1000, 17)])
def test_letterbox_equals_numpy(hw):
    rng = np.random.default_rng(sum(hw))
    image = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    want, _ = letterbox(image, (640, 640))
    got, source_hw = tf_ops.letterbox(tf.constant(image), (640, 640))
    assert source_hw.numpy().tolist() == list(hw)
    assert np.array_equal(np.round(got.numpy() * 255).astype(np.uint8), want)


def test_decode_matches_pillow_for_jpeg_and_png():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    for fmt in ("JPEG", "PNG"):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt, quality=90)
        pillow = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        ours = tf_ops.decode_rgb(tf.constant(buf.getvalue())).numpy()
        assert np.abs(ours.astype(int) - pillow.astype(int)).max() <= 1, fmt
    gray = io.BytesIO()
    Image.fromarray(image[..., 0]).save(gray, format="PNG")
    assert tf_ops.decode_rgb(tf.constant(gray.getvalue())).numpy().shape == (120, 160, 3)


@pytest.mark.parametrize("agnostic,multi_label", [(False, False), (True, False), (False, True)])
def test_nms_equals_numpy(agnostic, multi_label):
    rng = np.random.default_rng(7)
    pred = np.zeros((3000, 10), np.float32)
    pred[:, :2] = rng.uniform(0, 640, (3000, 2))
    pred[:, 2:4] = rng.uniform(4, 120, (3000, 2))
    pred[:, 4] = rng.uniform(0, 1, 3000) ** 3
    pred[:, 5:] = rng.uniform(0, 1, (3000, 5))
    cfg = NMSConfig(conf_threshold=0.3, iou_threshold=0.45, max_det=100, agnostic=agnostic, multi_label=multi_label)
    want = non_max_suppression(pred, cfg)
    got = tf_ops.nms(tf.constant(pred), tf.constant(0.3), tf.constant(0.45), tf.constant(100), cfg)
    assert len(want[0]) > 5
    np.testing.assert_allclose(got[0].numpy(), want[0], atol=1e-4)
    np.testing.assert_allclose(got[1].numpy(), want[1], atol=1e-6)
    assert got[2].numpy().tolist() == want[2].tolist()


def test_unletterbox_equals_numpy():
    from yolo_tfserving.ops import Letterbox

    plan = Letterbox.plan((333, 500), (640, 640))
    boxes = np.array([[0, 100, 640, 540], [-5, 150, 20, 160], [300, 300, 700, 700]], np.float32)
    want = unletterbox_xyxy(boxes, plan)
    got = tf_ops.unletterbox(tf.constant(boxes), tf.constant([333, 500]), (640, 640)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_raw_bytes_canvases_and_serialized_outputs() -> None:
    """raw_bytes' shared steps (detect, segment and classify exports): bytes -> [0, 1] canvases, and back out."""
    canvases = np.random.default_rng(3).integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)
    images = tf.constant([c.tobytes() for c in canvases])
    got = tf_ops.canvases_from_bytes(images, 4, 6, "4x6x3").numpy()
    np.testing.assert_array_equal(got, canvases.astype(np.float32) / np.float32(255.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="each element of images must hold 4x5x3 uint8 bytes"):
        tf_ops.canvases_from_bytes(images, 4, 5, "4x5x3")
    serialized = tf_ops.serialize_each(tf.constant(got)).numpy()
    assert serialized.shape == (2,)
    back = tf.io.parse_tensor(serialized[1], tf.float32).numpy()
    np.testing.assert_array_equal(back, got[1])
