"""``detect_video``: a video or stream through a :class:`~yolo_tfserving.client.Client`, pipelined.

Three stages overlap: a thread decodes (and drops frames for ``vid_stride``) into a bounded
queue; up to ``in_flight`` requests of ``batch_size`` frames each run on a thread pool (each
worker encodes its frames for the server mode); the calling thread takes the answers back in
frame order and writes the outputs (JSONL line, COCO rows, annotated video frame). So the server
always has work while the client decodes and writes.

Whatever ends the run (the last frame, ``max_frames``, a stream that breaks, Ctrl-C, an error)
the outputs are closed: the video's encoder flushed and its container finalised, the JSONL whole
up to the last frame written. A Ctrl-C (``KeyboardInterrupt``) is re-raised after that.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError
from ..client.detections import Detections
from ..client.images import PreparedImage, encode_png
from .sources import Frame, VideoSource
from .writers import AnnotatedVideoWriter, CocoCollector, FrameResult, JsonlWriter

FRAME_FORMATS = ("jpeg", "png")


class Detector(Protocol):
    """What the pipeline needs of a client (:class:`~yolo_tfserving.client.Client`)."""

    @property
    def mode(self) -> str: ...

    def detect_batch(self, images: Sequence[Any]) -> list[Detections]: ...


@dataclass(frozen=True)
class VideoOutputs:
    """Where one video's results go; ``None``: not written."""

    jsonl: Path | IO[str] | None = None
    video: Path | None = None
    coco: Path | None = None


