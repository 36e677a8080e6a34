"""Per-video outputs: the annotated video (H.264, else MPEG-4 Part 2), JSONL per frame, COCO rows.

Each writer is closed by the pipeline whatever happens (end, break, Ctrl-C), so what was written
is complete: the video's encoder is flushed and its container finalised (a playable file), the
JSONL holds one whole line per frame up to the last one written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from ..client.detections import Detections
from ._av import require_av

# (encoder, options) in order of preference: H.264 where the FFmpeg build has libx264 (PyAV's
# wheels do) or Cisco's OpenH264, else MPEG-4 Part 2, which every FFmpeg build encodes and every
# player reads. Hardware H.264 encoders (nvenc, qsv, v4l2m2m) are not tried: they may be listed and
# still fail to open.
ENCODERS: tuple[tuple[str, dict[str, str]], ...] = (
    ("libx264", {"preset": "veryfast", "crf": "23"}),
    ("libopenh264", {}),
    ("mpeg4", {"qscale": "3"}),
)


def pick_encoder() -> str:
    """The first encoder of :data:`ENCODERS` this FFmpeg build has."""
    av = require_av()
    for name, _ in ENCODERS:
        if name in av.codecs_available:
            try:
                av.codec.Codec(name, "w")
            except Exception:  # PyAV raises its own UnknownCodecError (and older versions ValueError)
                continue
            return name
    return "mpeg4"


class AnnotatedVideoWriter:
    """An ``.mp4`` of the given size and frame rate; frames are RGB HWC uint8."""

    def __init__(self, path: Path, *, size_hw: tuple[int, int], fps: Fraction, encoder: str | None = None) -> None:
        av = require_av()
        self.path = path
        self.encoder = encoder or pick_encoder()
        options = dict(ENCODERS)[self.encoder] if self.encoder in dict(ENCODERS) else {}
        self._container = av.open(str(path), mode="w")
        self._stream = self._container.add_stream(self.encoder, rate=fps, options=options)
        # yuv420p needs even sides; odd sizes are padded by one pixel row/column (the encoder's constraint)
        self._size_hw = (size_hw[0] + size_hw[0] % 2, size_hw[1] + size_hw[1] % 2)
        self._stream.height, self._stream.width = self._size_hw
        self._stream.pix_fmt = "yuv420p"
        self.frames_written = 0
        self._av = av

    def write(self, rgb: NDArray[np.uint8]) -> None:
        rgb = _pad_to(rgb, self._size_hw)
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finalise the container (idempotent)."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def _pad_to(rgb: NDArray[np.uint8], size_hw: tuple[int, int]) -> NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    if (h, w) == size_hw:
        return rgb
    return np.pad(rgb, ((0, size_hw[0] - h), (0, size_hw[1] - w), (0, 0)), mode="edge")


@dataclass(frozen=True)
class FrameResult:
    """One processed frame: its index in the source, timestamp and detections (source pixels)."""

    index: int
    timestamp_ms: float
    detections: Detections

    def to_record(self, *, source: str) -> dict[str, Any]:
        return {
            "source": source,
            "frame": self.index,
            "timestamp_ms": round(self.timestamp_ms, 3),
            "detections": self.detections.to_dicts(),
        }


class JsonlWriter:
    """One JSON object per frame, a line each, flushed as it is written."""

    def __init__(self, stream: IO[str], *, source: str, owns: bool) -> None:
        self._stream = stream
        self._source = source
        self._owns = owns
        self.lines = 0

    @classmethod
    def to_file(cls, path: Path, *, source: str) -> JsonlWriter:
        return cls(path.open("w", encoding="utf-8"), source=source, owns=True)

    def write(self, result: FrameResult) -> None:
        self._stream.write(json.dumps(result.to_record(source=self._source)) + "\n")
        self._stream.flush()
        self.lines += 1

    def close(self) -> None:
        if self._owns and not self._stream.closed:
            self._stream.close()


class CocoCollector:
    """COCO results rows, ``image_id`` the frame index; written as one JSON array on close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []

    def write(self, result: FrameResult) -> None:
        self.rows.extend(result.detections.to_coco(result.index))

    def close(self) -> None:
        tmp = self.path.with_name(self.path.name + ".part")
        tmp.write_text(json.dumps(self.rows) + "\n", encoding="utf-8")
        tmp.replace(self.path)
