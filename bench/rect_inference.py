"""Rectangular inference (``export --rect``) vs square: mean ``serving_default`` latency over
coco128, same run (issue 11's target: rect <= 0.8x square).

The yolov5n checkpoint is exported twice (640 square, 640 ``--rect``); both versions are loaded as
``serve`` loads them (a session, :class:`~yolo_tfserving.serving.servable.Servable`) and every
coco128 image is sent to each in turn (interleaved, so machine drift hits both alike), ``--repeats``
passes after one warm-up pass. Also reported: the mean network input area per image, rect / square
(the compute the letterbox saves), and whether both found the same number of detections.

    python bench/rect_inference.py [--weights PT] [--repeats 2] [--limit N] [--json]
"""

from __future__ import annotations

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

from _common import COCO128_IMAGES, machine, script_parser


def _export(weights: Path, out: Path, *, rect: bool) -> Path:
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    result = export_model(weights, out, options=ExportOptions(rect=rect, verify=False, warmup=False))
    return result.version_dir


def run(
    weights: Path,
    image: Path | None = None,  # noqa: ARG001 - run_all's run(weights, image, ...)
    *,
    repeats: int = 2,
    limit: int | None = None,
) -> dict[str, Any]:
    import numpy as np

    from yolo_tfserving.ops import rect_canvas_hw
    from yolo_tfserving.serving.servable import Servable

    paths = sorted(COCO128_IMAGES.glob("*.jpg"))[:limit] if limit else sorted(COCO128_IMAGES.glob("*.jpg"))
    if not paths:
        raise SystemExit(f"error: no images under {COCO128_IMAGES} (../shared provides coco128)")
    data = [p.read_bytes() for p in paths]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"square": _export(weights, Path(tmp) / "square", rect=False)}
        dirs["rect"] = _export(weights, Path(tmp) / "rect", rect=True)
        servables = {k: Servable(k, 1, v) for k, v in dirs.items()}
        signatures = {k: s.signature("serving_default") for k, s in servables.items()}
        times: dict[str, list[float]] = {k: [] for k in dirs}
        counts: dict[str, int] = dict.fromkeys(dirs, 0)
        for rep in range(repeats + 1):  # pass 0 warms every canvas size up
            for encoded in data:
                for kind in dirs:
                    feed = {"images": np.asarray([encoded], dtype=object)}
                    start = time.perf_counter()
                    out = servables[kind].run(signatures[kind], feed)
                    if rep:
                        times[kind].append((time.perf_counter() - start) * 1000)
                    else:
                        counts[kind] += int(out["num_detections"][0])
        for s in servables.values():
            s.close()
    from PIL import Image

    areas = []
    for p in paths:
        with Image.open(p) as im:
            h, w = im.height, im.width
        ch, cw = rect_canvas_hw((h, w), (640, 640), 32)
        areas.append(ch * cw / (640 * 640))
    mean = {k: statistics.fmean(v) for k, v in times.items()}
    return {
        "machine": machine(),
        "images": len(paths),
        "repeats": repeats,
        "mean_ms": mean,
        "median_ms": {k: statistics.median(v) for k, v in times.items()},
        "ratio": mean["rect"] / mean["square"],
        "area_ratio": statistics.fmean(areas),
        "min_area_ratio": min(areas),
        "detections": counts,
    }


def to_markdown(res: dict[str, Any]) -> str:
    m, md = res["mean_ms"], res["median_ms"]
    return "\n".join(
        [
            f"`serving_default` on the session runtime, yolov5n 640, every coco128 image ({res['images']}) x "
            f"{res['repeats']} passes, square and `--rect` interleaved ({res['machine']}).",
            "",
            "| export | mean ms | median ms | vs square |",
            "|---|---:|---:|---:|",
            f"| square (640x640) | {m['square']:.1f} | {md['square']:.1f} | 1.00x |",
            f"| --rect | {m['rect']:.1f} | {md['rect']:.1f} | {res['ratio']:.2f}x |",
            "",
            f"Network input area, rect / square: mean {res['area_ratio']:.2f}, min {res['min_area_ratio']:.2f}. "
            f"Detections at conf 0.25: square {res['detections']['square']}, rect {res['detections']['rect']}.",
        ]
    )


def main() -> int:
    parser = script_parser(__doc__, repeats=2)
    parser.add_argument("--limit", type=int, default=None, help="the first N coco128 images only")
    args = parser.parse_args()
    if not args.weights.is_file():
        print("error: needs --weights (../shared provides yolov5n)", file=sys.stderr)
        return 2
    res = run(args.weights, repeats=args.repeats, limit=args.limit)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
