"""YOLOv5's pre- and post-processing as TensorFlow graph ops (for the in-graph signatures).

Mirrors :mod:`yolo_tfserving.ops` step for step: JPEG decoded with the accurate IDCT (as
OpenCV and Pillow decode), letterbox with YOLOv5's rounding (float64 scalars, half-to-even
rounding like Python's ``round``), OpenCV's fixed-point INTER_LINEAR resize (byte for byte,
see :mod:`.tf_resize`), grey 114 padding; NMS with YOLOv5's candidate rules; boxes mapped
back and clipped.
"""

from __future__ import annotations

import tensorflow as tf

from .._limits import DEFAULT_MAX_PIXELS
from ..ops.letterbox import PAD_VALUE
from ..ops.nms import CLASS_OFFSET, NMSConfig
from . import tf_gif, tf_images, tf_resize


def decode_rgb(encoded: tf.Tensor, max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP bytes -> HxWx3 uint8 RGB (a GIF's first frame).

    An image whose header states more than ``max_pixels`` pixels (0: no limit) is refused with
    INVALID_ARGUMENT before it is decoded (see :mod:`.tf_images`).
    """
    if max_pixels > 0:
        encoded = tf_images.refuse_past_limit(encoded, tf_images.header_size(encoded), max_pixels, "the image")

    def jpeg() -> tf.Tensor:
        return tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE")

    def gif() -> tf.Tensor:
        return tf_gif.first_gif_frame(encoded, max_pixels)

    def other() -> tf.Tensor:
        data = tf.cond(tf_images.is_gif(encoded), gif, lambda: encoded)
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        return tf.ensure_shape(image, [None, None, 3])

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def resized_size(source_hw: tf.Tensor, target_hw: tuple[int, int]) -> tf.Tensor:
    """int32 [..., 2] source sizes -> the sizes YOLOv5 resizes them to for ``target_hw`` (aspect kept)."""
    hf = tf.cast(source_hw[..., 0], tf.float64)
    wf = tf.cast(source_hw[..., 1], tf.float64)
    scale = tf.minimum(float(target_hw[0]) / hf, float(target_hw[1]) / wf)
    return tf.cast(tf.stack([tf.round(hf * scale), tf.round(wf * scale)], -1), tf.int32)


def rect_canvas_hw(resized_hw: tf.Tensor, target_hw: tuple[int, int], stride: int) -> tf.Tensor:
    """YOLOv5's ``letterbox(auto=True)`` canvas for images resized to ``resized_hw`` [..., 2]."""
    return resized_hw + tf.math.floormod(tf.constant(target_hw, tf.int32) - resized_hw, stride)


def place(image: tf.Tensor, resized_hw: tf.Tensor, canvas_hw: tf.Tensor) -> tf.Tensor:
    """Resize an HxWx3 uint8 image to ``resized_hw`` and centre it in a grey ``canvas_hw`` canvas.

    Returns float32 in [0, 1]; padding split as YOLOv5 splits it (``round(d - 0.1)`` first).
    """
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    new_h, new_w = resized_hw[0], resized_hw[1]
    dh = tf.cast(canvas_hw[0] - new_h, tf.float64) / 2.0
    dw = tf.cast(canvas_hw[1] - new_w, tf.float64) / 2.0
    top = tf.cast(tf.round(dh - 0.1), tf.int32)
    left = tf.cast(tf.round(dw - 0.1), tf.int32)

    def resize() -> tf.Tensor:
        return tf_resize.resize_linear(image, new_h, new_w)  # cv2 INTER_LINEAR's bytes, as float32

    def keep() -> tf.Tensor:
        return tf.cast(image, tf.float32)

    same = tf.logical_and(tf.equal(new_h, h), tf.equal(new_w, w))
    body = tf.cond(same, keep, resize)
    paddings = tf.stack(
        [
            tf.stack([top, canvas_hw[0] - new_h - top]),
            tf.stack([left, canvas_hw[1] - new_w - left]),
            tf.constant([0, 0]),
        ]
    )
    return tf.pad(body, paddings, constant_values=float(PAD_VALUE)) / 255.0


def letterbox(image: tf.Tensor, target_hw: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    """HxWx3 uint8 -> (target_h x target_w x 3 float32 in [0, 1], source_hw int32[2])."""
    source_hw = tf.shape(image)[:2]
    canvas = place(image, resized_size(source_hw, target_hw), tf.constant(target_hw, tf.int32))
    return tf.ensure_shape(canvas, [target_hw[0], target_hw[1], 3]), source_hw


def letterbox_rect_batch(
    images: tf.Tensor, target_hw: tuple[int, int], stride: int, max_pixels: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Encoded images [N] -> (canvases [N, H, W, 3], source_hw [N, 2], canvas_hw [2]) for ``--rect``.

    Each image is resized as for ``target_hw`` and centred in the batch's canvas: the smallest
    that holds every image's own ``letterbox(auto=True)`` rectangle (one image: exactly its own).
    """
    n = tf.shape(images)[0]
    decoded = tf.TensorArray(tf.uint8, size=n, infer_shape=False, element_shape=tf.TensorShape([None, None, 3]))
    sizes = tf.TensorArray(tf.int32, size=n, element_shape=tf.TensorShape([2]))

    def decode_one(i: tf.Tensor, pixels: tf.TensorArray, hws: tf.TensorArray) -> tuple[tf.Tensor, ...]:
        image = decode_rgb(images[i], max_pixels)
        return i + 1, pixels.write(i, image), hws.write(i, tf.shape(image)[:2])

    _, decoded, sizes = tf.while_loop(
        lambda i, *_: i < n, decode_one, (tf.constant(0), decoded, sizes), parallel_iterations=4
    )
    source_hw = tf.reshape(sizes.stack(), [-1, 2])
    resized = resized_size(source_hw, target_hw)
    canvas_hw = tf.reduce_max(rect_canvas_hw(resized, target_hw, stride), axis=0)
    canvases = tf.map_fn(
        lambda i: place(decoded.read(i), resized[i], canvas_hw),
        tf.range(n),
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32),
        parallel_iterations=4,
    )
    return canvases, source_hw, canvas_hw


def unletterbox(boxes: tf.Tensor, source_hw: tf.Tensor, target_hw: tuple[int, int] | tf.Tensor) -> tf.Tensor:
    """xyxy boxes on the ``target_hw`` canvas -> source pixels, clipped (YOLOv5's scale_boxes)."""
    hf = tf.cast(source_hw[0], tf.float64)
    wf = tf.cast(source_hw[1], tf.float64)
    th = tf.cast(target_hw[0], tf.float64)
    tw = tf.cast(target_hw[1], tf.float64)
    gain = tf.minimum(th / hf, tw / wf)
    pad_x = tf.cast((tw - wf * gain) / 2.0, tf.float32)
    pad_y = tf.cast((th - hf * gain) / 2.0, tf.float32)
    gain32 = tf.cast(gain, tf.float32)
    x1 = (boxes[:, 0] - pad_x) / gain32
    y1 = (boxes[:, 1] - pad_y) / gain32
    x2 = (boxes[:, 2] - pad_x) / gain32
    y2 = (boxes[:, 3] - pad_y) / gain32
    wmax = tf.cast(source_hw[1], tf.float32)
    hmax = tf.cast(source_hw[0], tf.float32)
    return tf.stack(
        [
            tf.clip_by_value(x1, 0.0, wmax),
            tf.clip_by_value(y1, 0.0, hmax),
            tf.clip_by_value(x2, 0.0, wmax),
            tf.clip_by_value(y2, 0.0, hmax),
        ],
        axis=1,
    )


def nms(
    prediction: tf.Tensor,
    conf_threshold: tf.Tensor,
    iou_threshold: tf.Tensor,
    max_det: tf.Tensor,
    options: NMSConfig,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One image's ``(anchors, 5 + nc)`` -> (xyxy[k, 4], scores[k], classes[k] int32), k <= max_det.

    The thresholds and ``max_det`` are tensors (chosen per request); ``options`` gives the structure
    (``multi_label``, ``agnostic``, ``max_nms``); its own thresholds are not used here.
    """
    boxes, scores, classes, _ = nms_rows(prediction, conf_threshold, iou_threshold, max_det, options)
    return boxes, scores, classes


def nms_rows(
    prediction: tf.Tensor,
    conf_threshold: tf.Tensor,
    iou_threshold: tf.Tensor,
    max_det: tf.Tensor,
    options: NMSConfig,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """:func:`nms`, plus each survivor's row in ``prediction`` (int32 [k]): what a segmentation model
    gathers its mask coefficients by (YOLOv5's NMS carries them through the same way)."""
    rows = tf.where(prediction[:, 4] > conf_threshold)[:, 0]
    candidates = tf.gather(prediction, rows)
    class_scores = candidates[:, 5:] * candidates[:, 4:5]
    cxcy, wh = candidates[:, 0:2], candidates[:, 2:4]
    boxes = tf.concat([cxcy - wh / 2.0, cxcy + wh / 2.0], axis=1)
    if options.multi_label:
        hits = tf.where(class_scores > conf_threshold)
        boxes, rows = tf.gather(boxes, hits[:, 0]), tf.gather(rows, hits[:, 0])
        scores = tf.gather_nd(class_scores, hits)
        classes = tf.cast(hits[:, 1], tf.int32)
    else:
        classes = tf.argmax(class_scores, axis=1, output_type=tf.int32)
        scores = tf.reduce_max(class_scores, axis=1)
        keep = scores > conf_threshold
        boxes, scores, classes, rows = (tf.boolean_mask(t, keep) for t in (boxes, scores, classes, rows))
    count = tf.shape(scores)[0]
    top = tf.math.top_k(scores, k=tf.minimum(count, options.max_nms), sorted=True).indices
    boxes, scores, classes, rows = (tf.gather(t, top) for t in (boxes, scores, classes, rows))
    offset = 0.0 if options.agnostic else CLASS_OFFSET
    shifted = boxes + tf.cast(classes, tf.float32)[:, None] * offset
    kept = tf.image.non_max_suppression(shifted, scores, max_output_size=max_det, iou_threshold=iou_threshold)
    picked = (tf.gather(t, kept) for t in (boxes, scores, classes, rows))
    boxes, scores, classes, rows = picked
    return boxes, scores, classes, tf.cast(rows, tf.int32)


def canvases_from_bytes(images: tf.Tensor, h: int | tf.Tensor, w: int | tf.Tensor, what: str) -> tf.Tensor:
    """``raw_bytes``' input: each element an H x W x 3 uint8 canvas as raw bytes -> float32 [N, H, W, 3] in
    [0, 1]; an element of another length is INVALID_ARGUMENT naming ``what`` it must hold."""
    pixels = tf.io.decode_raw(images, tf.uint8)
    checks = [
        tf.debugging.assert_equal(
            tf.shape(pixels)[1], h * w * 3, message=f"each element of images must hold {what} uint8 bytes"
        )
    ]
    with tf.control_dependencies(checks):
        return tf.cast(tf.reshape(pixels, [-1, h, w, 3]), tf.float32) / 255.0


def serialize_each(batch: tf.Tensor) -> tf.Tensor:
    """One serialized TensorProto per batch element (``raw_bytes``' outputs: the ``_bytes`` suffix of their
    names makes TF Serving's REST send them as b64)."""
    return tf.map_fn(tf.io.serialize_tensor, batch, fn_output_signature=tf.string)
