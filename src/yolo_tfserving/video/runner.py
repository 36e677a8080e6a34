"""Several sources in a row, as ``yolo-tfserving detect`` runs them: output names, progress, errors.

Per source ``<out>/<stem>.jsonl`` (stdout without ``out``), ``<stem>_det.mp4`` with
``save_video``, ``<stem>_coco.json`` with ``coco``. A source that cannot be opened, or breaks
mid-way, is reported in one line and counted as failed; the others still run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .._errors import InputError
from .pipeline import Detector, VideoOutputs, VideoSummary, check_options, detect_video
from .progress import frame_progress
from .sources import VideoSource, is_stream


def output_stem(source: str) -> str:
    """A file-name stem for ``source``: the file's stem, ``webcam<N>``, or the stream URL made safe."""
    if source.isdigit():
        return f"webcam{source}"
    if is_stream(source):
        return "stream_" + (re.sub(r"[^A-Za-z0-9._-]+", "_", source.split("://", 1)[1]).strip("_") or "0")[:80]
    return Path(source).stem


def detect_sources(
    client: Detector,
    sources: Sequence[str],
    *,
    out: Path | None,
    save_video: bool,
    coco: bool,
    progress: bool,
    log: Callable[[str], None],
    **pipeline: Any,
) -> tuple[list[VideoSummary], int]:
    """Run :func:`detect_video` on each source; ``(summaries, failed sources)``. ``pipeline``: its options."""
    if (save_video or coco) and out is None:
        raise InputError("annotated videos and COCO files need --out DIR")
    check_options(**pipeline)
    summaries: list[VideoSummary] = []
    failed = 0
    used: set[str] = set()
    for source in sources:
        outputs = _outputs(out, _unique(output_stem(source), used), save_video=save_video, coco=coco)
        try:
            summary = _one(client, source, outputs, progress, pipeline)
        except InputError as exc:
            log(f"error: {exc}")
            failed += 1
            continue
        summaries.append(summary)
        if summary.error is not None:
            log(f"error: {summary.error}; its outputs hold the {summary.frames} frames before it")
            failed += 1
        log(
            f"{source}: {summary.frames} frames, {summary.detections} detections, {summary.frames_per_s:.1f} frames/s"
            + (f"; wrote {', '.join(str(p) for p in summary.written)}" if summary.written else "")
        )
    return summaries, failed


def _one(client: Detector, source: str, outputs: VideoOutputs, progress: bool, pipeline: dict[str, Any]) -> Any:
    """One source, with a progress bar sized once the source is open (its frame count, stride, cap)."""
    stride = int(pipeline.get("vid_stride", 1))
    max_frames = pipeline.get("max_frames")
    advance: list[Callable[[], None]] = [lambda: None]
    with ExitStack() as stack:

        def on_open(video: VideoSource) -> None:
            total = None if video.frame_count is None else -(-video.frame_count // stride)
            if max_frames is not None and total is not None:
                total = min(total, max_frames)
            advance[0] = stack.enter_context(frame_progress(output_stem(source), total=total, enabled=progress))

        return detect_video(
            client, source, outputs=outputs, on_open=on_open, on_frame=lambda _r: advance[0](), **pipeline
        )


def _outputs(out: Path | None, stem: str, *, save_video: bool, coco: bool) -> VideoOutputs:
    if out is None:
        return VideoOutputs(jsonl=sys.stdout)
    return VideoOutputs(
        jsonl=out / f"{stem}.jsonl",
        video=out / f"{stem}_det.mp4" if save_video else None,
        coco=out / f"{stem}_coco.json" if coco else None,
    )


def _unique(stem: str, used: set[str]) -> str:
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}_{n}"
    used.add(name)
    return name
