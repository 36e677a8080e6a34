"""The letterbox is byte-identical to YOLOv5's own (cv2.resize INTER_LINEAR + copyMakeBorder 114),
in numpy (the client) and in the graph (TensorFlow), on random images and on all of coco128."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import coco128_images
from yolo_tfserving.ops import Letterbox, letterbox
from yolo_tfserving.ops.cv_resize import is_exact_half, resize_linear

cv2 = pytest.importorskip("cv2")


def yolov5_letterbox(
    im: np.ndarray, new_shape: tuple[int, int] = (640, 640), *, auto: bool = False, stride: int = 32
) -> np.ndarray:
    """YOLOv5's utils/augmentations.py letterbox() (scaleup, no scaleFill), the reference."""
    h, w = im.shape[:2]
    r = min(new_shape[0] / h, new_shape[1] / w)
    new_unpad = (int(round(w * r)), int(round(h * r)))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != new_unpad:
        im = cv2.resize(im, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def cv_resize(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    out = cv2.resize(image, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_LINEAR)
    return out.reshape(size_hw[0], size_hw[1], image.shape[2])  # cv2 drops a single channel axis


def _first_mismatch(ours: np.ndarray, theirs: np.ndarray) -> str:
    if ours.shape != theirs.shape:
        return f"shape {ours.shape} != {theirs.shape}"
    where = np.argwhere(ours != theirs)
    return f"{len(where)} bytes differ, first at {where[0].tolist()}" if len(where) else "equal"


# Widths around OpenCV's SIMD lane counts (16/32/64 bytes, in pixels and in bytes of a 3-channel
# row), odd widths, 1-pixel images, up- and down-scaling, exact halvings and doublings.
EDGE_SIZES = (1, 2, 3, 5, 15, 16, 17, 21, 32, 33, 48, 63, 64, 65, 127, 333, 640, 641)


@pytest.mark.parametrize("src", [(1, 1), (1, 7), (7, 1), (3, 5), (17, 64), (64, 17), (333, 500), (480, 641)])
def test_resize_equals_opencv_on_a_size_grid(src: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(src))
    image = rng.integers(0, 256, (*src, 3), dtype=np.uint8)
    targets = set(itertools.product(EDGE_SIZES[::3], EDGE_SIZES[1::3]))
    targets |= {(src[0] * 2, src[1] * 2), (max(1, src[0] // 2), max(1, src[1] // 2)), (src[0], src[1] + 1)}
    for size in sorted(targets):
        ours, theirs = resize_linear(image, size), cv_resize(image, size)
        assert np.array_equal(ours, theirs), (src, size, _first_mismatch(ours, theirs))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_resize_equals_opencv_on_random_sizes(channels: int) -> None:
    rng = np.random.default_rng(channels)
    for _ in range(150):
        src = tuple(int(v) for v in rng.integers(1, 300, 2))
        kind = rng.random()
        if kind < 0.2:  # an exact halving: OpenCV switches to its 2x2 INTER_AREA path
            src = (src[0] * 2, src[1] * 2)
            size = (src[0] // 2, src[1] // 2)
        else:
            size = tuple(int(v) for v in rng.integers(1, 700, 2))
        image = rng.integers(0, 256, (*src, channels), dtype=np.uint8)
        ours, theirs = resize_linear(image, size), cv_resize(image, size)  # type: ignore[arg-type]
        assert np.array_equal(ours, theirs), (channels, src, size, _first_mismatch(ours, theirs))


def test_exact_half_is_decided_like_opencv() -> None:
    # OpenCV: |1 / (dst/src) - 2| < DBL_EPSILON on both axes; ours: src == 2 * dst
    eps = sys.float_info.epsilon
    for src in range(1, 1500):
        for dst in {src // 2 - 1, src // 2, src // 2 + 1, (src + 1) // 2, 1, src}:
            if dst >= 1:
                opencv = abs(1.0 / (dst / src) - 2.0) < eps
                assert is_exact_half((src, src), (dst, dst)) == opencv, (src, dst)
    assert is_exact_half((720, 1280), (360, 640))
    assert not is_exact_half((720, 1281), (360, 640))
    assert not is_exact_half((720, 1280), (240, 640))  # both axes must halve


def test_resize_takes_strided_views_and_rejects_bad_input() -> None:
    rng = np.random.default_rng(9)
    view = rng.integers(0, 256, (301, 403, 3), dtype=np.uint8)[1:, 3:]
    assert np.array_equal(resize_linear(view, (177, 211)), cv_resize(view, (177, 211)))
    with pytest.raises(ValueError, match="uint8"):
        resize_linear(view.astype(np.float32), (10, 10))
    with pytest.raises(ValueError, match="positive"):
        resize_linear(view, (0, 10))


LETTERBOX_SOURCES = [(480, 640), (720, 1280), (1080, 1920), (375, 500), (333, 500), (17, 1000), (1000, 17), (7, 9)]
LETTERBOX_TARGETS = [(640, 640), (320, 320), (384, 640), (640, 480)]


@pytest.mark.parametrize("src", LETTERBOX_SOURCES)
def test_numpy_letterbox_equals_yolov5(src: tuple[int, int]) -> None:
    image = np.random.default_rng(sum(src)).integers(0, 256, (*src, 3), dtype=np.uint8)
    for target in LETTERBOX_TARGETS:
        ours, _ = letterbox(image, target)
        theirs = yolov5_letterbox(image, target)
        assert np.array_equal(ours, theirs), (src, target, _first_mismatch(ours, theirs))


@pytest.fixture(scope="module")
def graph_letterbox() -> Any:
    """tf_ops.letterbox as a traced graph (as the SavedModel runs it: Grappler on), per target size."""
    tf = pytest.importorskip("tensorflow")
    from yolo_tfserving.export import tf_ops

    functions: dict[tuple[int, int], Any] = {}

    def run(image: np.ndarray, target: tuple[int, int]) -> np.ndarray:
        if target not in functions:
            signature = [tf.TensorSpec([None, None, 3], tf.uint8)]
            functions[target] = tf.function(lambda im: tf_ops.letterbox(im, target)[0], input_signature=signature)
        canvas = functions[target](tf.constant(image)).numpy()
        return np.round(canvas * 255.0).astype(np.uint8)

    return run


@pytest.mark.parametrize("src", LETTERBOX_SOURCES)
def test_graph_letterbox_equals_yolov5(graph_letterbox: Any, src: tuple[int, int]) -> None:
    image = np.random.default_rng(sum(src)).integers(0, 256, (*src, 3), dtype=np.uint8)
    for target in LETTERBOX_TARGETS:
        ours = graph_letterbox(image, target)
        theirs = yolov5_letterbox(image, target)
        assert np.array_equal(ours, theirs), (src, target, _first_mismatch(ours, theirs))


def test_letterboxes_equal_yolov5_on_edge_sizes(graph_letterbox: Any) -> None:
    # tiny sources and canvases, doublings and halvings: the resize's edge cases through the letterbox
    rng = np.random.default_rng(4)
    for src in [(1, 1), (1, 5), (5, 1), (17, 33), (64, 65), (333, 500), (720, 1280)]:
        image = rng.integers(0, 256, (*src, 3), dtype=np.uint8)
        for target in [(1, 1), (3, 2), (16, 16), (33, 17), (src[0] * 2, src[1] * 2), (max(1, src[0] // 2), 1)]:
            if 0 in Letterbox.plan(src, target).resized_hw:
                continue  # a side rounds to 0 pixels: cv2.resize (so YOLOv5) raises; see the next test
            theirs = yolov5_letterbox(image, target)
            ours, _ = letterbox(image, target)
            assert np.array_equal(ours, theirs), (src, target, "numpy", _first_mismatch(ours, theirs))
            graph = graph_letterbox(image, target)
            assert np.array_equal(graph, theirs), (src, target, "graph", _first_mismatch(graph, theirs))


@pytest.mark.parametrize("src,resized", [((1, 2000), (0, 640)), ((2000, 1), (640, 0))])
def test_a_side_rounding_to_zero_pixels_leaves_a_grey_canvas(
    graph_letterbox: Any, src: tuple[int, int], resized: tuple[int, int]
) -> None:
    image = np.full((*src, 3), 9, np.uint8)  # 640/2000 = 0.32: the 1-pixel side becomes round(0.32) = 0
    assert Letterbox.plan(src, (640, 640)).resized_hw == resized
    ours, _ = letterbox(image, (640, 640))
    assert (ours == 114).all()
    assert (graph_letterbox(image, (640, 640)) == 114).all()


def test_graph_letterbox_traces_with_static_tiny_shapes() -> None:
    # traced on a concrete shape, every tf.cond branch is built: none may fail shape inference
    tf = pytest.importorskip("tensorflow")
    from yolo_tfserving.export import tf_ops

    rng = np.random.default_rng(6)
    for src in [(1, 1), (2000, 1), (1, 3), (3, 2), (5, 640)]:
        image = rng.integers(0, 256, (*src, 3), dtype=np.uint8)
        traced = tf.function(lambda im: tf_ops.letterbox(im, (640, 640))[0])
        canvas = np.round(traced(tf.constant(image)).numpy() * 255.0).astype(np.uint8)
        if 0 not in Letterbox.plan(src, (640, 640)).resized_hw:
            assert np.array_equal(canvas, yolov5_letterbox(image, (640, 640))), src
        else:
            assert (canvas == 114).all(), src


def _coco_bgr() -> list[tuple[Path, np.ndarray]]:
    paths = coco128_images()
    if not paths:
        pytest.skip("coco128 is absent (it lives in ../shared)")
    return [(p, cv2.imread(str(p))) for p in paths]


@pytest.mark.shared
def test_coco128_letterboxes_equal_yolov5(graph_letterbox: Any) -> None:
    """Every coco128 image: square 640 (detect/val), rectangular 384x640 and 640x480 (val --rect
    batch shapes) and the minimal stride-32 rectangle (detect.py's auto=True), numpy and graph."""
    images = _coco_bgr()
    checked = 0
    for path, bgr in images:
        auto = yolov5_letterbox(bgr, (640, 640), auto=True)
        for target in [(640, 640), (384, 640), (640, 480), auto.shape[:2]]:
            theirs = auto if target == auto.shape[:2] else yolov5_letterbox(bgr, target)
            ours, _ = letterbox(bgr, target)
            assert np.array_equal(ours, theirs), (path.name, target, "numpy", _first_mismatch(ours, theirs))
            graph = graph_letterbox(bgr, target)
            assert np.array_equal(graph, theirs), (path.name, target, "graph", _first_mismatch(graph, theirs))
            checked += 1
    assert checked == 4 * len(images)
