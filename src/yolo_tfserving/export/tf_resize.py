"""OpenCV's 8-bit ``INTER_LINEAR`` resize as TensorFlow graph ops, byte for byte.

The same arithmetic as :mod:`yolo_tfserving.ops.cv_resize` (which documents it), for sizes known
only when the graph runs: coefficients in float64/float32 exactly as OpenCV computes them, the two
passes in int32 (gathers, multiplies, arithmetic shifts), and the 2x2 mean where OpenCV swaps in
INTER_AREA for an exact halving. Stock TF ops only (TF Serving runs the graph, no custom kernels).

Cost: TF's column gather (``tf.gather(..., axis=1)``) copies one pixel per index and nothing fuses
the integer ops, so the bilinear path costs several times TF's own fused ``ResizeBilinear``;
the 2x path is one ``avg_pool``. ``bench/letterbox_cost.py`` measures both.
"""

from __future__ import annotations

import tensorflow as tf

from ..ops.cv_resize import COEF_SCALE

_shift = tf.bitwise.right_shift


def _positions(in_size: tf.Tensor, out_size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per output index: floor source index (int32) and float32 fraction, as OpenCV computes them."""
    scale = 1.0 / (tf.cast(out_size, tf.float64) / tf.cast(in_size, tf.float64))
    f = tf.cast((tf.range(out_size, dtype=tf.float64) + 0.5) * scale - 0.5, tf.float32)
    s = tf.floor(f)
    return tf.cast(s, tf.int32), f - s


def _weights(t: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    scale = tf.constant(float(COEF_SCALE), tf.float32)
    w0 = tf.cast(tf.round((1.0 - t) * scale), tf.int32)  # tf.round: half to even, like cvRound
    w1 = tf.cast(tf.round(t * scale), tf.int32)
    return w0, w1


def _column_taps(in_w: tf.Tensor, out_w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    s, t = _positions(in_w, out_w)
    t = tf.where(tf.logical_or(s < 0, s >= in_w - 1), tf.zeros_like(t), t)
    left = tf.clip_by_value(s, 0, in_w - 1)
    w0, w1 = _weights(t)
    return left, tf.minimum(left + 1, in_w - 1), w0, w1


def _row_taps(in_h: tf.Tensor, out_h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    s, t = _positions(in_h, out_h)
    w0, w1 = _weights(t)
    return tf.clip_by_value(s, 0, in_h - 1), tf.clip_by_value(s + 1, 0, in_h - 1), w0, w1


def _half_area(image: tf.Tensor, out_h: tf.Tensor, out_w: tf.Tensor) -> tf.Tensor:
    """2x2 means rounded half up, ``(sum + 2) >> 2``: exact in float32 (quarter-integers)."""
    # reshaped to the (dynamic) doubled output size, so tracing with a static 1-pixel-wide
    # image, where tf.cond builds this branch too, passes shape inference
    pixels = tf.reshape(tf.cast(image, tf.float32), [1, 2 * out_h, 2 * out_w, 3])
    return tf.floor(tf.nn.avg_pool2d(pixels, 2, 2, "VALID")[0] + 0.5)


def _fixed_point_linear(image: tf.Tensor, out_h: tf.Tensor, out_w: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(image)
    x0, x1, wx0, wx1 = _column_taps(shape[1], out_w)
    y0, y1, wy0, wy1 = _row_taps(shape[0], out_h)
    width = out_w * 3
    # The horizontal pass runs once per source row the output reads; rows are flattened to
    # W*3 so every broadcast is a 2-D row or column broadcast (TF's slow case is 3-D).
    rows, row_of_tap = tf.unique(tf.concat([y0, y1], 0))
    taps = tf.gather(tf.gather(image, rows), tf.concat([x0, x1], 0), axis=1)  # U x 2*out_w x 3: left, right
    weighted = tf.cast(tf.reshape(taps, [-1, 2 * width]), tf.int32) * tf.repeat(tf.concat([wx0, wx1], 0), 3)
    horiz = _shift(weighted[:, :width] + weighted[:, width:], 4)  # (p0*wx0 + p1*wx1) >> 4, exact in int32
    vert = _shift(tf.gather(horiz, row_of_tap) * tf.concat([wy0, wy1], 0)[:, None], 16)  # 2*out_h x out_w*3
    out = _shift(vert[:out_h] + vert[out_h:] + 2, 2)
    return tf.cast(tf.reshape(out, [out_h, out_w, 3]), tf.float32)


def resize_linear(image: tf.Tensor, out_h: tf.Tensor, out_w: tf.Tensor) -> tf.Tensor:
    """HxWx3 uint8 -> out_h x out_w x 3 float32 holding ``cv2.resize(..., INTER_LINEAR)``'s bytes.

    Sizes must be positive and differ from the image's (OpenCV copies a same-size image; the
    caller keeps it as is).
    """
    shape = tf.shape(image)
    exact_half = tf.logical_and(tf.equal(shape[0], 2 * out_h), tf.equal(shape[1], 2 * out_w))
    return tf.cond(
        exact_half, lambda: _half_area(image, out_h, out_w), lambda: _fixed_point_linear(image, out_h, out_w)
    )
