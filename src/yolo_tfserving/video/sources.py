"""Video sources: which inputs are videos, and their frames decoded in order with timestamps.

A source is a video file (``.mp4 .mov .avi .mkv .webm`` ...), a webcam index (``0``), or a
``rtsp://``, ``rtmp://``, ``http(s)://`` stream. Decoding is PyAV's (FFmpeg). Files know their
frame count (or it is estimated from their duration); webcams and streams do not.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError
from ._av import require_av

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
DEFAULT_FPS = Fraction(30)


def is_stream(source: str) -> bool:
    """A network stream URL or a webcam index (no end known in advance)."""
    return source.isdigit() or source.lower().startswith(STREAM_SCHEMES)


def is_video_source(source: str | Path) -> bool:
    """A stream, a webcam index, or a path (or glob) ending in a video suffix."""
    text = str(source)
    return is_stream(text) or Path(text).suffix.lower() in VIDEO_SUFFIXES


def split_sources(items: Iterable[str | Path]) -> tuple[list[str], list[str]]:
    """``(video sources, the other items)``: folders contribute their videos (recursively, sorted) to the
    first list and stay in the second for their images; globs are expanded for video suffixes."""
    videos: list[str] = []
    others: list[str] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if not is_stream(text) and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            videos.extend(str(p) for p in found)
            if not found or _has_other_files(path):
                others.append(text)
        elif not is_stream(text) and not path.exists() and any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text, recursive=True))
            videos.extend(m for m in matches if Path(m).suffix.lower() in VIDEO_SUFFIXES)
            if not matches or any(Path(m).suffix.lower() not in VIDEO_SUFFIXES for m in matches):
                others.append(text)
        elif is_video_source(text):
            videos.append(text)
        else:
            others.append(text)
    return videos, others


def _has_other_files(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() not in VIDEO_SUFFIXES for p in folder.rglob("*"))


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the source (0-based, before ``vid_stride``), its presentation
    time in milliseconds from the first frame, and the RGB pixels (HWC uint8)."""

    index: int
    timestamp_ms: float
    rgb: NDArray[np.uint8]


class VideoSource:
    """An opened source. Iterate :meth:`frames`; always :meth:`close` (or use ``with``)."""

    def __init__(self, source: str, *, open_timeout_s: float = 10.0) -> None:
        av = require_av()
        self.name = source
        self.is_stream = is_stream(source)
        url, fmt, options = _open_arguments(source)
        if not self.is_stream and not Path(source).is_file():
            raise InputError(f"no such video file: {source}")
        try:
            self._container = av.open(url, format=fmt, options=options, timeout=open_timeout_s)
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"cannot open video {source}: {_reason(exc)}") from exc
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"cannot open video {source}: it has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        self.size_hw = (int(ctx.height), int(ctx.width))
        if not all(self.size_hw):
            self._container.close()
            raise InputError(f"cannot open video {source}: the video stream has no frame size")
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps: Fraction = Fraction(rate) if rate else DEFAULT_FPS
        frames = int(self._stream.frames or 0)
        if frames <= 0 and self._container.duration:  # Matroska/WebM/TS: estimated from the duration
            frames = round(self._container.duration / 1_000_000 * float(self.fps))
        # the length for the progress bar's ETA: the container's count, else the estimate; None for streams
        self.frame_count: int | None = frames if frames > 0 and not self.is_stream else None
        self.decoded = 0

    def frames(self, *, stride: int = 1) -> Iterator[Frame]:
        """Every ``stride``-th frame in order (the others are decoded, not converted); :attr:`decoded`
        counts them all. A stream that breaks mid-way raises :class:`InputError` after the frames
        decoded before the break (the caller has them)."""
        av = require_av()
        start_pts: int | None = None
        try:
            for frame in self._container.decode(self._stream):
                index = self.decoded
                self.decoded += 1
                timestamp_ms, start_pts = self._timestamp_ms(frame, index, start_pts)
                if index % stride == 0:
                    yield Frame(index, timestamp_ms, frame.to_ndarray(format="rgb24"))
        except (av.FFmpegError, OSError) as exc:
            raise InputError(f"video {self.name} broke after {self.decoded} frames: {_reason(exc)}") from exc

    def _timestamp_ms(self, frame: Any, index: int, start_pts: int | None) -> tuple[float, int | None]:
        """From the frame's pts (relative to the first frame's); the frame rate when there is none."""
        if frame.pts is None or frame.time_base is None:
            return float(index / self.fps * 1000), start_pts
        start = frame.pts if start_pts is None else start_pts
        return float((frame.pts - start) * frame.time_base * 1000), start

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_arguments(source: str) -> tuple[str, str | None, dict[str, str]]:
    """``av.open``'s file/URL, demuxer and options for ``source``."""
    if source.isdigit():
        if sys.platform.startswith("linux"):
            return f"/dev/video{source}", "v4l2", {}
        if sys.platform == "darwin":
            return source, "avfoundation", {"framerate": "30"}
        raise InputError(f"webcam index {source}: only Linux (v4l2) and macOS (avfoundation) open webcams by index")
    if source.lower().startswith(("rtsp://", "rtsps://")):
        return source, None, {"rtsp_transport": "tcp"}
    return source, None, {}


def _reason(exc: BaseException) -> str:
    """FFmpeg's words for a failure, without PyAV's errno prefix and file name."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).strip() or type(exc).__name__
