"""Pure-numpy pre- and post-processing with YOLOv5's exact semantics (no TF, no torch)."""

from .boxes import box_iou, clip_xyxy, cxcywh_to_xyxy
from .letterbox import (
    Letterbox,
    batch_canvas_hw,
    letterbox,
    rect_canvas_hw,
    resize_bilinear,
    unletterbox_xyxy,
)
from .masks import mask_windows, paste, process_mask_native
from .nms import NMSConfig, nms_candidates, nms_indices, non_max_suppression, non_max_suppression_rows
from .pipeline import detections_from_predictions, letterbox_batch, segments_from_predictions

__all__ = [
    "Letterbox",
    "NMSConfig",
    "batch_canvas_hw",
    "box_iou",
    "clip_xyxy",
    "cxcywh_to_xyxy",
    "detections_from_predictions",
    "letterbox",
    "letterbox_batch",
    "mask_windows",
    "nms_candidates",
    "nms_indices",
    "non_max_suppression",
    "non_max_suppression_rows",
    "paste",
    "process_mask_native",
    "rect_canvas_hw",
    "resize_bilinear",
    "segments_from_predictions",
    "unletterbox_xyxy",
]
