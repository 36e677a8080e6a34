"""Instance masks in numpy: YOLOv5's ``process_mask_native`` (``segment/predict.py --retina-masks``).

The semantics, step by step, as YOLOv5 (after v7.0, ``utils/segment/general.py``) computes them:

1. ``sigmoid(coefficients @ protos)`` at proto resolution (``[n, mh, mw]``);
2. the letterbox padding is cut off in proto pixels, with YOLOv5's ``int()`` of the pad computed from
   the proto and original shapes (``gain = min(mh / h0, mw / w0)``, ``pad = (mw - w0 * gain) / 2, ...``);
3. bilinear resize to the original image size, ``F.interpolate(mode="bilinear", align_corners=False)``
   (half-pixel centres, no antialias; :func:`resize_bilinear_float` is that in float32, equal to
   torch's CPU kernel within a few float32 ulps: torch fuses multiply-adds, numpy rounds each step);
4. zero outside the box: YOLOv5's ``crop_mask`` keeps column ``r`` iff ``x1 <= r < x2`` (rows likewise),
   with the box in original pixels rounded to integers first, as predict.py does with retina masks;
5. ``> 0.5``.

Step 4 means every mask is empty outside its integer window (:func:`mask_windows`: the rounded box
clipped to the image), and steps 3 and 5 are pointwise per output pixel, so masks are computed, sent
and stored as crops of their windows (:func:`process_mask_native_crops`); :func:`paste` makes the
dense ``bool [n, H, W]`` on demand. Crops travel as 8-bit grayscale PNGs (0 or 255):
:func:`encode_png` / :func:`decode_png`. Only numpy and Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError

BoolArray = NDArray[np.bool_]
MASK_THRESHOLD = 0.5


def sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """``1 / (1 + exp(-x))`` in float32, without overflow warnings for very negative inputs."""
    with np.errstate(over="ignore"):
        return (np.float32(1.0) / (np.float32(1.0) + np.exp(-x))).astype(np.float32, copy=False)


def _source_taps(out_size: int, in_size: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """PyTorch's ``align_corners=False`` linear taps for one axis: (index0, index1, weight of index1)."""
    scale = np.float32(in_size / out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    index0 = np.minimum(src.astype(np.intp), in_size - 1)
    index1 = np.minimum(index0 + 1, in_size - 1)
    weight1 = np.clip(src - index0.astype(np.float32), 0.0, 1.0).astype(np.float32)
    return index0, index1, weight1


def _resize_window(maps: NDArray[np.float32], out_hw: tuple[int, int], rows: slice, cols: slice) -> NDArray[np.float32]:
    """Rows ``rows`` and columns ``cols`` of ``maps [..., h, w]`` resized to ``out_hw`` (see below)."""
    in_h, in_w = maps.shape[-2:]
    y0, y1, wy = (a[rows] for a in _source_taps(out_hw[0], in_h))
    x0, x1, wx = (a[cols] for a in _source_taps(out_hw[1], in_w))
    one = np.float32(1.0)
    left, right = maps[..., x0], maps[..., x1]
    across = (one - wx) * left + wx * right  # [..., h, w_out]
    top, bottom = across[..., y0, :], across[..., y1, :]
    return ((one - wy)[:, None] * top + wy[:, None] * bottom).astype(np.float32, copy=False)


def resize_bilinear_float(maps: NDArray[np.floating[Any]], size_hw: tuple[int, int]) -> NDArray[np.float32]:
    """``F.interpolate(maps, size_hw, mode="bilinear", align_corners=False)`` for ``[..., h, w]`` float32."""
    height, width = size_hw
    if height < 1 or width < 1 or maps.ndim < 2 or min(maps.shape[-2:]) < 1:
        raise InputError(f"cannot resize maps of shape {maps.shape} to {size_hw}")
    return _resize_window(np.asarray(maps, np.float32), size_hw, slice(0, height), slice(0, width))


def mask_windows(boxes_xyxy: NDArray[np.floating[Any]], image_hw: tuple[int, int]) -> NDArray[np.int32]:
    """Each box's integer crop window ``x0, y0, x1, y1`` (x1/y1 exclusive): rounded, clipped to the image.

    Rounding is numpy's (half to even), as torch's ``Tensor.round``. A box that rounds to nothing
    gives an empty window (``x1 == x0`` or ``y1 == y0``).
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    height, width = image_hw
    rounded = np.round(boxes)
    x0 = np.clip(rounded[:, 0], 0, width)
    y0 = np.clip(rounded[:, 1], 0, height)
    x1 = np.maximum(np.clip(rounded[:, 2], 0, width), x0)
    y1 = np.maximum(np.clip(rounded[:, 3], 0, height), y0)
    windows: NDArray[np.int32] = np.stack([x0, y0, x1, y1], axis=1).astype(np.int32)
    return windows


def _unpadded_protos(masks: NDArray[np.float32], image_hw: tuple[int, int]) -> NDArray[np.float32]:
    """Cut YOLOv5's letterbox padding off ``[n, mh, mw]`` proto-resolution masks (``int()`` of the pad)."""
    mask_h, mask_w = masks.shape[-2:]
    gain = min(mask_h / image_hw[0], mask_w / image_hw[1])
    pad_w, pad_h = (mask_w - image_hw[1] * gain) / 2, (mask_h - image_hw[0] * gain) / 2
    top, left = int(pad_h), int(pad_w)
    bottom, right = int(mask_h - pad_h), int(mask_w - pad_w)
    return masks[:, top:bottom, left:right]


def _check_inputs(
    protos_hwc: NDArray[np.floating[Any]],
    coefficients: NDArray[np.floating[Any]],
    canvas_hw: tuple[int, int],
    image_hw: tuple[int, int],
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    protos = np.asarray(protos_hwc, dtype=np.float32)
    coeffs = np.asarray(coefficients, dtype=np.float32)
    if protos.ndim != 3:
        raise InputError(f"protos must be [H/4, W/4, num_masks], got shape {protos.shape}")
    if coeffs.ndim != 2 or coeffs.shape[1] != protos.shape[2]:
        raise InputError(f"coefficients must be [n, {protos.shape[2]}], got shape {coeffs.shape}")
    mask_h, mask_w = protos.shape[:2]
    if mask_h < 1 or mask_w < 1 or canvas_hw[0] * mask_w != canvas_hw[1] * mask_h:
        raise InputError(f"protos of {mask_h}x{mask_w} do not match a {canvas_hw[0]}x{canvas_hw[1]} canvas")
    if min(image_hw) < 1:
        raise InputError(f"image size must be positive, got {image_hw}")
    return protos, coeffs


def process_mask_native_crops(
    protos_hwc: NDArray[np.floating[Any]],
    coefficients: NDArray[np.floating[Any]],
    windows: NDArray[np.integer[Any]],
    canvas_hw: tuple[int, int],
    image_hw: tuple[int, int],
) -> list[BoolArray]:
    """Each mask inside its :func:`mask_windows` window (``bool [y1 - y0, x1 - x0]``), YOLOv5's values.

    Identical to cropping :func:`process_mask_native`'s dense masks, without building them.
    """
    protos, coeffs = _check_inputs(protos_hwc, coefficients, canvas_hw, image_hw)
    windows = np.asarray(windows).reshape(-1, 4)
    if len(windows) != len(coeffs):
        raise InputError(f"{len(coeffs)} coefficient rows but {len(windows)} windows")
    mask_h, mask_w, num = protos.shape
    flat = protos.reshape(mask_h * mask_w, num)
    crops: list[BoolArray] = []
    for row, (x0, y0, x1, y1) in zip(coeffs, windows.tolist(), strict=True):
        if x1 <= x0 or y1 <= y0:
            crops.append(np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), dtype=bool))
            continue
        proto_mask = sigmoid((flat @ row).reshape(1, mask_h, mask_w))
        unpadded = _unpadded_protos(proto_mask, image_hw)
        values = _resize_window(unpadded, image_hw, slice(y0, y1), slice(x0, x1))[0]
        crops.append(values > MASK_THRESHOLD)
    return crops


