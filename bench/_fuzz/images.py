"""Encoded image payloads: valid small JPEG/PNG/GIF/BMP, broken ones, and decompression bombs."""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from collections.abc import Callable

#: the bombs' claimed sizes (issue 10)
JPEG_BOMB_SIDE = 13000
PNG_BOMB_SIDE = 23000


def _encode(image: object, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)  # type: ignore[attr-defined]
    return buf.getvalue()


def _pixels(rng: random.Random, w: int, h: int) -> object:
    from PIL import Image

    if rng.random() < 0.5:
        return Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
    return Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))


def valid_jpeg(rng: random.Random, max_side: int = 96) -> bytes:
    w, h = rng.randint(1, max_side), rng.randint(1, max_side)
    return _encode(_pixels(rng, w, h), "JPEG", quality=rng.randint(10, 95))


def valid_png(rng: random.Random, max_side: int = 96) -> bytes:
    w, h = rng.randint(1, max_side), rng.randint(1, max_side)
    mode = rng.choice(["RGB", "L", "RGBA", "P", "1", "LA"])
    return _encode(_pixels(rng, w, h).convert(mode), "PNG")  # type: ignore[attr-defined]


def valid_other(rng: random.Random) -> bytes:
    w, h = rng.randint(1, 48), rng.randint(1, 48)
    return _encode(_pixels(rng, w, h), rng.choice(["GIF", "BMP"]))


def thin_valid(rng: random.Random) -> bytes:
    """A legitimate but extreme aspect ratio (1 x up to 4000), cheap to decode."""
    long_side = rng.randint(1000, 4000)
    size = (1, long_side) if rng.random() < 0.5 else (long_side, 1)
    return _encode(_pixels(rng, *size), rng.choice(["PNG", "JPEG"]))


def valid_image(rng: random.Random) -> bytes:
    return rng.choice([valid_jpeg, valid_png, valid_png, valid_other])(rng)


def truncated(rng: random.Random) -> bytes:
    data = rng.choice([valid_jpeg, valid_png])(rng, 64)
    return data[: rng.randint(0, max(0, len(data) - 1))]


def garbage(rng: random.Random) -> bytes:
    body = rng.randbytes(rng.randint(0, 2048))
    return rng.choice([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"RIFF"]) + body


def corrupted(rng: random.Random) -> bytes:
    """A valid image with a few bytes flipped (headers intact or not)."""
    data = bytearray(rng.choice([valid_jpeg, valid_png])(rng, 64))
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF0 header claims ``width`` x ``height`` (the scan data is 16x16's)."""
    from PIL import Image

    data = bytearray(_encode(Image.new("RGB", (16, 16), (90, 120, 200)), "JPEG", quality=80))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims ``width`` x ``height`` (CRC fixed; the data is 16x16's)."""
    from PIL import Image

    data = bytearray(_encode(Image.new("RGB", (16, 16), (1, 2, 3)), "PNG"))
    ihdr = data.index(b"IHDR")
    struct.pack_into(">II", data, ihdr + 4, width, height)
    struct.pack_into(">I", data, ihdr + 17, zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


@functools.lru_cache(maxsize=1)
def jpeg_bomb() -> bytes:
    return jpeg_claiming(JPEG_BOMB_SIDE, JPEG_BOMB_SIDE)


@functools.lru_cache(maxsize=1)
def png_bomb() -> bytes:
    """A real 1-bit PNG of 23000 x 23000 (~66 MB of pixels, a few tens of KB on the wire)."""
    from PIL import Image

    return _encode(Image.new("1", (PNG_BOMB_SIDE, PNG_BOMB_SIDE), 0), "PNG", optimize=False)


Payload = Callable[[random.Random], bytes]

BOMBS: dict[str, Callable[[], bytes]] = {
    "jpeg_bomb_13000": jpeg_bomb,
    "png_bomb_23000_1bit": png_bomb,
    "png_ihdr_claims_60000": lambda: png_claiming(60000, 60000),
    "jpeg_sof_claims_65535": lambda: jpeg_claiming(65535, 65535),
    "jpeg_sof_claims_0": lambda: jpeg_claiming(0, 0),
    "png_ihdr_claims_0": lambda: png_claiming(0, 0),
}

BENIGN: dict[str, Payload] = {
    "valid": valid_image,
    "jpeg": valid_jpeg,
    "png": valid_png,
    "gif_bmp": valid_other,
    "thin": thin_valid,
}
BROKEN: dict[str, Payload] = {"truncated": truncated, "garbage": garbage, "corrupted": corrupted}


def pick(rng: random.Random, *, bomb_rate: float = 0.04) -> tuple[str, bytes]:
    """(name, bytes) of a random payload: mostly valid, some broken, a few bombs."""
    roll = rng.random()
    if roll < bomb_rate:
        name = rng.choice(sorted(BOMBS))
        return name, BOMBS[name]()
    if roll < 0.55:
        name = rng.choice(sorted(BENIGN))
        return name, BENIGN[name](rng)
    name = rng.choice(sorted(BROKEN))
    return name, BROKEN[name](rng)
