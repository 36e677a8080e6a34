"""OpenCV's ``cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)`` on uint8, byte for byte.

What OpenCV (4.x, ``modules/imgproc/src/resize.cpp``) computes for an 8-bit image, as plain
arithmetic (written here from the formulas, not from its code):

* same size: a copy.
* exactly half on both axes (``1 / (dst/src)`` within ``DBL_EPSILON`` of 2 for width and
  height, i.e. ``src == 2 * dst``): OpenCV swaps INTER_LINEAR for its fast INTER_AREA, the mean of each 2x2 block,
  ``(a + b + c + d + 2) >> 2`` for 1, 3 or 4 channels (its SIMD body and its scalar tail round
  the same way), ``rint((a + b + c + d) * 0.25f)`` for other channel counts.
* otherwise, separable fixed-point bilinear with half-pixel centres. Per axis, with
  ``scale = 1 / (dst/src)`` in double: ``f = float((d + 0.5) * scale - 0.5)``,
  ``s = floor(f)``, ``t = f - s`` (float32); the two weights are
  ``rint((1 - t) * 2048)`` and ``rint(t * 2048)`` (11 fractional bits, half to even, so they
  need not sum to 2048). Horizontally a tap left of the image becomes (pixel 0, weights
  2048/0) and one at or past the last pixel becomes (last pixel, 2048/0); vertically only the
  row indices are clamped, the weights are kept. The horizontal pass is exact in int32,
  ``H = p0 * wx0 + p1 * wx1``; the vertical pass is
  ``(((wy0 * (H0 >> 4)) >> 16) + ((wy1 * (H1 >> 4)) >> 16) + 2) >> 2``. OpenCV's SIMD body
  (16-bit multiply-high) and its scalar tail evaluate that same expression, so the result
  does not depend on the CPU's SIMD width.

IPP is not used for 8-bit INTER_LINEAR (OpenCV rejects it as not exact) and OpenCL only
runs for ``UMat`` inputs. ``tests/test_opencv_resize.py`` checks all of this against cv2.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError

COEF_BITS = 11
COEF_SCALE = 1 << COEF_BITS  # OpenCV's INTER_RESIZE_COEF_SCALE
_AREA_ROUNDS_UP_CHANNELS = (1, 3, 4)  # channel counts with OpenCV's "(sum + 2) >> 2" 2x2 path


def source_scale(in_size: int, out_size: int) -> float:
    """OpenCV's ``scale = 1. / inv_scale`` with ``inv_scale = (double)dsize / ssize``."""
    return 1.0 / (out_size / in_size)


def is_exact_half(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """True where OpenCV resizes with its 2x2 INTER_AREA path instead of INTER_LINEAR.

    OpenCV tests ``|1 / (dst/src) - 2| < DBL_EPSILON`` on both axes; for integer sizes that
    holds exactly when ``src == 2 * dst`` (otherwise the ratio is off by at least ``1/dst``).
    """
    return in_hw[0] == 2 * out_hw[0] and in_hw[1] == 2 * out_hw[1]


def axis_positions(in_size: int, out_size: int) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """Per output index: the floor source index ``s`` and the float32 fraction ``t``."""
    scale = source_scale(in_size, out_size)
    f = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f)
    return s.astype(np.intp), (f - s).astype(np.float32)


def fixed_weights(t: NDArray[np.float32]) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """``saturate_cast<short>`` of ``(1 - t) * 2048`` and ``t * 2048`` (round half to even)."""
    scale = np.float32(COEF_SCALE)
    w0 = np.rint((np.float32(1.0) - t) * scale).astype(np.int32)
    w1 = np.rint(t * scale).astype(np.int32)
    return w0, w1


def column_taps(
    in_w: int, out_w: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.int32], NDArray[np.int32]]:
    """Horizontal taps: (left index, right index, left weight, right weight), edges clamped."""
    s, t = axis_positions(in_w, out_w)
    outside = (s < 0) | (s >= in_w - 1)
    t = np.where(outside, np.float32(0.0), t)
    left = np.clip(s, 0, in_w - 1)
    w0, w1 = fixed_weights(t)
    return left, np.minimum(left + 1, in_w - 1), w0, w1


def row_taps(in_h: int, out_h: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.int32], NDArray[np.int32]]:
    """Vertical taps: row indices clamped to the image, weights from the unclamped fraction."""
    s, t = axis_positions(in_h, out_h)
    w0, w1 = fixed_weights(t)
    return np.clip(s, 0, in_h - 1), np.clip(s + 1, 0, in_h - 1), w0, w1


def _half_area(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    h, w, cn = image.shape
    rows = image[0::2].astype(np.uint16)
    rows += image[1::2]
    pairs = rows.reshape(h // 2, w // 2, 2 * cn)
    total = pairs[:, :, :cn] + pairs[:, :, cn:]
    if cn in _AREA_ROUNDS_UP_CHANNELS:
        total += 2
        total >>= 2
        return total.astype(np.uint8)
    rounded: NDArray[np.uint8] = np.rint(total.astype(np.float32) * np.float32(0.25)).astype(np.uint8)
    return rounded


def _element_taps(
    pixels: NDArray[np.intp], weights: NDArray[np.int32], cn: int
) -> tuple[NDArray[np.intp], NDArray[np.int32]]:
    """Pixel taps -> byte taps of a flattened ``W*C`` row (numpy's inner loops then run long)."""
    return (pixels[:, None] * cn + np.arange(cn)).ravel(), np.repeat(weights, cn)


def _fixed_point_linear(image: NDArray[np.uint8], out_h: int, out_w: int) -> NDArray[np.uint8]:
    in_h, in_w, cn = image.shape
    x0, x1, wx0, wx1 = column_taps(in_w, out_w)
    y0, y1, wy0, wy1 = row_taps(in_h, out_h)
    e0, we0 = _element_taps(x0, wx0, cn)
    e1, we1 = _element_taps(x1, wx1, cn)
    # The horizontal pass runs once per source row the output reads (OpenCV reuses rows too).
    rows, inverse = np.unique(np.concatenate([y0, y1]), return_inverse=True)
    src = image.reshape(in_h, in_w * cn)[rows]
    horiz = np.take(src, e0, axis=1).astype(np.int32)
    horiz *= we0
    right = np.take(src, e1, axis=1).astype(np.int32)
    right *= we1
    horiz += right
    horiz >>= 4
    top = horiz[inverse[:out_h]]
    top *= wy0[:, None]
    top >>= 16
    bottom = horiz[inverse[out_h:]]
    bottom *= wy1[:, None]
    bottom >>= 16
    top += bottom
    top += 2
    top >>= 2
    resized: NDArray[np.uint8] = top.astype(np.uint8).reshape(out_h, out_w, cn)
    return resized


def resize_linear(image: NDArray[np.uint8], size_hw: tuple[int, int]) -> NDArray[np.uint8]:
    """``cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)`` for an HxWxC uint8 array."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an HxWxC uint8 image, got shape {image.shape} dtype {image.dtype}")
    in_h, in_w = image.shape[:2]
    out_h, out_w = size_hw
    if in_h <= 0 or in_w <= 0 or out_h <= 0 or out_w <= 0:
        raise InputError(f"sizes must be positive, got {image.shape[:2]} -> {size_hw}")
    if (in_h, in_w) == (out_h, out_w):
        return image.copy()
    if is_exact_half((in_h, in_w), (out_h, out_w)):
        return _half_area(image)
    return _fixed_point_linear(image, out_h, out_w)
