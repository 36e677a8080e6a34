"""The exported ``tf.Module`` of a YOLOv5 classifier (``export`` of a ClassificationModel).

Signatures:

- ``serving_default``: ``images`` (DT_STRING [N], encoded JPEG/PNG/GIF/BMP of up to ``max_pixels``
  pixels) -> YOLOv5's classify preprocessing in the graph (:mod:`yolo_tfserving.ops.classify`:
  the centred square, OpenCV's INTER_LINEAR resize byte for byte, /255, ImageNet mean/std) ->
  softmax -> ``classes`` int32 [N, k], ``class_names`` string [N, k], ``scores`` float32 [N, k]
  (probabilities, descending; k = min(5, classes)).
- ``raw``: ``images`` float32 NHWC [N, H, W, 3] in [0, 1], the centre crop already resized
  (``ops.classify.crop_batch``); NOT normalised: the graph applies ImageNet's mean/std, as
  ``serving_default`` does -> ``logits`` float32 [N, classes] (before the softmax).
- ``raw_bytes``: ``images`` DT_STRING [N], each the H x W x 3 uint8 crop as raw bytes -> ``logits``: the
  same as ``raw``, for REST clients (b64 of 150 KB per 224 x 224 image instead of ~3 MB of JSON floats).
- ``class_names``: ``class_ids`` int32 [N] -> ``class_names`` [N].
- ``limits``: ``names`` DT_STRING [N] -> ``values`` int64 [N]: ``size_h``, ``size_w``, ``top_k``,
  ``max_pixels``, ``num_classes``; -1 for an unknown name. ``top_k`` is how a client tells a
  classifier from a detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from .._limits import DEFAULT_MAX_PIXELS
from ..ops.classify import IMAGENET_MEAN, IMAGENET_STD, TOP_K
from . import tf_ops, tf_resize

CLASSIFY_SIGNATURES = ("class_names", "limits", "raw", "raw_bytes", "serving_default")


@dataclass(frozen=True)
class ClassifierSpec:
    """What the classifier's signatures bake in."""

    size_hw: tuple[int, int]
    class_names: tuple[str, ...]
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def top_k(self) -> int:
        return min(TOP_K, len(self.class_names))

    def limits(self) -> dict[str, int]:
        """What the ``limits`` signature answers."""
        return {
            "size_h": self.size_hw[0],
            "size_w": self.size_hw[1],
            "top_k": self.top_k,
            "max_pixels": self.max_pixels,
            "num_classes": len(self.class_names),
        }


def center_crop(image: tf.Tensor, size_hw: tuple[int, int]) -> tf.Tensor:
    """HxWx3 uint8 -> size_hw x 3 float32 in [0, 1]: YOLOv5's CenterCrop (as :func:`ops.classify.center_crop`)."""
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top = (shape[0] - side) // 2
    left = (shape[1] - side) // 2
    square = image[top : top + side, left : left + side]
    out_h, out_w = size_hw

    def resize() -> tf.Tensor:
        return tf_resize.resize_linear(square, tf.constant(out_h), tf.constant(out_w))

    def keep() -> tf.Tensor:
        return tf.cast(square, tf.float32)

    same = tf.logical_and(tf.equal(side, out_h), tf.equal(side, out_w))
    pixels = tf.cond(same, keep, resize)
    return tf.ensure_shape(pixels / 255.0, [out_h, out_w, 3])


class ClassifierServingModule(tf.Module):
    """Wraps a converted classifier (normalised NHWC float in, logits out)."""

    def __init__(self, network: Callable[[tf.Tensor], tf.Tensor], spec: ClassifierSpec) -> None:
        super().__init__(name="yolov5_cls")
        self._network = network
        self.spec = spec
        self.class_names = tf.constant(list(spec.class_names), dtype=tf.string)
        h, w = spec.size_hw
        self.raw = tf.function(self._raw, input_signature=[tf.TensorSpec([None, h, w, 3], tf.float32, name="images")])
        self.serving_default = tf.function(
            self._serving_default, input_signature=[tf.TensorSpec([None], tf.string, name="images")]
        )
        self.raw_bytes = tf.function(self._raw_bytes, input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        self.class_names_fn = tf.function(
            self._class_names, input_signature=[tf.TensorSpec([None], tf.int32, name="class_ids")]
        )
        self.limits_fn = tf.function(self._limits, input_signature=[tf.TensorSpec([None], tf.string, name="names")])

    def _logits(self, crops: tf.Tensor) -> tf.Tensor:
        mean = tf.constant(IMAGENET_MEAN, tf.float32)
        std = tf.constant(IMAGENET_STD, tf.float32)
        return self._network((crops - mean) / std)

    def _raw(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"logits": self._logits(images)}

    def _raw_bytes(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        h, w = self.spec.size_hw
        return {"logits": self._logits(tf_ops.canvases_from_bytes(images, h, w, f"{h}x{w}x3"))}

    def _serving_default(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        size_hw = self.spec.size_hw
        crops = tf.map_fn(
            lambda b: center_crop(tf_ops.decode_rgb(b, self.spec.max_pixels), size_hw),
            images,
            fn_output_signature=tf.TensorSpec([*size_hw, 3], tf.float32),
            parallel_iterations=4,
        )
        probabilities = tf.nn.softmax(self._logits(crops), axis=-1)
        top = tf.math.top_k(probabilities, k=self.spec.top_k, sorted=True)
        return {
            "classes": top.indices,
            "class_names": tf.gather(self.class_names, top.indices),
            "scores": top.values,
        }

    def _class_names(self, class_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"class_names": tf.gather(self.class_names, class_ids)}

    def _limits(self, names: tf.Tensor) -> dict[str, tf.Tensor]:
        limits = self.spec.limits()
        keys = tf.constant(list(limits), tf.string)
        values = tf.constant(list(limits.values()), tf.int64)
        hits = tf.equal(names[:, None], keys[None, :])
        found = tf.reduce_sum(tf.where(hits, values[None, :], tf.zeros_like(values)[None, :]), axis=1)
        return {"values": tf.where(tf.reduce_any(hits, axis=1), found, tf.constant(-1, tf.int64))}

    def signatures(self) -> dict[str, object]:
        """The signature map for ``tf.saved_model.save``."""
        return {
            "serving_default": self.serving_default.get_concrete_function(),
            "raw": self.raw.get_concrete_function(),
            "raw_bytes": self.raw_bytes.get_concrete_function(),
            "class_names": self.class_names_fn.get_concrete_function(),
            "limits": self.limits_fn.get_concrete_function(),
        }
