"""YOLOv5 v7.0's classification pre- and post-processing in numpy (``utils/augmentations.py``).

``classify_transforms(size)`` is its own ``CenterCrop`` (the centred square of side
``min(h, w)``, top/left offsets floored, resized with ``cv2.resize(..., INTER_LINEAR)`` to the
model size), then ``ToTensor`` (/255, RGB) and torchvision's ``Normalize`` with ImageNet's mean
and std. classify/predict.py then takes ``softmax`` and the five most probable classes.

The exported ``raw`` signature takes the crop as float32 in [0, 1] (``uint8 / 255``) and
normalises in the graph, so :func:`center_crop` is what a client sends and :func:`normalize`
is what the model applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError
from .cv_resize import resize_linear

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB
IMAGENET_STD = (0.229, 0.224, 0.225)
TOP_K = 5  # classify/predict.py prints the top 5


def crop_window(image_hw: tuple[int, int]) -> tuple[int, int, int]:
    """(top, left, side) of YOLOv5's centre square for an image of ``image_hw``."""
    h, w = image_hw
    if h <= 0 or w <= 0:
        raise InputError(f"image size must be positive, got {image_hw}")
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side


def center_crop(image: NDArray[np.uint8], size_hw: tuple[int, int]) -> NDArray[np.uint8]:
    """HxWx3 uint8 -> ``size_hw`` x 3 uint8: YOLOv5's ``CenterCrop``, byte for byte with OpenCV."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an HxWx3 uint8 image, got shape {image.shape} dtype {image.dtype}")
    top, left, side = crop_window((image.shape[0], image.shape[1]))
    square = np.ascontiguousarray(image[top : top + side, left : left + side])
    return resize_linear(square, size_hw)


def crop_batch_uint8(images: Sequence[NDArray[np.uint8]], size_hw: tuple[int, int]) -> NDArray[np.uint8]:
    """RGB uint8 images -> their crops, uint8 NHWC [N, H, W, 3] (``raw_bytes`` takes each as raw bytes)."""
    if not images:
        raise InputError("no images to classify")
    return np.stack([center_crop(im, size_hw) for im in images])


def crop_batch(images: Sequence[NDArray[np.uint8]], size_hw: tuple[int, int]) -> NDArray[np.float32]:
    """RGB uint8 images -> float32 NHWC [N, H, W, 3] in [0, 1]: what the ``raw`` signature takes."""
    return crop_batch_uint8(images, size_hw).astype(np.float32) / np.float32(255.0)


def normalize(batch_nhwc: NDArray[np.float32]) -> NDArray[np.float32]:
    """[0, 1] RGB NHWC -> ImageNet-normalised (``(x - mean) / std`` per channel), float32."""
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return ((batch_nhwc - mean) / std).astype(np.float32)


def softmax(logits: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """Row-wise softmax of [N, nc] logits, float32."""
    x = np.asarray(logits, np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"expected logits [N, classes], got shape {x.shape}")
    e = np.exp(x - x.max(axis=1, keepdims=True))
    out: NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def top_k(probabilities: NDArray[np.floating[Any]], k: int = TOP_K) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """The ``min(k, nc)`` most probable classes per row, descending (ties: lower class id first, as tf.math.top_k)."""
    p = np.asarray(probabilities, np.float32)
    if p.ndim != 2:
        raise InputError(f"expected probabilities [N, classes], got shape {p.shape}")
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    k = min(k, p.shape[1])
    order = np.argsort(-p, axis=1, kind="stable")[:, :k].astype(np.int32)
    return order, np.take_along_axis(p, order, axis=1)