def process_mask_native(
    protos_hwc: NDArray[np.floating[Any]],
    coefficients: NDArray[np.floating[Any]],
    boxes_xyxy: NDArray[np.floating[Any]],
    canvas_hw: tuple[int, int],
    image_hw: tuple[int, int],
) -> BoolArray:
    """YOLOv5's ``process_mask_native``: ``bool [n, H, W]`` masks in original-image pixels.

    ``protos_hwc`` is one image's ``[canvas_h / 4, canvas_w / 4, nm]`` protos (the ``raw`` signature's
    NHWC layout), ``coefficients`` the kept rows' ``[n, nm]`` raw mask coefficients and ``boxes_xyxy``
    their boxes in original pixels (rounded here, as predict.py rounds them before cropping).
    """
    windows = mask_windows(boxes_xyxy, image_hw)
    crops = process_mask_native_crops(protos_hwc, coefficients, windows, canvas_hw, image_hw)
    return paste(windows, crops, image_hw)


def crop_to_windows(masks: NDArray[np.bool_], windows: NDArray[np.integer[Any]]) -> list[BoolArray]:
    """Dense ``bool [n, H, W]`` masks -> each one's ``[y0:y1, x0:x1]`` crop."""
    windows = np.asarray(windows).reshape(-1, 4)
    if masks.ndim != 3 or len(masks) != len(windows):
        raise InputError(f"expected [n, H, W] masks for {len(windows)} windows, got shape {masks.shape}")
    return [
        np.ascontiguousarray(m[y0:y1, x0:x1], dtype=bool)
        for m, (x0, y0, x1, y1) in zip(masks, windows.tolist(), strict=True)
    ]


