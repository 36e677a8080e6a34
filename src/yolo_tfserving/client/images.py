"""Accept an image as a path, bytes, numpy array (HWC RGB) or PIL image; honour EXIF orientation.

For the ``server`` mode the model decodes the bytes itself, so we send the original file
bytes when they are already upright JPEG/PNG; anything else (an array, a rotated EXIF image,
another format) is encoded once as PNG, losslessly, so both modes see the same pixels.

An image of more than ``max_pixels`` pixels (the model's limit, see ``export --max-pixels``) is
refused with :class:`ImageTooLargeError` from its header, before Pillow decodes it (and before
Pillow's own bomb check warns); Pillow's refusal past twice ``PIL.Image.MAX_IMAGE_PIXELS``, when
our limit is higher, becomes the same error.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import ImageError, ImageTooLargeError
from .._limits import DEFAULT_MAX_PIXELS, LIMIT_TEMPLATE, over_limit_message

ImageInput = Any  # str | Path | bytes | np.ndarray | PIL.Image.Image


@dataclass(frozen=True)
class PreparedImage:
    """An upright RGB image and the encoded bytes the server mode sends."""

    rgb: NDArray[np.uint8]
    encoded: bytes

    @property
    def size_hw(self) -> tuple[int, int]:
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


def prepare(image: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedImage:
    """Decode ``image`` upright to RGB (refused past ``max_pixels`` pixels, 0: no limit)."""
    from PIL import Image, ImageOps

    if isinstance(image, PreparedImage):
        return image
    if isinstance(image, np.ndarray):
        if image.ndim >= 2:
            check_pixels("the image array", int(image.shape[1]), int(image.shape[0]), max_pixels)
        return _from_array(image)
    if isinstance(image, Image.Image):
        check_pixels("the image", *image.size, max_pixels)
        return _from_array(np.asarray(ImageOps.exif_transpose(image).convert("RGB")))
    data, label = _encoded_source(image)
    return _decode(data, label, max_pixels)


def _encoded_source(image: ImageInput) -> tuple[bytes, str]:
    """The encoded bytes of a path or bytes-like ``image`` and how messages name it."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        try:
            return path.read_bytes(), str(path)
        except OSError as exc:
            raise ImageError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), "image bytes"
    raise ImageError(
        f"unsupported image type {type(image).__name__}: pass a path, bytes, an HWC RGB array or a PIL image"
    )


def _decode(data: bytes, label: str, max_pixels: int) -> PreparedImage:
    """Encoded ``data`` -> upright RGB, the pixel limit checked from the header before decoding."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    size = header_size(data)
    if size is not None:
        check_pixels(label, *size, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            width, height = im.size
            check_pixels(label, width, height, max_pixels)
            fmt = im.format
            orientation = im.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(im) if orientation != 1 else im
            rgb = np.asarray(upright.convert("RGB"))
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # within our limit, past twice Pillow's: Image.open refuses it
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        what = LIMIT_TEMPLATE.format(label, *size, size[0] * size[1], pillow_limit) if size else f"{label} ({exc})"
        raise ImageTooLargeError(
            f"{what}: Pillow refuses it as a decompression bomb (its limit is twice PIL.Image.MAX_IMAGE_PIXELS)",
            pixels=size[0] * size[1] if size else None,
            limit=pillow_limit,
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot decode {label}: not a readable image ({exc})") from exc
    if fmt in ("JPEG", "PNG") and orientation == 1:
        return PreparedImage(rgb=rgb, encoded=data)
    return PreparedImage(rgb=rgb, encoded=encode_png(rgb))


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as the header states them, read by Pillow's format plugins (None: no plugin reads it).

    ``Image.open`` does the same and then applies Pillow's own decompression-bomb check, which
    warns past ``MAX_IMAGE_PIXELS`` and refuses past twice that before our limit could be checked.
    Nothing is decoded here (a plugin's ``_open`` reads headers only).
    """
    from PIL import Image

    Image.init()
    prefix = data[:16]
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            accepted = accept is None or accept(prefix)
            if not accepted or isinstance(accepted, str):  # a str: "would be this format, but cannot"
                continue
            with factory(io.BytesIO(data), "") as im:
                return int(im.size[0]), int(im.size[1])
        except Exception:  # not this format after all: the next one, or Image.open's own error
            continue
    return None


def check_pixels(label: str, width: int, height: int, max_pixels: int) -> None:
    """ImageTooLargeError when ``width x height`` is past ``max_pixels`` (0: no limit)."""
    if max_pixels and width * height > max_pixels:
        raise ImageTooLargeError(
            over_limit_message(label, width, height, max_pixels), pixels=width * height, limit=max_pixels
        )


def _from_array(array: NDArray[Any]) -> PreparedImage:
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
