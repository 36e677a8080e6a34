"""The exported ``tf.Module``: the converted network plus the serving signatures.

Signatures (see the README's "Signatures" section):

- ``serving_default``: ``images`` (DT_STRING [N], encoded JPEG/PNG/GIF/BMP of up to
  ``max_pixels`` pixels, INVALID_ARGUMENT past it; a GIF's first frame) ->
  ``boxes`` [N, max_det, 4] xyxy in source pixels, ``scores``, ``classes``,
  ``class_names``, ``num_detections``; thresholds are the export-time defaults.
- ``detect``: the same, plus per-image ``conf_threshold``, ``iou_threshold`` (float [N]) and
  ``max_det`` (int32 [N], at most the export-time max_det): thresholds per request.
- ``raw``: ``images`` float32 NHWC [N, H, W, 3] in [0, 1] -> ``predictions`` [N, A, 5 + nc].
- ``raw_bytes``: ``images`` DT_STRING [N], each the letterboxed H x W x 3 uint8 pixels as raw
  bytes -> ``predictions_bytes`` [N]: each image's predictions as a serialized float32
  TensorProto. The client-side pipeline's compact REST form: b64 of 1.2 MB in instead of ~10 MB
  of JSON floats (lossless: the canvas is 8-bit), b64 of 8.6 MB out instead of ~25 MB of JSON.
- ``class_names``: ``class_ids`` int32 [N] -> ``class_names`` [N] (the names inside the model).
- ``limits``: ``names`` DT_STRING [N] -> ``values`` int64 [N]: the export-time limits by name
  (``max_pixels``: the image pixel limit, 0 for none; ``max_det``), -1 for an unknown name. How
  a client learns them (TF Serving's metadata carries signatures only, and a signature without
  inputs cannot be called over REST).
- ``predict_nchw`` (optional): ``input`` float32 NCHW [N, 3, H, W] -> ``output``: the
  original write-up's contract.

With ``rect`` (``export --rect``) the network runs at each batch's own size: ``serving_default``
and ``detect`` letterbox to the batch's minimal stride-multiple canvas
(:func:`.tf_ops.letterbox_rect_batch`); ``raw`` and ``predict_nchw`` take any H and W that the
largest stride divides; ``raw_bytes`` takes a second input, ``size_hw`` int32 [2], the canvas size
every element of the batch has. ``limits`` also answers ``size_h``, ``size_w``, ``stride`` and
``rect`` (1 or 0): what a client needs to letterbox for a model whose signature says H = W = -1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tensorflow as tf

from .._errors import InputError
from .._limits import DEFAULT_MAX_PIXELS
from ..ops.nms import NMSConfig
from . import tf_ops

NCHW_SIGNATURE = "predict_nchw"
LIMITS_SIGNATURE = "limits"


@dataclass(frozen=True)
class ServingSpec:
    """Everything about the model the signatures bake in."""

    size_hw: tuple[int, int]
    class_names: tuple[str, ...]
    nms: NMSConfig = field(
        default_factory=NMSConfig
    )  # serving_default's thresholds; the structure (agnostic, multi_label) and cap of both
    max_pixels: int = DEFAULT_MAX_PIXELS
    rect: bool = False  # rectangular inference: see the module docstring
    stride: int = 32  # the model's largest stride (rect canvases are multiples of it)

    def limits(self) -> dict[str, int]:
        """What the ``limits`` signature answers."""
        return {
            "max_pixels": self.max_pixels,
            "max_det": self.nms.max_det,
            "size_h": self.size_hw[0],
            "size_w": self.size_hw[1],
            "stride": self.stride,
            "rect": int(self.rect),
        }


DETECTION_OUTPUTS = ("boxes", "scores", "classes", "class_names", "num_detections")
"""``serving_default`` / ``detect``'s outputs, in :func:`padded_detections`' order (segmentation adds its masks)."""


def padded_detections(
    boxes: tf.Tensor, scores: tf.Tensor, classes: tf.Tensor, class_names: tf.Tensor, k: int
) -> tuple[tf.Tensor, ...]:
    """One image's kept detections padded to ``k`` rows, with their names and count (:data:`DETECTION_OUTPUTS`)."""
    count = tf.shape(scores)[0]
    pad = k - count
    return (
        tf.pad(boxes, [[0, pad], [0, 0]]),
        tf.pad(scores, [[0, pad]]),
        tf.pad(classes, [[0, pad]]),
        tf.pad(tf.gather(class_names, classes), [[0, pad]]),
        count,
    )


