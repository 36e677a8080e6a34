"""``detect``: images in, detections out (JSON / JSONL / COCO), annotated pictures on request.

Video files, webcam indices and streams go to :mod:`yolo_tfserving.video` (JSONL per frame,
an annotated video with ``--save-images``, COCO with ``--format coco``); Ctrl-C closes their
outputs and exits 130.

An unreadable image is reported on stderr and skipped; the rest are processed and the exit
code says that something failed (1). A server that is down or a wrong model name stops the
run with one line naming the URL/model and what to do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._errors import friendly_errors
from ._output import Reporter


def detect_command(
    paths: Annotated[
        list[str],
        typer.Argument(help="Image or video files, folders, globs, webcam indices, rtsp:// or http(s):// streams"),
    ],
    url: Annotated[str | None, typer.Option("--url", help="REST endpoint, e.g. http://localhost:8501")] = None,
    grpc_target: Annotated[str | None, typer.Option("--grpc", help="gRPC endpoint, e.g. localhost:8500")] = None,
    model: Annotated[str, typer.Option("--model", help="Model name on the server")] = "yolov5",
    version: Annotated[int | None, typer.Option("--version", help="Model version (default: latest)")] = None,
    mode: Annotated[str, typer.Option("--mode", help="server (in-graph) or client (local pre/post)")] = "server",
    conf: Annotated[float, typer.Option("--conf", help="Confidence threshold")] = 0.25,
    iou: Annotated[float, typer.Option("--iou", help="NMS IoU threshold")] = 0.45,
    max_det: Annotated[int, typer.Option("--max-det", help="Maximum detections per image")] = 300,
    classes: Annotated[list[int] | None, typer.Option("--classes", help="Keep only these class ids")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write results (and images) here instead of stdout")] = None,
    save_images: Annotated[bool, typer.Option("--save-images", help="Write annotated pictures to --out")] = False,
    fmt: Annotated[str, typer.Option("--format", help="json, jsonl or coco")] = "json",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per request")] = 1,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds per request")] = 60.0,
    vid_stride: Annotated[int, typer.Option("--vid-stride", help="Videos: detect on every Nth frame")] = 1,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Videos: stop after N frames")] = None,
    in_flight: Annotated[int, typer.Option("--in-flight", help="Videos: requests in flight at once")] = 4,
    frame_format: Annotated[str, typer.Option("--frame-format", help="Videos, server mode: jpeg or png")] = "jpeg",
) -> None:
    """Detect objects in images and videos through a TF Serving endpoint (ours or the real one)."""
    reporter = Reporter(json_output=False)
    with friendly_errors(reporter.error):
        from .._errors import InputError
        from ..client import Client
        from ..client.inputs import expand_image_paths
        from ..video.sources import split_sources

        endpoint = _endpoint(fmt=fmt, save_images=save_images, out=out, url=url, grpc_target=grpc_target)
        videos, image_items = split_sources(paths)
        files = expand_image_paths(image_items) if image_items else []
        if not files and not videos:
            raise InputError("no images or videos found in the given paths")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        results: list[dict[str, Any]] = []
        failed = 0
        client_options: dict[str, Any] = {
            "model": model,
            "version": version,
            "mode": mode,
            "conf_threshold": conf,
            "iou_threshold": iou,
            "max_det": max_det,
            "classes": classes,
            "timeout_s": timeout_s,
        }
        if videos:
            video_options = {"vid_stride": vid_stride, "max_frames": max_frames, "in_flight": in_flight}
            failed += _detect_videos(
                Client(endpoint, **client_options),
                videos,
                out=out,
                save_images=save_images,
                fmt=fmt,
                reporter=reporter,
                options={**video_options, "frame_format": frame_format, "batch_size": max(1, batch_size)},
            )
        if not files:
            if failed:
                raise SystemExit(1)
            return
        with (
            Client(endpoint, **client_options) as client,
            reporter.progress("detect", total=len(files)) as advance,
        ):
            client.status()  # fail fast, with one line, when the server or model is wrong
            from .classify_output import exit_if_classifier  # a classifier: top-k per image, then exit

            io = {"fmt": fmt, "out": out, "batch_size": batch_size, "reporter": reporter, "advance": advance}
            exit_if_classifier(client, files, failed, **io)
            for start in range(0, len(files), max(1, batch_size)):
                chunk = files[start : start + max(1, batch_size)]
                prepared = _prepare_chunk(client, chunk, reporter, advance)
                failed += len(chunk) - len(prepared)
                if not prepared:
                    continue
                detections = client.detect_batch([p for _, p in prepared])
                for (path, image), dets in zip(prepared, detections, strict=True):
                    results.append(
                        {"path": str(path), "image_id": path.stem, "size_hw": list(image.size_hw), "detections": dets}
                    )
                    if save_images and out is not None:
                        dets.annotate(image.rgb).save(out / f"{path.stem}_det{_suffix(path)}")
                    advance()
        _write(results, fmt=fmt, out=out)
        reporter.log(
            f"{len(results)} images, {sum(len(r['detections']) for r in results)} detections"
            + (f", {failed} failed" if failed else "")
            + (f"; results in {out}" if out else "")
        )
        if failed:
            raise SystemExit(1)


def _detect_videos(
    client: Any,
    videos: list[str],
    *,
    out: Path | None,
    save_images: bool,
    fmt: str,
    reporter: Reporter,
    options: dict[str, Any],
) -> int:
    """The video sources through :func:`yolo_tfserving.video.runner.detect_sources` (``client`` closed
    after); how many failed. Ctrl-C: the outputs are closed up to the last frame written, exit 130."""
    from ..video.runner import detect_sources

    try:
        with client:
            client.status()  # fail fast, with one line, when the server or model is wrong
            _, failed = detect_sources(
                client,
                videos,
                out=out,
                save_video=save_images,
                coco=fmt == "coco",
                progress=reporter.interactive,
                log=reporter.error,
                **options,
            )
    except KeyboardInterrupt:
        reporter.error("error: interrupted; the video outputs were closed at the last frame written")
        raise SystemExit(130) from None
    return failed


def _endpoint(*, fmt: str, save_images: bool, out: Path | None, url: str | None, grpc_target: str | None) -> str:
    """The options checked together; the endpoint URL (``grpc://`` for ``--grpc``)."""
    from .._errors import InputError

    if fmt not in ("json", "jsonl", "coco"):
        raise InputError(f"--format must be json, jsonl or coco, got {fmt!r}")
    if save_images and out is None:
        raise InputError("--save-images needs --out DIR")
    if url and grpc_target:
        raise InputError("pass --url or --grpc, not both")
    return f"grpc://{grpc_target}" if grpc_target else (url or "http://localhost:8501")


def _prepare_chunk(client: Any, chunk: list[Path], reporter: Reporter, advance: Any) -> list[tuple[Path, Any]]:
    """The chunk's images decoded for the client; an unreadable one is reported, skipped and counted done."""
    from .._errors import ImageError

    prepared = []
    for path in chunk:
        try:
            prepared.append((path, client.prepare(path)))
        except ImageError as exc:
            reporter.error(f"warning: skipped {path}: {exc}")
            advance()
    return prepared


def _suffix(path: Path) -> str:
    return ".png" if path.suffix.lower() == ".png" else ".jpg"


def _write(results: list[dict[str, Any]], *, fmt: str, out: Path | None) -> None:
    if fmt == "coco":
        rows = [row for r in results for row in r["detections"].to_coco(r["image_id"])]
        text = json.dumps(rows)
        name = "detections_coco.json"
    else:
        records = [
            {"path": r["path"], "size_hw": r["size_hw"], "detections": r["detections"].to_dicts()} for r in results
        ]
        text = "\n".join(json.dumps(r) for r in records) if fmt == "jsonl" else json.dumps(records, indent=1)
        name = "detections.jsonl" if fmt == "jsonl" else "detections.json"
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        (out / name).write_text(text + "\n")