def tight_windows(masks: NDArray[np.bool_]) -> NDArray[np.int32]:
    """Each dense mask's bounding window ``x0, y0, x1, y1`` (exclusive ends; ``0, 0, 0, 0`` if empty)."""
    windows = np.zeros((len(masks), 4), dtype=np.int32)
    for i, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size:
            windows[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return windows


def paste(
    windows: NDArray[np.integer[Any]], crops: Sequence[NDArray[np.bool_]], image_hw: tuple[int, int]
) -> BoolArray:
    """Crops back into dense ``bool [n, H, W]`` masks (``False`` outside each window)."""
    windows = np.asarray(windows).reshape(-1, 4)
    if len(windows) != len(crops):
        raise InputError(f"{len(windows)} windows but {len(crops)} mask crops")
    out = np.zeros((len(windows), *image_hw), dtype=bool)
    for i, ((x0, y0, x1, y1), crop) in enumerate(zip(windows.tolist(), crops, strict=True)):
        if not (0 <= x0 <= x1 <= image_hw[1] and 0 <= y0 <= y1 <= image_hw[0]):
            raise InputError(f"mask window {(x0, y0, x1, y1)} is outside a {image_hw[0]}x{image_hw[1]} image")
        if crop.shape != (y1 - y0, x1 - x0):
            raise InputError(f"mask crop of shape {crop.shape} does not fill window {(x0, y0, x1, y1)}")
        out[i, y0:y1, x0:x1] = crop
    return out


def encode_png(crop: NDArray[np.bool_]) -> bytes:
    """A cropped mask as an 8-bit grayscale PNG (0 or 255); an empty crop is ``b""``."""
    if crop.ndim != 2:
        raise InputError(f"a mask crop must be 2-D, got shape {crop.shape}")
    if crop.size == 0:
        return b""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.where(crop, np.uint8(255), np.uint8(0)), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes, window: Sequence[int]) -> BoolArray:
    """A :func:`encode_png` crop back to ``bool [y1 - y0, x1 - x0]`` for its window; checks the size."""
    x0, y0, x1, y1 = (int(v) for v in window)
    shape = (max(y1 - y0, 0), max(x1 - x0, 0))
    if not data:
        if shape[0] and shape[1]:
            raise InputError(f"empty mask PNG for the non-empty window {(x0, y0, x1, y1)}")
        return np.zeros(shape, dtype=bool)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("L"))
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"mask PNG cannot be decoded: {err}") from None
    if pixels.shape != shape:
        raise InputError(f"mask PNG is {pixels.shape[1]}x{pixels.shape[0]}, its window {(x0, y0, x1, y1)} is not")
    return pixels > 127


