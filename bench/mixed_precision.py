"""``--mixed_precision=bfloat16`` vs float32, same run (issue 15's targets: >= 1.25x throughput on a CPU
with bfloat16 support, coco128 mAP50-95 within 0.003).

The yolov5n checkpoint is exported once; the version is loaded twice as ``serve`` loads it (a session,
:class:`~yolo_tfserving.serving.servable.Servable`), once as ``serve --mixed_precision=bfloat16`` does
(oneDNN's auto-mixed-precision graph rewrite). Both run ``raw`` (the network alone) and
``serving_default`` (decode, letterbox, network, NMS) on one image, interleaved, ``--repeats`` calls
each; throughput is 1000 / mean ms of one caller. Accuracy: coco128 mAP through the ``tf`` and
``tf-bf16`` eval backends (``eval --compare tf,tf-bf16``). The header names the CPU and its
bf16/AMX/VNNI flags: without ``avx512_bf16``/``amx_bf16`` the rewrite has no effect.

    python bench/mixed_precision.py [--weights PT] [--image JPG] [--repeats 40] [--no-map] [--json]
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


def _latencies(servables: dict[str, Any], signature: str, feed: dict[str, Any], repeats: int) -> dict[str, float]:
    sigs = {k: s.signature(signature) for k, s in servables.items()}
    times: dict[str, list[float]] = {k: [] for k in servables}
    for rep in range(repeats + 3):
        for kind, servable in servables.items():
            start = time.perf_counter()
            servable.run(sigs[kind], feed)
            if rep >= 3:
                times[kind].append((time.perf_counter() - start) * 1000)
    return {k: statistics.fmean(v) for k, v in times.items()}


def run(weights: Path, image: Path, *, repeats: int = 40, with_map: bool = True) -> dict[str, Any]:
    import numpy as np

    from yolo_tfserving.export.pipeline import ExportOptions, export_model
    from yolo_tfserving.ops import letterbox
    from yolo_tfserving.serving.servable import LoadOptions, Servable, cpu_has_bfloat16

    with tempfile.TemporaryDirectory() as tmp:
        version_dir = export_model(weights, tmp, options=ExportOptions(verify=False, warmup=False)).version_dir
        servables = {
            "float32": Servable("f32", 1, version_dir),
            "bfloat16": Servable("bf16", 1, version_dir, LoadOptions(mixed_precision="bfloat16")),
        }
        from PIL import Image

        rgb = np.asarray(Image.open(image).convert("RGB"))
        canvas, _ = letterbox(rgb, (640, 640))
        raw = _latencies(servables, "raw", {"images": (canvas.astype(np.float32) / 255.0)[None]}, repeats)
        served = _latencies(
            servables, "serving_default", {"images": np.asarray([image.read_bytes()], dtype=object)}, repeats
        )
        for s in servables.values():
            s.close()
        scores: dict[str, float] = {}
        if with_map and COCO128_IMAGES.is_dir():
            from yolo_tfserving.evaluation import evaluate, load_dataset, make_backend

            dataset = load_dataset(COCO128_IMAGES.parent)
            for name in ("tf", "tf-bf16"):
                backend = make_backend(name, model_dir=version_dir)
                try:
                    scores[name] = float(evaluate(dataset, backend).map50_95)
                finally:
                    backend.close()
    return {
        "machine": machine(),
        "bfloat16_supported": cpu_has_bfloat16(),
        "image": image.name,
        "repeats": repeats,
        "raw_ms": raw,
        "serving_default_ms": served,
        "raw_speedup": raw["float32"] / raw["bfloat16"],
        "serving_default_speedup": served["float32"] / served["bfloat16"],
        "map50_95": scores,
    }


def to_markdown(res: dict[str, Any]) -> str:
    raw, srv, m = res["raw_ms"], res["serving_default_ms"], res["map50_95"]
    lines = [
        f"yolov5n 640 on the session runtime, {res['image']}, mean of {res['repeats']} interleaved calls "
        f"({res['machine']}; bfloat16 supported: {res['bfloat16_supported']}).",
        "",
        "| signature | float32 ms | bfloat16 ms | throughput bf16 / f32 |",
        "|---|---:|---:|---:|",
        f"| raw | {raw['float32']:.1f} | {raw['bfloat16']:.1f} | {res['raw_speedup']:.2f}x |",
        f"| serving_default | {srv['float32']:.1f} | {srv['bfloat16']:.1f} | {res['serving_default_speedup']:.2f}x |",
    ]
    if m:
        lines += [
            "",
            f"coco128 mAP50-95: float32 {m['tf']:.4f}, bfloat16 {m['tf-bf16']:.4f} "
            f"(difference {m['tf-bf16'] - m['tf']:+.4f}).",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=40)
    parser.add_argument("--no-map", action="store_true", help="skip the coco128 mAP comparison")
    args = parser.parse_args()
    if not args.weights.is_file() or args.image is None:
        print("error: needs --weights and --image (../shared provides both)", file=sys.stderr)
        return 2
    res = run(args.weights, args.image, repeats=args.repeats, with_map=not args.no_map)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
