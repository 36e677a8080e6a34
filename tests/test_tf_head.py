"""The NHWC Detect head in TensorFlow equals our PyTorch Detect, level by level and in row order."""

from __future__ import annotations

import copy

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from yolo_tfserving import ExportError  # noqa: E402
from yolo_tfserving.export.tf_head import DetectHead, decode, feature_order  # noqa: E402


@pytest.fixture(scope="module")
def detect_and_features(tiny_model):
    model = copy.deepcopy(tiny_model)  # the session's tiny model stays as other tests expect it
    torch.manual_seed(0)
    detect = model.model[-1]
    with torch.no_grad():
        for conv in detect.m:  # random head weights, so every column carries signal
            conv.weight.normal_(0, 0.5)
            conv.bias.normal_(0, 1.0)
        features = model.features(torch.rand(2, 3, 96, 128))
        expected = detect(features).numpy()
    return detect, features, expected


def test_decode_matches_pytorch_detect(detect_and_features):
    detect, features, expected = detect_and_features
    head = DetectHead.from_detect(detect)
    nhwc = [tf.constant(f.permute(0, 2, 3, 1).numpy()) for f in features]
    got = decode(nhwc, head).numpy()
    assert got.shape == expected.shape == (2, 3 * (12 * 16 + 6 * 8 + 3 * 4), 8)
    scale = np.maximum(1.0, np.abs(expected))
    assert np.max(np.abs(got - expected) / scale) < 1e-5
    # boxes (pixels), objectness and class probabilities all line up row by row
    assert np.abs(got[..., :4] - expected[..., :4]).max() < 1e-3
    assert np.abs(got[..., 4:] - expected[..., 4:]).max() < 1e-6


def test_decode_under_tf_function_keeps_dynamic_batch(detect_and_features):
    detect, features, expected = detect_and_features
    head = DetectHead.from_detect(detect)
    specs = [tf.TensorSpec([None, *f.permute(0, 2, 3, 1).shape[1:]], tf.float32) for f in features]
    fn = tf.function(lambda *xs: decode(list(xs), head), input_signature=specs)
    one = fn(*[tf.constant(f[:1].permute(0, 2, 3, 1).numpy()) for f in features]).numpy()
    np.testing.assert_allclose(one, expected[:1], rtol=1e-5, atol=1e-4)


def test_feature_order_pairs_levels_by_shape(detect_and_features):
    detect, _, _ = detect_and_features
    head = DetectHead.from_detect(detect)
    wanted = head.feature_shapes((96, 128))
    assert [s[:2] for s in wanted] == [(12, 16), (6, 8), (3, 4)]
    shuffled = [[None, *wanted[2]], [None, *wanted[0]], [None, *wanted[1]]]
    assert feature_order(shuffled, head, (96, 128)) == [1, 2, 0]
    with pytest.raises(ExportError, match="do not match"):
        feature_order(shuffled[:2], head, (96, 128))
    with pytest.raises(ExportError, match="static NHWC"):
        feature_order([[None, None, 16, 8]], head, (96, 128))


def test_detect_head_validates_its_arrays():
    w = np.zeros((8, 3 * 7), np.float32)
    b = np.zeros(3 * 7, np.float32)
    anchors = np.ones((3, 2), np.float32)
    DetectHead((w,), (b,), (8.0,), (anchors,), num_outputs=7)
    with pytest.raises(ExportError, match="one weight"):
        DetectHead((w, w), (b,), (8.0,), (anchors,), num_outputs=7)
    with pytest.raises(ExportError, match="expected 3 anchors"):
        DetectHead((w,), (b,), (8.0,), (anchors,), num_outputs=6)
    with pytest.raises(ExportError, match="bad Detect level shapes"):
        DetectHead((w,), (b[:-1],), (8.0,), (anchors,), num_outputs=7)


def test_decode_transposes_only_the_box_columns(detect_and_features):
    """The point of the NHWC head: no transpose of the (b, anchors, 5 + nc) predictions."""
    detect, features, _ = detect_and_features
    head = DetectHead.from_detect(detect)
    specs = [tf.TensorSpec([None, *f.permute(0, 2, 3, 1).shape[1:]], tf.float32) for f in features]
    graph = tf.function(lambda *xs: decode(list(xs), head)).get_concrete_function(*specs).graph
    transposes = [op for op in graph.get_operations() if op.type == "Transpose"]
    assert len(transposes) == len(features)
    assert all(op.outputs[0].shape[-1] == 4 for op in transposes)