def detection_specs(k: int) -> tuple[tf.TensorSpec, ...]:
    """The per-image ``tf.map_fn`` signature of :func:`padded_detections`."""
    return (
        tf.TensorSpec([k, 4], tf.float32),
        tf.TensorSpec([k], tf.float32),
        tf.TensorSpec([k], tf.int32),
        tf.TensorSpec([k], tf.string),
        tf.TensorSpec([], tf.int32),
    )


class YoloServingModule(tf.Module):
    """Wraps a converted network (NHWC float in, raw predictions out)."""

    def __init__(self, network: Callable[[tf.Tensor], tf.Tensor], spec: ServingSpec) -> None:
        super().__init__(name="yolov5")
        self._network = network
        self.spec = spec
        self.class_names = tf.constant(list(spec.class_names), dtype=tf.string)
        h, w = (None, None) if spec.rect else spec.size_hw
        self.raw = tf.function(self._raw, input_signature=[tf.TensorSpec([None, h, w, 3], tf.float32, name="images")])
        self.serving_default = tf.function(
            self._serving_default, input_signature=[tf.TensorSpec([None], tf.string, name="images")]
        )
        self.detect = tf.function(
            self._detect,
            input_signature=[
                tf.TensorSpec([None], tf.string, name="images"),
                tf.TensorSpec([None], tf.float32, name="conf_threshold"),
                tf.TensorSpec([None], tf.float32, name="iou_threshold"),
                tf.TensorSpec([None], tf.int32, name="max_det"),
            ],
        )
        self.raw_bytes = (
            tf.function(
                self._raw_bytes_rect,
                input_signature=[
                    tf.TensorSpec([None], tf.string, name="images"),
                    tf.TensorSpec([2], tf.int32, name="size_hw"),
                ],
            )
            if spec.rect
            else tf.function(self._raw_bytes, input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        )
        self.class_names_fn = tf.function(
            self._class_names, input_signature=[tf.TensorSpec([None], tf.int32, name="class_ids")]
        )
        self.limits_fn = tf.function(self._limits, input_signature=[tf.TensorSpec([None], tf.string, name="names")])
        self.predict_nchw = tf.function(
            self._predict_nchw, input_signature=[tf.TensorSpec([None, 3, h, w], tf.float32, name="input")]
        )

    def _checked_size(self, images: tf.Tensor) -> tf.Tensor:
        """``images`` [N, H, W, C], refused unless the largest stride divides H and W (``--rect``)."""
        if not self.spec.rect:
            return images
        stride = self.spec.stride
        hw = tf.shape(images)[1:3]
        check = tf.debugging.Assert(
            tf.logical_and(tf.reduce_all(hw >= stride), tf.reduce_all(tf.math.floormod(hw, stride) == 0)),
            [f"images height and width must be positive multiples of {stride} (the model's stride); got", hw],
        )
        with tf.control_dependencies([check]):
            return tf.identity(images)

    def _raw(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"predictions": self._network(self._checked_size(images))}

    def _raw_bytes(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        h, w = self.spec.size_hw
        return self._predictions_bytes(images, h, w, f"{h}x{w}x3")

    def _raw_bytes_rect(self, images: tf.Tensor, size_hw: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predictions_bytes(images, size_hw[0], size_hw[1], "size_hw[0] x size_hw[1] x 3")

    def _predictions_bytes(
        self, images: tf.Tensor, h: int | tf.Tensor, w: int | tf.Tensor, what: str
    ) -> dict[str, tf.Tensor]:
        predictions = self._network(self._checked_size(tf_ops.canvases_from_bytes(images, h, w, what)))
        return {"predictions_bytes": tf_ops.serialize_each(predictions)}

    def _class_names(self, class_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"class_names": tf.gather(self.class_names, class_ids)}

    def _limits(self, names: tf.Tensor) -> dict[str, tf.Tensor]:
        limits = self.spec.limits()
        keys = tf.constant(list(limits), tf.string)
        values = tf.constant(list(limits.values()), tf.int64)
        hits = tf.equal(names[:, None], keys[None, :])  # [N, K]: at most one hit per row
        found = tf.reduce_sum(tf.where(hits, values[None, :], tf.zeros_like(values)[None, :]), axis=1)
        return {"values": tf.where(tf.reduce_any(hits, axis=1), found, tf.constant(-1, tf.int64))}

    def _predict_nchw(self, input: tf.Tensor) -> dict[str, tf.Tensor]:  # noqa: A002 - the contract's name
        return {"output": self._network(self._checked_size(tf.transpose(input, [0, 2, 3, 1])))}

    def _serving_default(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        n = tf.shape(images)[0]
        return self._run(
            images,
            tf.fill([n], tf.constant(self.spec.nms.conf_threshold, tf.float32)),
            tf.fill([n], tf.constant(self.spec.nms.iou_threshold, tf.float32)),
            tf.fill([n], tf.constant(self.spec.nms.max_det, tf.int32)),
        )

    def _detect(
        self, images: tf.Tensor, conf_threshold: tf.Tensor, iou_threshold: tf.Tensor, max_det: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        checks = [
            tf.debugging.assert_equal(
                tf.shape(conf_threshold), tf.shape(images), message="conf_threshold needs one value per image"
            ),
            tf.debugging.assert_equal(
                tf.shape(iou_threshold), tf.shape(images), message="iou_threshold needs one value per image"
            ),
            tf.debugging.assert_equal(tf.shape(max_det), tf.shape(images), message="max_det needs one value per image"),
            tf.debugging.assert_greater_equal(conf_threshold, 0.0, message="conf_threshold must be in [0, 1]"),
            tf.debugging.assert_less_equal(conf_threshold, 1.0, message="conf_threshold must be in [0, 1]"),
            tf.debugging.assert_greater_equal(iou_threshold, 0.0, message="iou_threshold must be in [0, 1]"),
            tf.debugging.assert_less_equal(iou_threshold, 1.0, message="iou_threshold must be in [0, 1]"),
            tf.debugging.assert_positive(max_det, message="max_det must be >= 1"),
        ]
        with tf.control_dependencies(checks):
            capped = tf.minimum(max_det, self.spec.nms.max_det)
            return self._run(images, conf_threshold, iou_threshold, capped)

    def _canvases(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tuple[int, int] | tf.Tensor]:
        """Encoded images -> (canvases, source_hw [N, 2], canvas size): square, or per batch (``rect``)."""
        size_hw = self.spec.size_hw
        if self.spec.rect:
            return tf_ops.letterbox_rect_batch(images, size_hw, self.spec.stride, self.spec.max_pixels)
        canvases, source_hw = tf.map_fn(
            lambda b: tf_ops.letterbox(tf_ops.decode_rgb(b, self.spec.max_pixels), size_hw),
            images,
            fn_output_signature=(tf.TensorSpec([*size_hw, 3], tf.float32), tf.TensorSpec([2], tf.int32)),
            parallel_iterations=4,
        )
        return canvases, source_hw, size_hw

    def _run(self, images: tf.Tensor, conf: tf.Tensor, iou: tf.Tensor, max_det: tf.Tensor) -> dict[str, tf.Tensor]:
        canvases, source_hw, canvas_hw = self._canvases(images)
        predictions = self._network(canvases)
        k = self.spec.nms.max_det

        def per_image(args: Sequence[tf.Tensor]) -> tuple[tf.Tensor, ...]:
            pred, hw, c, i, m = args
            boxes, scores, classes = tf_ops.nms(pred, c, i, m, self.spec.nms)
            boxes = tf_ops.unletterbox(boxes, hw, canvas_hw)
            return padded_detections(boxes, scores, classes, self.class_names, k)

        outputs = tf.map_fn(
            per_image, (predictions, source_hw, conf, iou, max_det), fn_output_signature=detection_specs(k)
        )
        return dict(zip(DETECTION_OUTPUTS, outputs, strict=True))

    def signatures(self, *, nchw: str = "none") -> dict[str, object]:
        """The signature map for ``tf.saved_model.save`` (nchw: none | add | default)."""
        sigs: dict[str, object] = {
            "serving_default": self.serving_default.get_concrete_function(),
            "detect": self.detect.get_concrete_function(),
            "raw": self.raw.get_concrete_function(),
            "raw_bytes": self.raw_bytes.get_concrete_function(),
            "class_names": self.class_names_fn.get_concrete_function(),
            LIMITS_SIGNATURE: self.limits_fn.get_concrete_function(),
        }
        if nchw == "add":
            sigs[NCHW_SIGNATURE] = self.predict_nchw.get_concrete_function()
        elif nchw == "default":
            sigs["detect_images"] = sigs["serving_default"]
            sigs["serving_default"] = self.predict_nchw.get_concrete_function()
        elif nchw != "none":
            raise InputError(f"nchw must be none, add or default, got {nchw!r}")
        return sigs
