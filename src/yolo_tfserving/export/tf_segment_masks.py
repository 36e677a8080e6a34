"""Instance masks as TensorFlow graph ops: YOLOv5's ``process_mask_native``, one PNG per detection.

The same steps as :mod:`yolo_tfserving.ops.masks` (the numpy reference; its docstring has YOLOv5's
semantics): ``sigmoid(coefficients @ protos)`` at proto resolution, the letterbox padding cut off in
proto pixels (``int()`` of the pad), bilinear resize to the original image size with PyTorch's
``align_corners=False`` taps (TF's ``half_pixel_centers``), zero outside the rounded box, ``> 0.5``.

Every mask is empty outside its integer window (the rounded box clipped to the image), and the resize
and threshold are pointwise per output pixel, so only the window's pixels are computed: each
detection's window is resized straight from the unpadded proto mask through the rows' and columns'
taps, never a full-image mask. Each crop is sent as an 8-bit grayscale PNG (0 or 255).
"""

from __future__ import annotations

import tensorflow as tf

MASK_THRESHOLD = 0.5


def mask_windows(boxes_xyxy: tf.Tensor, image_hw: tf.Tensor) -> tf.Tensor:
    """float32 [k, 4] xyxy boxes in image pixels -> int32 [k, 4] windows ``x0, y0, x1, y1`` (x1/y1 exclusive).

    Rounded half to even (as torch's ``round``), clipped to the image; a box that rounds to nothing
    gives an empty window.
    """
    rounded = tf.round(tf.cast(boxes_xyxy, tf.float64))
    height, width = tf.cast(image_hw[0], tf.float64), tf.cast(image_hw[1], tf.float64)
    x0 = tf.clip_by_value(rounded[:, 0], 0.0, width)
    y0 = tf.clip_by_value(rounded[:, 1], 0.0, height)
    x1 = tf.maximum(tf.clip_by_value(rounded[:, 2], 0.0, width), x0)
    y1 = tf.maximum(tf.clip_by_value(rounded[:, 3], 0.0, height), y0)
    return tf.cast(tf.stack([x0, y0, x1, y1], axis=1), tf.int32)


def unpadded_window(proto_hw: tf.Tensor, image_hw: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The proto-pixel rows ``top:bottom`` and columns ``left:right`` the image covers (YOLOv5's ``int()`` pad)."""
    mask_h, mask_w = tf.cast(proto_hw[0], tf.float64), tf.cast(proto_hw[1], tf.float64)
    h0, w0 = tf.cast(image_hw[0], tf.float64), tf.cast(image_hw[1], tf.float64)
    gain = tf.minimum(mask_h / h0, mask_w / w0)
    pad_w, pad_h = (mask_w - w0 * gain) / 2.0, (mask_h - h0 * gain) / 2.0
    as_int = lambda v: tf.cast(v, tf.int32)  # noqa: E731 - int() of a non-negative float: truncation
    return as_int(pad_h), as_int(pad_w), as_int(mask_h - pad_h), as_int(mask_w - pad_w)


def _taps(out_size: tf.Tensor, in_size: tf.Tensor, start: tf.Tensor, stop: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """PyTorch's ``align_corners=False`` linear taps for output positions ``start:stop`` of one axis:
    (index0, index1, weight of index1), float32 as torch computes them."""
    scale = tf.cast(tf.cast(in_size, tf.float64) / tf.cast(out_size, tf.float64), tf.float32)
    src = (tf.cast(tf.range(start, stop), tf.float32) + 0.5) * scale - 0.5
    src = tf.maximum(src, 0.0)
    index0 = tf.minimum(tf.cast(src, tf.int32), in_size - 1)
    index1 = tf.minimum(index0 + 1, in_size - 1)
    weight1 = tf.clip_by_value(src - tf.cast(index0, tf.float32), 0.0, 1.0)
    return index0, index1, weight1


def window_mask(proto_mask: tf.Tensor, window: tf.Tensor, image_hw: tf.Tensor) -> tf.Tensor:
    """One unpadded proto-resolution mask [h, w] (after the sigmoid) -> bool [y1 - y0, x1 - x0]: the window
    of its bilinear resize to ``image_hw``, thresholded."""
    in_h, in_w = tf.shape(proto_mask)[0], tf.shape(proto_mask)[1]
    y0, y1, wy = _taps(image_hw[0], in_h, window[1], window[3])
    x0, x1, wx = _taps(image_hw[1], in_w, window[0], window[2])
    across = (1.0 - wx) * tf.gather(proto_mask, x0, axis=1) + wx * tf.gather(proto_mask, x1, axis=1)
    values = (1.0 - wy)[:, None] * tf.gather(across, y0, axis=0) + wy[:, None] * tf.gather(across, y1, axis=0)
    return values > MASK_THRESHOLD


def mask_pngs(protos: tf.Tensor, coefficients: tf.Tensor, windows: tf.Tensor, image_hw: tf.Tensor) -> tf.Tensor:
    """One image's protos [mh, mw, nm], kept rows' coefficients [k, nm] and windows [k, 4] -> string [k]:
    each mask's window as an 8-bit grayscale PNG (0 or 255), ``b""`` for an empty window."""
    proto_hw = tf.shape(protos)[:2]
    top, left, bottom, right = unpadded_window(proto_hw, image_hw)
    flat = tf.reshape(protos, [-1, tf.shape(protos)[2]])

    def one(args: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        row, window = args

        def encode() -> tf.Tensor:
            mask = tf.sigmoid(tf.reshape(tf.linalg.matvec(flat, row), proto_hw))[top:bottom, left:right]
            pixels = tf.cast(window_mask(mask, window, image_hw), tf.uint8) * 255
            return tf.io.encode_png(pixels[:, :, None])

        empty = tf.logical_or(window[2] <= window[0], window[3] <= window[1])
        return tf.cond(empty, lambda: tf.constant(b""), encode)

    return tf.map_fn(one, (coefficients, windows), fn_output_signature=tf.TensorSpec([], tf.string))
