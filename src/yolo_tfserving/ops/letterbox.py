"""YOLOv5's letterbox, reproduced exactly, and its inverse for boxes.

YOLOv5 resizes with the aspect ratio kept (scale ``min(H/h, W/w)``), rounds the new size,
splits the padding as ``round(d - 0.1)`` / ``round(d + 0.1)`` (Python's round: half to
even), fills with grey 114 and resizes with ``cv2.resize(..., interpolation=INTER_LINEAR)``.
:func:`resize_bilinear` is that resize in OpenCV's own fixed-point arithmetic (see
:mod:`.cv_resize`), so the canvas is byte-identical to YOLOv5's, and to the in-graph letterbox.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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
    def plan(cls, source_hw: tuple[int, int], target_hw: tuple[int, int], *, scaleup: bool = True) -> Letterbox:
        h, w = source_hw
        if h <= 0 or w <= 0:
            raise ValueError(f"image size must be positive, got {source_hw}")
        scale = min(target_hw[0] / h, target_hw[1] / w)
        if not scaleup:
            scale = min(scale, 1.0)
        resized_hw = (round(h * scale), round(w * scale))  # Python's round: half to even
        dh = (target_hw[0] - resized_hw[0]) / 2
        dw = (target_hw[1] - resized_hw[1]) / 2
        return cls(
            source_hw=(h, w),
            target_hw=target_hw,
            scale=scale,
            resized_hw=resized_hw,
            pad_top=round(dh - 0.1),
            pad_left=round(dw - 0.1),
        )


def resize_bilinear(image: NDArray[np.uint8], size_hw: tuple[int, int]) -> NDArray[np.uint8]:
    """``cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)``, byte for byte (HxWxC uint8)."""
    return resize_linear(image, size_hw)


def letterbox(
    image: NDArray[np.uint8], target_hw: tuple[int, int], *, scaleup: bool = True
) -> tuple[NDArray[np.uint8], Letterbox]:
    """Place an HWC uint8 image into a ``target_hw`` canvas as YOLOv5 does."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWxC uint8 image, got shape {image.shape} dtype {image.dtype}")
    plan = Letterbox.plan(image.shape[:2], target_hw, scaleup=scaleup)  # type: ignore[arg-type]
    canvas = np.full((*target_hw, image.shape[2]), PAD_VALUE, dtype=np.uint8)
    if min(plan.resized_hw) > 0:  # a side that rounds to 0 pixels leaves a grey canvas (cv2 would raise)
        top, left = plan.pad_top, plan.pad_left
        canvas[top : top + plan.resized_hw[0], left : left + plan.resized_hw[1]] = resize_bilinear(
            image, plan.resized_hw
        )
    return canvas, plan


def unletterbox_xyxy(boxes: NDArray[np.floating], plan: Letterbox, *, clip: bool = True) -> NDArray[np.floating]:
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
