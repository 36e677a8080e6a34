"""Accept an image as a path, bytes, numpy array (HWC RGB) or PIL image; honour EXIF orientation.

For the ``server`` mode the model decodes the bytes itself, so we send the original file
bytes when they are already upright JPEG/PNG; anything else (an array, a rotated EXIF image,
another format) is encoded once as PNG, losslessly, so both modes see the same pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import ImageError

ImageInput = Any  # str | Path | bytes | np.ndarray | PIL.Image.Image


@dataclass(frozen=True)
class PreparedImage:
    """An upright RGB image and the encoded bytes the server mode sends."""

    rgb: NDArray[np.uint8]
    encoded: bytes

    @property
    def size_hw(self) -> tuple[int, int]:
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


def prepare(image: ImageInput) -> PreparedImage:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(image, PreparedImage):
        return image
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, Image.Image):
        return _from_array(np.asarray(ImageOps.exif_transpose(image).convert("RGB")))
    if isinstance(image, (str, Path)):
        path = Path(image)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read image {path}: {exc.strerror or exc}") from exc
        label = str(path)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        label = "image bytes"
    else:
        raise ImageError(
            f"unsupported image type {type(image).__name__}: pass a path, bytes, an HWC RGB array or a PIL image"
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            orientation = im.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(im) if orientation != 1 else im
            rgb = np.asarray(upright.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot decode {label}: not a readable image ({exc})") from exc
    if fmt in ("JPEG", "PNG") and orientation == 1:
        return PreparedImage(rgb=rgb, encoded=data)
    return PreparedImage(rgb=rgb, encoded=encode_png(rgb))


def _from_array(array: np.ndarray) -> PreparedImage:
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"image array must be HxWx3 (RGB), got shape {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and float(np.nanmax(array)) <= 1.0:
            array = np.clip(np.round(array * 255), 0, 255)
        array = np.clip(array, 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(array[..., :3])
    return PreparedImage(rgb=rgb, encoded=encode_png(rgb))


def encode_png(rgb: NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
