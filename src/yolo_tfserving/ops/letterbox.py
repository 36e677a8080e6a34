"""YOLOv5's letterbox, reproduced exactly, and its inverse for boxes.

YOLOv5 resizes with the aspect ratio kept (scale ``min(H/h, W/w)``), rounds the new size,
splits the padding as ``round(d - 0.1)`` / ``round(d + 0.1)`` (Python's round: half to
even), fills with grey 114 and resizes with ``cv2.resize(..., interpolation=INTER_LINEAR)``.
:func:`resize_bilinear` is that resize in OpenCV's own fixed-point arithmetic (see
:mod:`.cv_resize`), so the canvas is byte-identical to YOLOv5's, and to the in-graph letterbox.

Rectangular inference (``export --rect``, YOLOv5's ``letterbox(auto=True)`` in detect.py): the
image is resized exactly as for the full ``target_hw``, but padded only up to the next multiple of
``stride`` on each side (:func:`rect_canvas_hw`). A batch shares one canvas, the smallest that holds
every image's own rectangle (:func:`batch_canvas_hw`); each image is centred in it with YOLOv5's
rounding, so a batch of one is detect.py's canvas exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError
from .cv_resize import resize_linear

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an image of ``source_hw`` was placed into a canvas of ``target_hw``."""

    source_hw: tuple[int, int]
    target_hw: tuple[int, int]
    scale: float
    resized_hw: tuple[int, int]
    pad_top: int
    pad_left: int

    @classmethod
    def plan(
        cls,
        source_hw: tuple[int, int],
        target_hw: tuple[int, int],
        *,
        scaleup: bool = True,
        canvas_hw: tuple[int, int] | None = None,
    ) -> Letterbox:
        """Resize for ``target_hw``; centre in ``canvas_hw`` (default: ``target_hw``; rect: see the module)."""
        h, w = source_hw
        resized_hw, scale = resized_size(source_hw, target_hw, scaleup=scaleup)
        canvas = target_hw if canvas_hw is None else canvas_hw
        if canvas[0] < resized_hw[0] or canvas[1] < resized_hw[1]:
            raise InputError(f"canvas {canvas} cannot hold the image resized to {resized_hw}")
        dh = (canvas[0] - resized_hw[0]) / 2
        dw = (canvas[1] - resized_hw[1]) / 2
        return cls(
            source_hw=(h, w),
            target_hw=canvas,
            scale=scale,
            resized_hw=resized_hw,
            pad_top=round(dh - 0.1),
            pad_left=round(dw - 0.1),
        )


def resized_size(
    source_hw: tuple[int, int], target_hw: tuple[int, int], *, scaleup: bool = True
) -> tuple[tuple[int, int], float]:
    """The size an image of ``source_hw`` is resized to for ``target_hw`` (aspect kept), and the scale."""
    h, w = source_hw
    if h <= 0 or w <= 0:
        raise InputError(f"image size must be positive, got {source_hw}")
    scale = min(target_hw[0] / h, target_hw[1] / w)
    if not scaleup:
        scale = min(scale, 1.0)
    return (round(h * scale), round(w * scale)), scale  # Python's round: half to even


def rect_canvas_hw(source_hw: tuple[int, int], target_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """YOLOv5's ``letterbox(auto=True)`` canvas: the resized image padded to multiples of ``stride``."""
    (rh, rw), _ = resized_size(source_hw, target_hw)
    return rh + (target_hw[0] - rh) % stride, rw + (target_hw[1] - rw) % stride


def batch_canvas_hw(sources_hw: Sequence[tuple[int, int]], target_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """The smallest canvas that holds every image's own :func:`rect_canvas_hw` (one batch, one canvas)."""
    if not sources_hw:
        raise InputError("a batch needs at least one image")
    canvases = [rect_canvas_hw(hw, target_hw, stride) for hw in sources_hw]
    return max(c[0] for c in canvases), max(c[1] for c in canvases)


def resize_bilinear(image: NDArray[np.uint8], size_hw: tuple[int, int]) -> NDArray[np.uint8]:
    """``cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)``, byte for byte (HxWxC uint8)."""
    return resize_linear(image, size_hw)


def letterbox(
    image: NDArray[np.uint8],
    target_hw: tuple[int, int],
    *,
    scaleup: bool = True,
    stride: int | None = None,
    canvas_hw: tuple[int, int] | None = None,
) -> tuple[NDArray[np.uint8], Letterbox]:
    """Place an HWC uint8 image into a canvas as YOLOv5 does.

    The canvas is ``target_hw``; with ``stride`` (rectangular inference), the image's own
    :func:`rect_canvas_hw`; with ``canvas_hw``, that (a batch's :func:`batch_canvas_hw`).
    """
    if image.ndim != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an HxWxC uint8 image, got shape {image.shape} dtype {image.dtype}")
    source_hw: tuple[int, int] = image.shape[:2]  # type: ignore[assignment]
    if canvas_hw is None and stride is not None:
        canvas_hw = rect_canvas_hw(source_hw, target_hw, stride)
    plan = Letterbox.plan(source_hw, target_hw, scaleup=scaleup, canvas_hw=canvas_hw)
    canvas = np.full((*plan.target_hw, image.shape[2]), PAD_VALUE, dtype=np.uint8)
    if min(plan.resized_hw) > 0:  # a side that rounds to 0 pixels leaves a grey canvas (cv2 would raise)
        top, left = plan.pad_top, plan.pad_left
        canvas[top : top + plan.resized_hw[0], left : left + plan.resized_hw[1]] = resize_bilinear(
            image, plan.resized_hw
        )
    return canvas, plan


def unletterbox_xyxy(
    boxes: NDArray[np.floating[Any]], plan: Letterbox, *, clip: bool = True
) -> NDArray[np.floating[Any]]:
    """Map ``xyxy`` boxes from the canvas back to source-image pixels (YOLOv5's scale_boxes)."""
    h, w = plan.source_hw
    gain = min(plan.target_hw[0] / h, plan.target_hw[1] / w)
    pad_x = (plan.target_hw[1] - w * gain) / 2
    pad_y = (plan.target_hw[0] - h * gain) / 2
    out = boxes.copy()
    out[..., [0, 2]] -= pad_x
    out[..., [1, 3]] -= pad_y
    out[..., :4] /= gain
    if clip:
        from .boxes import clip_xyxy

        clip_xyxy(out, plan.source_hw)
    return out
