"""A GIF cut to its first frame, in the graph (image bombs, issue 10).

``decode_image(expand_animations=False)`` returns frame 0, but giflib (``DGifSlurp``) decodes
every frame first: 300 frames of 2000x2000 cost seconds and a gigabyte for one frame's result.
:func:`first_gif_frame` finds the end of the first image, keeps the bytes up to it and appends
the trailer, so only that image is decoded; that frame's own size is checked against the limit.

The structure: header (6 bytes), logical screen descriptor (7), the global colour table when
flagged, then blocks: an extension (0x21, a label, sub-blocks) or the image descriptor (0x2C and
9 bytes, the local colour table when flagged, the LZW minimum code size, sub-blocks). Sub-blocks
are a length byte and that many bytes, up to a zero length.

A walk of one graph step per block or sub-block costs ~40 us a step, and a hostile file of
1-byte sub-blocks has half a million steps per MB. So the walk jumps pointers instead: for a
window of 4 KiB, each (state, position) gets its next one in one vectorised step, and
``_ROUNDS`` rounds of ``next = next[next]`` give where a walk from the window's start leaves the
window or stops in it (positions only grow, so no path in the window is longer than it): a
fixed cost per window, whatever the sub-blocks' sizes (~1 ms per 4 KiB on one core, so ~0.25 s
per MB of a hostile file; a first frame inside the first window costs one).
"""

from __future__ import annotations

import tensorflow as tf

from .tf_images import refuse_past_limit

_WINDOW = 1 << 12
_MARGIN = 1024  # a step from inside the window lands at most 10 + 768 + 1 (image descriptor, table) past it
_SPAN = _WINDOW + _MARGIN
_ROUNDS = _SPAN.bit_length()  # 2**_ROUNDS > _SPAN steps
_EXTENSION, _IMAGE, _TRAILER = 0x21, 0x2C, b"\x3b"
# walk states (a node is state * _SPAN + offset in the window) and loop statuses
_BLOCK, _EXTENSION_DATA, _IMAGE_DATA = 0, 1, 2
_WALKING, _ENDED, _STUCK = 0, 1, 2


def _color_table_bytes(packed: tf.Tensor) -> tf.Tensor:
    """A colour table's length from its descriptor's packed byte: 3 * 2^(size + 1) when flagged."""
    return tf.where(packed >= 128, 3 * tf.pow(2, packed % 8 + 1), 0)


def _window_ends(data: tf.Tensor, n: tf.Tensor, base: tf.Tensor) -> tf.Tensor:
    """int32 ``[3 * _SPAN]``: per node at ``base``, the node where its walk leaves the window or stops.

    Stopping nodes point at themselves: an image descriptor (or any other byte where a block
    should start), a zero length in the image's sub-blocks, a position past the data, and every
    position past the window.
    """
    offset = tf.range(_SPAN)
    pos = base + offset
    inside = tf.logical_and(offset < _WINDOW, pos < n)
    b = tf.cast(tf.gather(data, tf.minimum(pos, n)), tf.int32)
    skip = offset + 1 + b
    block = tf.where(tf.logical_and(inside, tf.equal(b, _EXTENSION)), _SPAN + offset + 2, offset)
    extension = tf.where(inside, tf.where(tf.equal(b, 0), offset + 1, _SPAN + skip), _SPAN + offset)
    image = tf.where(tf.logical_and(inside, tf.not_equal(b, 0)), 2 * _SPAN + skip, 2 * _SPAN + offset)
    ends = tf.concat([block, extension, image], 0)
    for _ in range(_ROUNDS):
        ends = tf.gather(ends, ends)
    return ends


def gif_first_image_end(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(offset just past the first image's last sub-block, int64 ``[2]`` that frame's width and height).

    The offset is -1 (and the size 0x0) when the first image does not end inside the data: a
    truncated file, or a byte that starts neither an extension nor an image.
    """
    data = tf.io.decode_raw(tf.strings.join([encoded, b"\0"]), tf.uint8)  # one pad byte: reads past the end
    n = tf.size(data) - 1

    def byte(pos: tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.gather(data, tf.clip_by_value(pos, 0, n)), tf.int32)

    def step(
        base: tf.Tensor,
        state: tf.Tensor,
        width: tf.Tensor,
        height: tf.Tensor,
        status: tf.Tensor,  # noqa: ARG001 - tf.while_loop passes every loop variable; this one only ends it
    ) -> tuple[tf.Tensor, ...]:
        node = _window_ends(data, n, base)[state * _SPAN]
        state, offset = node // _SPAN, node % _SPAN
        pos = base + offset
        b = byte(pos)
        valid = pos < n
        left = tf.logical_and(valid, offset >= _WINDOW)
        stopped = tf.logical_and(valid, tf.logical_not(left))
        image = tf.logical_and(stopped, tf.logical_and(tf.equal(state, _BLOCK), tf.equal(b, _IMAGE)))
        ended = tf.logical_and(stopped, tf.logical_and(tf.equal(state, _IMAGE_DATA), tf.equal(b, 0)))
        image_data = pos + 10 + _color_table_bytes(byte(pos + 9)) + 1  # descriptor, local table, LZW code size
        return (
            tf.where(image, image_data, tf.where(ended, pos + 1, pos)),
            tf.where(image, _IMAGE_DATA, state),
            tf.where(image, byte(pos + 5) + 256 * byte(pos + 6), width),
            tf.where(image, byte(pos + 7) + 256 * byte(pos + 8), height),
            tf.where(tf.logical_or(left, image), _WALKING, tf.where(ended, _ENDED, _STUCK)),
        )

    zero = tf.constant(0)
    start = 13 + _color_table_bytes(byte(tf.constant(10)))
    end, _, width, height, status = tf.while_loop(
        lambda base, state, width, height, status: tf.equal(status, _WALKING),  # noqa: ARG005 - every loop var
        step,
        (start, tf.constant(_BLOCK), zero, zero, tf.constant(_WALKING)),
        maximum_iterations=n // _WINDOW + 4,  # a window left advances >= _WINDOW; one image step; one stop
    )
    found = tf.equal(status, _ENDED)
    size_wh = tf.cast(tf.stack([width, height]), tf.int64)
    return tf.where(found, end, -1), tf.where(found, size_wh, tf.zeros_like(size_wh))


def first_gif_frame(encoded: tf.Tensor, max_pixels: int) -> tf.Tensor:
    """The GIF up to the end of its first image, plus the trailer (unchanged when it cannot be walked)."""
    end, frame_wh = gif_first_image_end(encoded)
    cut = tf.cond(
        end >= 0,
        lambda: tf.strings.join([tf.strings.substr(encoded, 0, end), _TRAILER]),
        lambda: encoded,
    )
    if max_pixels > 0:
        # (no apostrophe: Assert would print it escaped)
        cut = refuse_past_limit(cut, frame_wh, max_pixels, "the first frame of the GIF")
    return cut
