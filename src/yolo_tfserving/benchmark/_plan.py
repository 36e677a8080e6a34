"""What a benchmark run is: its options (:class:`BenchConfig`, checked before any request) and its images."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._errors import ImageError, InputError

MODES = ("server", "client", "json-floats")
JSON_FLOATS_DEFAULT_MAX_IMAGES = 8  # each 640x640 body is ~20 MB of JSON, held in memory for the run

ImageSource = str | Path | bytes


@dataclass(frozen=True)
class BenchConfig:
    """What to run. ``url``: ``http://host:8501`` (REST) or ``grpc://host:8500`` (gRPC).

    ``requests`` and/or ``duration_s`` bound the run (at least one; with both, the first reached
    stops it). ``images``: paths or encoded bytes; empty means the built-in synthetic 640x480 JPEG.
    ``warmup``: unmeasured requests per worker before the clock starts. ``max_images``: use at most
    this many images (json-floats defaults to 8, see ``JSON_FLOATS_DEFAULT_MAX_IMAGES``).
    """

    url: str = "http://localhost:8501"
    model: str = "yolov5"
    mode: str = "server"
    concurrency: int = 1
    requests: int | None = None
    duration_s: float | None = None
    images: Sequence[ImageSource] = ()
    warmup: int = 1
    timeout_s: float = 30.0
    max_images: int | None = None

    def validate(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.concurrency < 1:
            raise InputError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.requests is None and self.duration_s is None:
            raise InputError("say how long to run: pass --requests M (total requests) or --duration S (seconds)")
        if self.requests is not None and self.requests < 1:
            raise InputError(f"--requests must be at least 1, got {self.requests}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise InputError(f"--duration must be positive, got {self.duration_s}")
        if self.warmup < 0:
            raise InputError(f"--warmup must be 0 or more, got {self.warmup}")
        if not self.timeout_s > 0:
            raise InputError(f"--timeout must be positive, got {self.timeout_s}")
        if self.max_images is not None and self.max_images < 1:
            raise InputError(f"--max-images must be at least 1, got {self.max_images}")
        if not self.model:
            raise InputError("--model must not be empty")

    def check_protocol(self, protocol: str) -> None:
        """json-floats is the original write-up's JSON request: REST only."""
        if self.mode == "json-floats" and protocol != "rest":
            raise InputError(
                f"--mode json-floats is REST only (the JSON request of the original write-up), but "
                f"{self.url} is gRPC; use --url http://HOST:8501, or --mode server/client over gRPC"
            )


@lru_cache(maxsize=1)
def synthetic_jpeg() -> bytes:
    """A deterministic 640x480 JPEG with a few shapes (the default when no images are given)."""
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:480, 0:640]
    rgb = np.stack([(x * 255 // 639), (y * 255 // 479), ((x + y) * 255 // 1118)], axis=-1).astype(np.uint8)
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    draw.rectangle((80, 120, 260, 400), fill=(200, 40, 40), outline=(0, 0, 0), width=4)
    draw.ellipse((330, 90, 560, 300), fill=(40, 160, 60), outline=(255, 255, 255), width=4)
    draw.rectangle((360, 330, 600, 450), fill=(30, 60, 200))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def load_images(sources: Sequence[ImageSource]) -> list[bytes]:
    """Encoded bytes of each image (checked to decode), or the synthetic JPEG when none are given."""
    from ..client.images import prepare

    if not sources:
        return [synthetic_jpeg()]
    out = []
    for src in sources:
        if isinstance(src, (bytes, bytearray)):
            data = bytes(src)
        else:
            try:
                data = Path(src).read_bytes()
            except OSError as exc:
                raise ImageError(f"cannot read image {src}: {exc.strerror or exc}") from exc
        prepare(data)  # fail before the run, not on every request
        out.append(data)
    return out


def plan_images(config: BenchConfig) -> tuple[list[bytes], list[str]]:
    """The run's images (``max_images`` applied; json-floats capped by default) and notes about the choice."""
    images = load_images(config.images)
    notes: list[str] = []
    limit = config.max_images
    if limit is None and config.mode == "json-floats" and len(images) > JSON_FLOATS_DEFAULT_MAX_IMAGES:
        limit = JSON_FLOATS_DEFAULT_MAX_IMAGES
        notes.append(
            f"json-floats: using the first {limit} of {len(images)} images (each JSON body is held in "
            "memory; pass --max-images to change)"
        )
    if limit is not None:
        images = images[:limit]
    if not config.images:
        notes.append("images: the built-in synthetic 640x480 JPEG (pass --images for real ones)")
    return images, notes
