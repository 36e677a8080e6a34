"""The exported ``tf.Module`` of a segmentation model: the detection signatures plus masks and protos.

The network (:func:`.tf_segment.convert_segment_trunk`) returns ``(predictions, protos)``.
Signatures, as the detection module's (:mod:`.tf_module`) with these differences:

- ``serving_default`` / ``detect``: the detection outputs plus ``mask_boxes`` int32 [N, k, 4] (each
  mask's integer window ``x0, y0, x1, y1`` in original pixels, x1/y1 exclusive; zeros for padded rows)
  and ``masks_png_bytes`` string [N, k] (each mask cropped to its window as an 8-bit grayscale PNG,
  0 or 255; ``""`` for padded rows and empty windows). NMS keeps every survivor's mask coefficients
  (:func:`.tf_ops.nms_rows`); masks are YOLOv5's ``process_mask_native`` (:mod:`.tf_segment_masks`).
- ``raw``: ``predictions`` [N, A, 5 + nc + nm] (the coefficients raw) and ``protos`` [N, H/4, W/4, nm].
- ``raw_bytes``: ``predictions_bytes`` and ``protos_bytes``, serialized TensorProtos per image.
- ``predict_nchw``: ``output`` (the predictions) and ``protos`` NCHW [N, nm, H/4, W/4], YOLOv5's pair.
- ``limits`` also answers ``num_masks`` and ``proto_stride`` (4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import tensorflow as tf

from . import tf_ops
from .tf_module import DETECTION_OUTPUTS, ServingSpec, YoloServingModule, detection_specs, padded_detections
from .tf_segment import PROTO_STRIDE
from .tf_segment_masks import mask_pngs, mask_windows


@dataclass(frozen=True)
class SegmentServingSpec(ServingSpec):
    num_masks: int = 32

    def limits(self) -> dict[str, int]:
        return {**super().limits(), "num_masks": self.num_masks, "proto_stride": PROTO_STRIDE}


class SegmentServingModule(YoloServingModule):
    """Wraps a converted seg network (NHWC float in, ``(predictions, protos)`` out)."""

    spec: SegmentServingSpec

    def __init__(self, network: object, spec: SegmentServingSpec) -> None:
        if spec.rect:
            from .._errors import InputError

            raise InputError("--rect is not supported for segmentation models yet")
        super().__init__(network, spec)  # type: ignore[arg-type]

    @classmethod
    def from_spec(cls, network: object, spec: ServingSpec, *, num_masks: int) -> SegmentServingModule:
        """The detection export's spec, with the segmentation facts added."""
        facts = {f.name: getattr(spec, f.name) for f in fields(spec)}
        return cls(network, SegmentServingSpec(**facts, num_masks=num_masks))

    def _raw(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        predictions, protos = self._network(images)  # type: ignore[misc]
        return {"predictions": predictions, "protos": protos}

    def _predictions_bytes(
        self, images: tf.Tensor, h: int | tf.Tensor, w: int | tf.Tensor, what: str
    ) -> dict[str, tf.Tensor]:
        predictions, protos = self._network(tf_ops.canvases_from_bytes(images, h, w, what))  # type: ignore[misc]
        return {"predictions_bytes": tf_ops.serialize_each(predictions), "protos_bytes": tf_ops.serialize_each(protos)}

    def _predict_nchw(self, input: tf.Tensor) -> dict[str, tf.Tensor]:  # noqa: A002 - the contract's name
        predictions, protos = self._network(tf.transpose(input, [0, 2, 3, 1]))  # type: ignore[misc]
        return {"output": predictions, "protos": tf.transpose(protos, [0, 3, 1, 2])}

    def _run(self, images: tf.Tensor, conf: tf.Tensor, iou: tf.Tensor, max_det: tf.Tensor) -> dict[str, tf.Tensor]:
        canvases, source_hw, canvas_hw = self._canvases(images)
        predictions, protos = self._network(canvases)  # type: ignore[misc]
        k = self.spec.nms.max_det
        scored = 5 + len(self.spec.class_names)

        def per_image(args: Sequence[tf.Tensor]) -> tuple[tf.Tensor, ...]:
            pred, image_protos, hw, c, i, m = args
            boxes, scores, classes, rows = tf_ops.nms_rows(pred[:, :scored], c, i, m, self.spec.nms)
            coefficients = tf.gather(pred[:, scored:], rows)
            boxes = tf_ops.unletterbox(boxes, hw, canvas_hw)
            windows = mask_windows(boxes, hw)
            pngs = mask_pngs(image_protos, coefficients, windows, hw)
            pad = k - tf.shape(scores)[0]
            return (
                *padded_detections(boxes, scores, classes, self.class_names, k),
                tf.pad(windows, [[0, pad], [0, 0]]),
                tf.pad(pngs, [[0, pad]]),
            )

        outputs = tf.map_fn(
            per_image,
            (predictions, protos, source_hw, conf, iou, max_det),
            fn_output_signature=(*detection_specs(k), tf.TensorSpec([k, 4], tf.int32), tf.TensorSpec([k], tf.string)),
        )
        return dict(zip((*DETECTION_OUTPUTS, "mask_boxes", "masks_png_bytes"), outputs, strict=True))