class MaskCrops:
    """``n`` instance masks of one ``image_hw`` image, kept as their windows and crops.

    A crop is held as PNG bytes (as the server sends it) or as a decoded ``bool`` array; PNGs are
    decoded on first use and kept. :meth:`dense` pastes the ``bool [n, H, W]`` masks; :meth:`select`
    picks rows as numpy indexing does (boolean mask, integer array, slice). Two ``MaskCrops`` are
    equal when their dense masks are (windows may differ where a mask is empty at a window's edge).
    """

    __slots__ = ("_crops", "_pngs", "image_hw", "windows")

    def __init__(
        self,
        windows: NDArray[np.integer[Any]],
        image_hw: tuple[int, int],
        *,
        crops: Sequence[NDArray[np.bool_]] | None = None,
        pngs: Sequence[bytes] | None = None,
    ) -> None:
        self.windows: NDArray[np.int32] = np.asarray(windows, dtype=np.int32).reshape(-1, 4)
        self.image_hw = (int(image_hw[0]), int(image_hw[1]))
        if (crops is None) == (pngs is None):
            raise InputError("MaskCrops needs exactly one of crops= or pngs=")
        held = crops if crops is not None else pngs
        assert held is not None
        if len(held) != len(self.windows):
            raise InputError(f"{len(self.windows)} mask windows but {len(held)} crops")
        height, width = self.image_hw
        for x0, y0, x1, y1 in self.windows.tolist():
            if not (0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height):
                raise InputError(f"mask window {(x0, y0, x1, y1)} is outside a {height}x{width} image")
        self._pngs: list[bytes] | None = [bytes(p) for p in pngs] if pngs is not None else None
        self._crops: list[BoolArray] | None = None
        if crops is not None:
            self._crops = [np.asarray(c, dtype=bool) for c in crops]
            for crop, (x0, y0, x1, y1) in zip(self._crops, self.windows.tolist(), strict=True):
                if crop.shape != (y1 - y0, x1 - x0):
                    raise InputError(f"mask crop of shape {crop.shape} does not fill window {(x0, y0, x1, y1)}")

    @classmethod
    def from_dense(cls, masks: NDArray[np.bool_], windows: NDArray[np.integer[Any]] | None = None) -> MaskCrops:
        """Dense ``bool [n, H, W]`` masks, kept inside ``windows`` (what lies outside is dropped);
        by default each mask's own bounding window (:func:`tight_windows`, lossless)."""
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 3:
            raise InputError(f"expected [n, H, W] masks, got shape {masks.shape}")
        height, width = masks.shape[1:]
        if windows is None:
            windows = tight_windows(masks)
        return cls(windows, (height, width), crops=crop_to_windows(masks, windows))

    def __len__(self) -> int:
        return len(self.windows)

    def crops(self) -> list[BoolArray]:
        """Each mask's ``bool`` crop of its window (decoding the PNGs once)."""
        if self._crops is None:
            assert self._pngs is not None
            self._crops = [decode_png(p, w) for p, w in zip(self._pngs, self.windows.tolist(), strict=True)]
        return self._crops

    def pngs(self) -> list[bytes]:
        """Each crop as :func:`encode_png` bytes (``b""`` for an empty window)."""
        if self._pngs is None:
            self._pngs = [encode_png(c) for c in self.crops()]
        return self._pngs

    def dense(self) -> BoolArray:
        """``bool [n, H, W]`` in original-image pixels."""
        return paste(self.windows, self.crops(), self.image_hw)

    def dense_one(self, i: int) -> BoolArray:
        """Mask ``i`` alone as ``bool [H, W]`` (for row-at-a-time consumers: RLE, drawing)."""
        one: BoolArray = paste(self.windows[i : i + 1], [self.crops()[i]], self.image_hw)[0]
        return one

    def select(self, index: Any) -> MaskCrops:
        rows = np.arange(len(self.windows))[index].reshape(-1).tolist()
        windows = self.windows[rows].reshape(-1, 4)
        if self._crops is not None:
            return MaskCrops(windows, self.image_hw, crops=[self._crops[i] for i in rows])
        assert self._pngs is not None
        return MaskCrops(windows, self.image_hw, pngs=[self._pngs[i] for i in rows])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskCrops):
            return NotImplemented
        if self.image_hw != other.image_hw or len(self) != len(other):
            return False
        if np.array_equal(self.windows, other.windows):
            return all(np.array_equal(a, b) for a, b in zip(self.crops(), other.crops(), strict=True))
        return all(np.array_equal(self.dense_one(i), other.dense_one(i)) for i in range(len(self)))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MaskCrops(n={len(self)}, image_hw={self.image_hw})"
