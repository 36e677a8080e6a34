"""Small files that decode to huge images (for the pixel-limit tests and bench/image_bombs.py).

Each builder writes a valid file of its format; only the header (or the frame count) is big:

- :func:`jpeg_bomb`: a 8x8 baseline JPEG whose SOF0 claims ``width x height`` (~650 bytes);
  libjpeg decodes the missing scan data as grey.
- :func:`png_bomb`: a 1-bit greyscale PNG of zeros, written row by row (23000x23000 is ~64 KB).
- :func:`gif_frames`: ``frames`` full-screen frames of ``size x size``; frame 0 is colour
  index 1 (red), every later frame index 2 (blue), all under one global colour table.
- :func:`bmp_header`: only a BMP header (data missing), for header-parsing tests.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

RED, BLUE = (255, 0, 0), (0, 0, 255)


def jpeg_bomb(width: int = 13000, height: int = 13000) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (128, 128, 128)).save(buf, format="JPEG", quality=50)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    # FFC0, length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 23000, height: int = 23000) -> bytes:
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + 1 bit per pixel
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _single_gif(size: int, index: int) -> bytes:
    im = Image.new("P", (size, size), index)
    palette = [0] * 768
    palette[3:9] = [*RED, *BLUE]
    im.putpalette(palette)
    buf = io.BytesIO()
    im.save(buf, format="GIF", optimize=False)
    return buf.getvalue()


def _image_block(gif: bytes) -> bytes:
    """The first image of a single-frame GIF: from its descriptor (0x2C) to its last sub-block."""
    start = gif.index(b"\x2c", 13 + 768)  # after the header, screen descriptor and 256-entry colour table
    return gif[start:-1]  # drop the trailer (0x3B)


def gif_frames(frames: int = 300, size: int = 2000) -> bytes:
    first, later = _single_gif(size, 1), _single_gif(size, 2)
    head = first[: 13 + 768]
    assert later[: 13 + 768] == head, "both frames must share the global colour table"
    delay = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control extension: 0.1 s, no transparency
    blocks = [delay + _image_block(first)] + [delay + _image_block(later)] * (frames - 1)
    return head + b"".join(blocks) + b"\x3b"


def bmp_header(width: int, height: int) -> bytes:
    """A 24-bit BITMAPINFOHEADER claiming ``width x height`` (negative height: top-down), no pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info
