"""Segmentation vs detection at the same size, same run (issue 13): ``serving_default`` latency in process,
then served over REST (b64 JPEG in, JSON out: ``masks_png_bytes`` as b64) and gRPC, with response bytes.

No seg weights ship in ../shared. The detection model is the real yolov5n (640); the seg model is our
YOLOv5n-seg carrying yolov5n's weights (the same backbone and neck; the Segment head's box and score
columns are Detect's), with random mask-coefficient columns and a random Proto whose batch norms are
calibrated on the image (else a random model's masks are all or nothing inside each box). Both return
the same boxes: the difference is the protos, the coefficients and the masks.

    python bench/segment_latency.py [--image JPG] [--repeats 20] [--json]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import ServerProcess, machine, median, p95, script_parser, time_ms

IMGSZ = 640
NC = 80


def _canvas(image: Path) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    from yolo_tfserving.ops import letterbox_batch

    canvases, _ = letterbox_batch([np.asarray(Image.open(image).convert("RGB"))], (IMGSZ, IMGSZ))
    return torch.from_numpy(canvases.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)


def _detections(model: Any, x: Any) -> int:
    import torch

    from yolo_tfserving.ops.nms import NMSConfig, non_max_suppression

    with torch.no_grad():
        out = model(x)
    pred = (out[0] if isinstance(out, tuple) else out)[0, :, : 5 + NC].numpy()
    return len(non_max_suppression(pred, NMSConfig())[1])


def build_models(weights: Path, image: Path) -> tuple[Any, Any]:
    """(seg model, detection model): the real yolov5n, and a YOLOv5n-seg carrying its weights (backbone, neck,
    the Segment head's box/score columns), random mask columns and a Proto calibrated on ``image``."""
    import torch

    from yolo_tfserving.yolov5.checkpoint import load_checkpoint
    from yolo_tfserving.yolov5.segment import segmentation_from_detection

    det = load_checkpoint(weights, fuse=False).model
    seg = segmentation_from_detection(det)
    head = seg.model[-1]
    proto = head.proto
    for bn in (proto.cv1.bn, proto.cv2.bn, proto.cv3.bn):
        bn.reset_running_stats()
        bn.momentum = None
    proto.train()
    with torch.no_grad():
        seg(_canvas(image))
    proto.eval()
    return seg.eval(), det.eval()


def _export(model: Any, out: Path, name: str) -> Path:
    """Save ``model`` as YOLOv5 v7.0 pickles it (the tests' writer) and export it at 640, no parity run."""
    import copy

    import torch

    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from helpers import seg_class_paths  # the tests' v7.0 class paths (segmentation classes included)

    weights = out / f"{name}.pt"
    with seg_class_paths():
        torch.save({"model": copy.deepcopy(model).half(), "ema": None, "date": "bench"}, weights)
    export_model(weights, out, options=ExportOptions(imgsz=IMGSZ, name=name, verify=False, force=True))
    return out / name


def busiest_image(model: Any, limit: int = 32) -> Path | None:
    """The coco128 image (of the first ``limit``) on which ``model`` detects the most: the masks' worst case."""
    from _common import COCO128_IMAGES

    paths = sorted(COCO128_IMAGES.glob("*.jpg"))[:limit]
    return max(paths, key=lambda p: _detections(model, _canvas(p)), default=None)


def _time_signature(model_dir: Path, images: list[Path], repeats: int) -> dict[str, dict[str, float]]:
    import tensorflow as tf

    fn = tf.saved_model.load(str(model_dir / "1")).signatures["serving_default"]
    rows = {}
    for image in images:
        batch = tf.constant([image.read_bytes()])
        n = int(fn(images=batch)["num_detections"][0])
        times = time_ms(lambda b=batch: fn(images=b), repeats=repeats)
        rows[f"in-process serving_default, {image.name}"] = {"median_ms": median(times), "p95_ms": p95(times), "n": n}
    return rows


def _time_served(model_dir: Path, name: str, images: list[Path], repeats: int) -> dict[str, dict[str, float]]:
    from yolo_tfserving import Client

    rows = {}
    with ServerProcess(model_dir, name=name) as server:
        for transport, url in (("REST", server.rest_url), ("gRPC", server.grpc_url)):
            with Client(url, model=name, mode="server") as client:
                for image in images:
                    found = len(client.detect(image))
                    request_bytes, response_bytes = client.last_exchange_bytes
                    times = time_ms(lambda c=client, i=image: c.detect(i), repeats=repeats)
                    rows[f"{transport} server mode, {image.name}"] = {
                        "median_ms": median(times),
                        "p95_ms": p95(times),
                        "n": found,
                        "request_bytes": request_bytes,
                        "response_bytes": response_bytes,
                    }
    return rows


def run(weights: Path, image: Path, repeats: int) -> dict[str, Any]:
    seg, det = build_models(weights, image)
    images = [image, *(p for p in [busiest_image(det)] if p is not None and p != image)]
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, model in (("detect", det), ("segment", seg)):
            model_dir = _export(model, Path(tmp), label)
            found = _time_signature(model_dir, images, repeats) | _time_served(model_dir, label, images, repeats)
            rows |= {f"{label}: {key}": value for key, value in found.items()}
    return {"machine": machine(), "images": [p.name for p in images], "rows": rows}


def to_markdown(res: dict[str, Any]) -> str:
    rows = res["rows"]
    lines = [
        "yolov5n (640) vs a YOLOv5n-seg with its weights (random mask columns and Proto), same boxes; images "
        f"{', '.join(res['images'])} ({res['machine']}).",
        "",
        "| model, path | detections | median ms | p95 ms | vs detect | response bytes | vs detect |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, row in rows.items():
        base = rows[key.replace("segment:", "detect:", 1)]
        size = f"{row['response_bytes']:,}" if "response_bytes" in row else "-"
        size_ratio = f"{row['response_bytes'] / base['response_bytes']:.2f}x" if "response_bytes" in row else "-"
        lines.append(
            f"| {key} | {row['n']} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} | "
            f"{row['median_ms'] / base['median_ms']:.2f}x | {size} | {size_ratio} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=20)
    args = parser.parse_args()
    if args.image is None:
        print("error: needs --image (../shared provides coco128)", file=sys.stderr)
        return 2
    res = run(args.weights, args.image, args.repeats)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
