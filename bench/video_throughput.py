"""A video through the served model vs ``bench`` on the same frames (issue 14's target: >= 0.9x).

The yolov5n checkpoint is exported once (640) and served by ``yolo-tfserving serve`` in a child
process. A 300-frame 640x480 H.264 clip is made here: a camera panning over a coco128 picture
(so there is something to detect). In rounds, interleaved so machine drift hits both alike:

- ``bench``: :func:`yolo_tfserving.benchmark.run_benchmark` at ``--concurrency`` clients, server
  mode, on the clip's frames as the JPEGs the video pipeline sends (quality 95), one image a
  request, as many requests as the clip has frames;
- ``video``: :func:`yolo_tfserving.video.detect_video` on the clip, ``in_flight`` equal to that
  concurrency, one frame a request, JSONL written: decode, encode, requests and writing all counted.

Both over REST and gRPC, the order of the two alternating by round. Reported: the best round of
each (frames/s) and video / bench of the bests, the median of the per-round ratios, and the
client-side ceiling: the same pipeline against a stand-in detector that answers at once (decode,
JPEG encode, JSONL only), which says how much of the machine the client itself takes.

    python bench/video_throughput.py [--weights PT] [--repeats 2] [--concurrency 4] [--frames 300] [--json]
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import ServerProcess, export_once, machine, sample_image, script_parser

SIZE_HW = (480, 640)


def make_clip(path: Path, picture: Path | None, *, frames: int, fps: int = 30) -> list[bytes]:
    """A ``frames``-long 640x480 H.264 clip panning over ``picture``; returns each frame as the JPEG
    (quality 95) the pipeline's server mode sends."""
    import av
    import numpy as np
    from PIL import Image

    from yolo_tfserving.video import pick_encoder

    h, w = SIZE_HW
    source = Image.open(picture).convert("RGB") if picture else Image.new("RGB", (w, h), (90, 120, 150))
    wide = np.asarray(source.resize((w + w // 2, h + h // 4)))
    container = av.open(str(path), mode="w")
    stream = container.add_stream(pick_encoder(), rate=fps)
    stream.height, stream.width = h, w
    stream.pix_fmt = "yuv420p"
    jpegs = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        x, y = round(t * (wide.shape[1] - w)), round(abs(0.5 - t) * 2 * (wide.shape[0] - h))
        rgb = np.ascontiguousarray(wide[y : y + h, x : x + w])
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            container.mux(packet)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
        jpegs.append(buf.getvalue())
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return jpegs


def bench_images_per_s(url: str, jpegs: list[bytes], concurrency: int) -> float:
    from yolo_tfserving.benchmark import BenchConfig, run_benchmark

    config = BenchConfig(url=url, concurrency=concurrency, requests=len(jpegs), images=jpegs, warmup=1)
    summary = run_benchmark(config).summary()
    if summary["errors"]:
        raise SystemExit(f"error: bench had {summary['errors']} failed requests")
    return float(summary["throughput_ips"])


def video_frames_per_s(url: str, clip: Path, concurrency: int, out: Path) -> tuple[float, int]:
    from yolo_tfserving import Client
    from yolo_tfserving.video import VideoOutputs, detect_video

    with Client(url) as client:
        client.detect(clip.with_suffix(".warm.jpg"))  # connection and model facts, as bench's warm-up
        started = time.perf_counter()
        summary = detect_video(client, clip, outputs=VideoOutputs(jsonl=out), in_flight=concurrency)
        return summary.frames / (time.perf_counter() - started), summary.detections


class _Instant:
    """A detector that answers at once: what the pipeline alone can do."""

    mode = "server"

    def detect_batch(self, images: Any) -> list[Any]:
        from yolo_tfserving import Detections

        return [Detections.empty(image.size_hw) for image in images]


def client_ceiling_fps(clip: Path, out: Path) -> float:
    from yolo_tfserving.video import VideoOutputs, detect_video

    summary = detect_video(_Instant(), clip, outputs=VideoOutputs(jsonl=out))
    return summary.frames / summary.wall_s


def run(
    weights: Path, image: Path | None = None, *, repeats: int = 2, concurrency: int = 4, frames: int = 300
) -> dict[str, Any]:
    rows: dict[str, dict[str, list[float]]] = {}
    detections = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = work / "clip.mp4"
        jpegs = make_clip(clip, image or sample_image(), frames=frames)
        clip.with_suffix(".warm.jpg").write_bytes(jpegs[0])
        model_dir = export_once(weights, work / "models")
        ceiling = client_ceiling_fps(clip, work / "ceiling.jsonl")
        with ServerProcess(model_dir) as server:
            for round_ in range(repeats):
                for protocol, url in (("rest", server.rest_url), ("grpc", server.grpc_url)):
                    row = rows.setdefault(protocol, {"bench": [], "video": []})
                    for kind in ("bench", "video") if round_ % 2 == 0 else ("video", "bench"):
                        if kind == "bench":
                            row["bench"].append(bench_images_per_s(url, jpegs, concurrency))
                        else:
                            fps, detections = video_frames_per_s(url, clip, concurrency, work / f"{protocol}.jsonl")
                            row["video"].append(fps)
    best = {p: {k: max(v) for k, v in r.items()} for p, r in rows.items()}
    paired = {p: statistics.median(v / b for v, b in zip(r["video"], r["bench"], strict=True)) for p, r in rows.items()}
    picture = image or sample_image()
    return {
        "machine": machine(),
        "clip": f"{frames} frames 640x480 H.264, panning over {picture.name if picture else 'a flat colour'}",
        "concurrency": concurrency,
        "detections_per_run": detections,
        "rounds": {p: {k: [round(x, 2) for x in v] for k, v in r.items()} for p, r in rows.items()},
        "frames_per_s": {p: {k: round(x, 2) for k, x in b.items()} for p, b in best.items()},
        "video_vs_bench": {p: round(b["video"] / b["bench"], 3) for p, b in best.items()},
        "video_vs_bench_median_of_rounds": {p: round(v, 3) for p, v in paired.items()},
        "client_ceiling_frames_per_s": round(ceiling, 1),
    }


def to_markdown(res: dict[str, Any]) -> str:
    lines = [
        f"yolov5n 640, {res['clip']}, {res['concurrency']} requests in flight ({res['machine']}); "
        "best of the interleaved rounds.",
        "",
        "| transport | `bench` images/s | video frames/s | video / bench | median of rounds |",
        "|---|---:|---:|---:|---:|",
    ]
    for protocol, fps in res["frames_per_s"].items():
        ratio, median = res["video_vs_bench"][protocol], res["video_vs_bench_median_of_rounds"][protocol]
        lines.append(f"| {protocol} | {fps['bench']:.1f} | {fps['video']:.1f} | {ratio:.2f}x | {median:.2f}x |")
    lines += [
        "",
        f"The pipeline alone (decode, JPEG encode, JSONL; a detector that answers at once): "
        f"{res['client_ceiling_frames_per_s']:.0f} frames/s.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    res = run(args.weights, args.image, repeats=args.repeats, concurrency=args.concurrency, frames=args.frames)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