@dataclass
class VideoSummary:
    """What a run did: frames decoded and processed, detections, the outputs written."""

    source: str
    frames_decoded: int = 0
    frames: int = 0
    detections: int = 0
    wall_s: float = 0.0
    size_hw: tuple[int, int] = (0, 0)
    fps: float = 0.0
    encoder: str | None = None
    error: str | None = None  # the stream broke mid-way (the frames before it were processed)
    written: list[Path] = field(default_factory=list)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class _Settings:
    batch_size: int
    in_flight: int
    vid_stride: int
    max_frames: int | None
    frame_format: str
    jpeg_quality: int

    def check(self) -> None:
        for name, value in (("batch_size", self.batch_size), ("in_flight", self.in_flight)):
            if value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        if self.vid_stride < 1:
            raise InputError(f"vid_stride must be at least 1, got {self.vid_stride}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(f"max_frames must be at least 1, got {self.max_frames}")
        if self.frame_format not in FRAME_FORMATS:
            raise InputError(f"frame_format must be one of {FRAME_FORMATS}, got {self.frame_format!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise InputError(f"jpeg_quality must be 1..100, got {self.jpeg_quality}")


def check_options(
    *,
    batch_size: int = 1,
    in_flight: int = 4,
    vid_stride: int = 1,
    max_frames: int | None = None,
    frame_format: str = "jpeg",
    jpeg_quality: int = 95,
) -> None:
    """:class:`InputError` for options :func:`detect_video` would refuse (before any source is opened)."""
    _Settings(batch_size, in_flight, vid_stride, max_frames, frame_format, jpeg_quality).check()


def detect_video(
    client: Detector,
    source: str | Path,
    *,
    outputs: VideoOutputs | None = None,
    batch_size: int = 1,
    in_flight: int = 4,
    vid_stride: int = 1,
    max_frames: int | None = None,
    frame_format: str = "jpeg",
    jpeg_quality: int = 95,
    on_frame: Callable[[FrameResult], None] | None = None,
    on_open: Callable[[VideoSource], None] | None = None,
) -> VideoSummary:
    """Detect on every ``vid_stride``-th frame of ``source`` (at most ``max_frames`` of them).

    ``frame_format``: how the server mode sends frames, ``jpeg`` (``jpeg_quality``; a camera
    pipeline's choice, a few ms a frame) or ``png`` (lossless, as ``Client.detect`` sends an
    array; many times slower to encode). Client mode sends the letterboxed pixels either way.
    ``on_open`` sees the opened source (size, fps, frame count) before the first frame;
    ``on_frame`` each processed frame, in order. An unreadable source raises :class:`InputError`.
    """
    settings = _Settings(batch_size, in_flight, vid_stride, max_frames, frame_format, jpeg_quality)
    settings.check()
    started = time.perf_counter()
    with VideoSource(str(source)) as video:
        summary = VideoSummary(source=str(source), size_hw=video.size_hw, fps=float(video.fps))
        if on_open is not None:
            on_open(video)
        sinks = _open_sinks(outputs or VideoOutputs(), video, settings, summary)
        try:
            _run(client, video, settings, sinks, summary, on_frame)
        finally:
            sinks.close()
            summary.wall_s = time.perf_counter() - started
            summary.written = [p for p in summary.written if p.exists()]  # no frame: the MP4 was never started
    return summary


# -- the outputs ----------------------------------------------------------------------------
class _Sinks:
    def __init__(self) -> None:
        self.jsonl: JsonlWriter | None = None
        self.coco: CocoCollector | None = None
        self.video: AnnotatedVideoWriter | None = None

    def write(self, frame: Frame, result: FrameResult) -> None:
        for sink in (self.jsonl, self.coco):
            if sink is not None:
                sink.write(result)
        if self.video is not None:
            self.video.write(np.asarray(result.detections.annotate(frame.rgb)))

    def close(self) -> None:
        """Close every sink, even when one of them fails; the first failure is raised."""
        failure: BaseException | None = None
        for sink in (self.video, self.jsonl, self.coco):
            if sink is None:
                continue
            try:
                sink.close()
            except Exception as exc:  # keep closing the others
                failure = failure or exc
        if failure is not None:
            raise failure


def _open_sinks(outputs: VideoOutputs, video: VideoSource, settings: _Settings, summary: VideoSummary) -> _Sinks:
    sinks = _Sinks()
    try:
        if isinstance(outputs.jsonl, Path):
            sinks.jsonl = JsonlWriter.to_file(outputs.jsonl, source=summary.source)
            summary.written.append(outputs.jsonl)
        elif outputs.jsonl is not None:
            sinks.jsonl = JsonlWriter(outputs.jsonl, source=summary.source, owns=False)
        if outputs.coco is not None:
            sinks.coco = CocoCollector(outputs.coco)
            summary.written.append(outputs.coco)
        if outputs.video is not None:
            fps = video.fps / settings.vid_stride  # every vid_stride-th frame: the output lasts as long
            sinks.video = AnnotatedVideoWriter(outputs.video, size_hw=video.size_hw, fps=fps)
            summary.encoder = sinks.video.encoder
            summary.written.append(outputs.video)
    except BaseException:
        sinks.close()
        raise
    return sinks


# -- the pipeline -----------------------------------------------------------------------------
_END = object()


def _run(
    client: Detector,
    video: VideoSource,
    settings: _Settings,
    sinks: _Sinks,
    summary: VideoSummary,
    on_frame: Callable[[FrameResult], None] | None,
) -> None:
    decoder = _Decoder(video, settings)
    encode = _frame_encoder(client.mode, settings)
    pending: deque[tuple[list[Frame], Future[list[Detections]]]] = deque()
    pool = ThreadPoolExecutor(max_workers=settings.in_flight, thread_name_prefix="video-request")
    decoder.start()
    try:
        for batch in decoder.batches():
            pending.append((batch, pool.submit(_detect, client, encode, batch)))
            while len(pending) >= settings.in_flight:
                _write_oldest(pending, sinks, summary, on_frame)
        while pending:
            _write_oldest(pending, sinks, summary, on_frame)
    finally:
        for _, future in pending:
            future.cancel()
        decoder.stop()
        pool.shutdown(wait=True, cancel_futures=True)
    summary.frames_decoded = video.decoded
    if decoder.error is not None:
        summary.error = str(decoder.error)


def _detect(client: Detector, encode: Callable[[NDArray[np.uint8]], bytes], batch: list[Frame]) -> list[Detections]:
    return client.detect_batch([PreparedImage(rgb=f.rgb, encoded=encode(f.rgb)) for f in batch])


def _write_oldest(
    pending: deque[tuple[list[Frame], Future[list[Detections]]]],
    sinks: _Sinks,
    summary: VideoSummary,
    on_frame: Callable[[FrameResult], None] | None,
) -> None:
    batch, future = pending.popleft()
    for frame, dets in zip(batch, future.result(), strict=True):
        result = FrameResult(frame.index, frame.timestamp_ms, dets)
        sinks.write(frame, result)
        summary.frames += 1
        summary.detections += len(dets)
        if on_frame is not None:
            on_frame(result)


def _frame_encoder(mode: str, settings: _Settings) -> Callable[[NDArray[np.uint8]], bytes]:
    """How a frame is sent: the server mode decodes it in the graph; the client mode sends pixels."""
    if mode != "server":
        return lambda _rgb: b""
    if settings.frame_format == "png":
        return encode_png
    quality = settings.jpeg_quality

    def encode_jpeg(rgb: NDArray[np.uint8]) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
        return buf.getvalue()

    return encode_jpeg


class _Decoder:
    """The decoding thread: batches of kept frames into a bounded queue, then ``_END``."""

    def __init__(self, video: VideoSource, settings: _Settings) -> None:
        self._video = video
        self._settings = settings
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=settings.in_flight + 1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="video-decode", daemon=True)
        self.error: InputError | None = None

    def start(self) -> None:
        self._thread.start()

    def batches(self) -> Iterator[list[Frame]]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            yield item

    def stop(self) -> None:
        """Stop decoding and wait for the thread (the queue drained so it is not blocked on it)."""
        self._stopping.set()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.1)

    def _put(self, item: Any) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            self._decode()
        except InputError as exc:  # a stream that broke: what came before it stands
            self.error = exc
        finally:
            self._put(_END)

    def _decode(self) -> None:
        s = self._settings
        batch: list[Frame] = []
        kept = 0
        try:
            for frame in self._video.frames(stride=s.vid_stride):
                batch.append(frame)
                kept += 1
                if len(batch) == s.batch_size:
                    if not self._put(batch):
                        return
                    batch = []
                if (s.max_frames is not None and kept >= s.max_frames) or self._stopping.is_set():
                    break
        finally:  # the frames before the end, the cap or a break
            if batch:
                self._put(batch)
