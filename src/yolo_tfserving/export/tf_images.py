"""Image headers read in the graph, before anything is decoded (image bombs, issue 10).

- :func:`header_size`: width and height as the header states them: JPEG by
  ``tf.image.extract_jpeg_shape`` (libjpeg reads the header only), PNG from IHDR, GIF from the
  logical screen descriptor, BMP from BITMAPINFOHEADER (read as TensorFlow's decoder reads it).
- :func:`refuse_past_limit`: the input, gated on an assertion that fails with
  INVALID_ARGUMENT naming the size, the limit and how to raise it.

A GIF is also cut to its first frame before it is decoded (:mod:`.tf_gif`).

The magic numbers are TensorFlow's (``decode_image_op.cc``): an input it would not decode as one
of these formats gets no size here (-1) and keeps its own error from the decoder.
"""

from __future__ import annotations

import tensorflow as tf

from .._limits import GRAPH_FIX, LIMIT_TEMPLATE

_HEAD = 26  # bytes of header read: BMP's height ends at 26
_PNG, _IHDR, _GIF, _BMP = b"\x89PNG\r\n\x1a\n", b"IHDR", b"GIF8", b"BM"


def _head(encoded: tf.Tensor) -> tf.Tensor:
    """The first ``_HEAD`` bytes as int64 ``[_HEAD]``, zero-padded past the end of a short input."""
    padded = tf.strings.join([tf.strings.substr(encoded, 0, _HEAD), tf.constant(b"\0" * _HEAD)])
    head = tf.io.decode_raw(tf.strings.substr(padded, 0, _HEAD), tf.uint8)
    return tf.cast(tf.reshape(head, [_HEAD]), tf.int64)


def _starts(head: tf.Tensor, offset: int, magic: bytes) -> tf.Tensor:
    return tf.reduce_all(tf.equal(head[offset : offset + len(magic)], tf.constant(list(magic), tf.int64)))


def _unsigned(head: tf.Tensor, offset: int, size: int, *, little: bool) -> tf.Tensor:
    value = tf.constant(0, tf.int64)
    for i in reversed(range(size)) if little else range(size):
        value = value * 256 + head[offset + i]
    return value


def _int32_le(head: tf.Tensor, offset: int) -> tf.Tensor:
    value = _unsigned(head, offset, 4, little=True)
    return tf.where(value >= 2**31, value - 2**32, value)


def is_gif(encoded: tf.Tensor) -> tf.Tensor:
    return tf.equal(tf.strings.substr(encoded, 0, len(_GIF)), _GIF)


def header_size(encoded: tf.Tensor) -> tf.Tensor:
    """int64 ``[2]``: (width, height) from the header; (-1, -1) where the format is none of these."""
    head = _head(encoded)
    png = tf.logical_and(_starts(head, 0, _PNG), _starts(head, 12, _IHDR))
    png_wh = tf.stack([_unsigned(head, 16, 4, little=False), _unsigned(head, 20, 4, little=False)])
    gif_wh = tf.stack([_unsigned(head, 6, 2, little=True), _unsigned(head, 8, 2, little=True)])
    # TensorFlow's BMP decoder reads int32 width and height at 18 and 22; negative height: top-down rows
    bmp_wh = tf.abs(tf.stack([_int32_le(head, 18), _int32_le(head, 22)]))
    unknown = tf.constant([-1, -1], tf.int64)
    bmp_or_unknown = tf.where(_starts(head, 0, _BMP), bmp_wh, unknown)
    other = tf.where(png, png_wh, tf.where(_starts(head, 0, _GIF), gif_wh, bmp_or_unknown))

    def jpeg() -> tf.Tensor:
        shape = tf.image.extract_jpeg_shape(encoded, output_type=tf.int64)
        return tf.stack([shape[1], shape[0]])

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, lambda: other)


def refuse_past_limit(value: tf.Tensor, size_wh: tf.Tensor, max_pixels: int, what: str) -> tf.Tensor:
    """``value``, once ``size_wh``'s pixel count is checked against ``max_pixels`` (INVALID_ARGUMENT past it)."""
    width, height = size_wh[0], size_wh[1]
    pixels = width * height
    template = LIMIT_TEMPLATE.format(what, "{}", "{}", "{}", "{}") + GRAPH_FIX
    message = tf.strings.format(template, (width, height, pixels, tf.constant(max_pixels, tf.int64)))
    check = tf.debugging.Assert(pixels <= max_pixels, [message], summarize=1)
    with tf.control_dependencies([check]):
        return tf.identity(value)
