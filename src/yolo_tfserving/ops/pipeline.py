"""YOLOv5's detect pipeline around a model, once: letterbox a batch in, predictions to boxes out.

Every caller that runs the network itself (the client's ``client`` mode, eval's letterbox backends,
export's parity reference, the benchmark's JSON-floats request) goes through these two steps, so
they letterbox, suppress and map back identically:

- :func:`letterbox_batch`: upright RGB images -> one ``[N, H, W, 3]`` uint8 canvas stack and each
  image's :class:`~.letterbox.Letterbox` plan (square, or with ``rect_stride`` the batch's own
  stride-multiple canvas, as ``export --rect`` does in the graph);
- :func:`detections_from_predictions`: one image's ``(anchors, 5 + nc)`` predictions -> YOLOv5's NMS ->
  ``xyxy`` boxes in source-image pixels, scores and class ids;
- :func:`segments_from_predictions`: the same for a segmentation model, whose kept rows' mask
  coefficients and the image's protos become YOLOv5's ``process_mask_native`` masks, as crops of
  their integer windows (:mod:`.masks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError
from .letterbox import Letterbox, batch_canvas_hw, letterbox, unletterbox_xyxy
from .masks import BoolArray, mask_windows, process_mask_native_crops
from .nms import NMSConfig, non_max_suppression, non_max_suppression_rows


def letterbox_batch(
    images: Sequence[NDArray[np.uint8]], size_hw: tuple[int, int], *, rect_stride: int | None = None
) -> tuple[NDArray[np.uint8], list[Letterbox]]:
    """HWC uint8 RGB images -> (canvases ``[N, H, W, 3]``, plans); see the module docstring."""
    if not images:
        raise InputError("letterbox_batch needs at least one image")
    canvas_hw = None
    if rect_stride is not None:
        canvas_hw = batch_canvas_hw([(int(im.shape[0]), int(im.shape[1])) for im in images], size_hw, rect_stride)
    boxed = [letterbox(im, size_hw, canvas_hw=canvas_hw) for im in images]
    return np.stack([canvas for canvas, _ in boxed]), [plan for _, plan in boxed]


def detections_from_predictions(
    predictions: NDArray[np.floating[Any]], plan: Letterbox, config: NMSConfig
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """One image's raw predictions -> (``xyxy`` in source pixels, clipped; scores; class ids)."""
    xyxy, scores, classes = non_max_suppression(predictions, config)
    return unletterbox_xyxy(xyxy, plan).astype(np.float32, copy=False), scores, classes


def segments_from_predictions(
    predictions: NDArray[np.floating[Any]],
    protos_hwc: NDArray[np.floating[Any]],
    plan: Letterbox,
    config: NMSConfig,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64], NDArray[np.int32], list[BoolArray]]:
    """One image's segmentation outputs -> (``xyxy``, scores, class ids, mask windows, mask crops).

    ``predictions`` is ``(anchors, 5 + nc + nm)`` and ``protos_hwc`` ``(canvas_h / 4, canvas_w / 4, nm)``;
    NMS carries each kept row's coefficients; the boxes in source pixels, rounded, crop the masks
    (YOLOv5's predict.py with ``--retina-masks``).
    """
    num_masks = int(np.shape(protos_hwc)[-1])
    xyxy, scores, classes, rows = non_max_suppression_rows(predictions, config, num_masks=num_masks)
    xyxy = unletterbox_xyxy(xyxy, plan).astype(np.float32, copy=False)
    coefficients = np.asarray(predictions)[rows, predictions.shape[1] - num_masks :]
    windows = mask_windows(xyxy, plan.source_hw)
    crops = process_mask_native_crops(protos_hwc, coefficients, windows, plan.target_hw, plan.source_hw)
    return xyxy, scores, classes, windows, crops
