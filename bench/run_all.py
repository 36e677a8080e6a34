"""Run every benchmark script once and write BENCHMARKS.md (each table's rows are ratios to a
baseline measured in the same run). ``make bench`` calls this.

    python bench/run_all.py [--out BENCHMARKS.md] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REAL_WEIGHTS, ROOT, machine, sample_image

SECTIONS = [
    ("Backends in-process (issue 2)", "export_latency", {"repeats": 60}),
    ("Served vs in-process, batching (issue 3)", "serve_transport", {"repeats": 30, "seconds": 10.0}),
    ("Request formats and transports (issue 4)", "client_payload", {"repeats": 20}),
    ("Wire codecs on a 25200 x 85 output", "codec_speed", {"repeats": 10}),
    ("COCO mAP through every backend (issue 5)", "eval_backends", {}),
    ("Image bombs (issue 10)", "image_bombs", {}),
    ("Rectangular inference (issue 11)", "rect_inference", {"repeats": 2}),
    ("bfloat16 vs float32 (issue 15)", "mixed_precision", {"repeats": 40}),
    ("Serving overhead, 1 and 8 clients (issue 15)", "serve_overhead", {"repeats": 48, "seconds": 6.0, "rounds": 3}),
    ("Video through the served model vs bench (issue 14)", "video_throughput", {"repeats": 2}),
    ("Segmentation vs detection (issue 13)", "segment_latency", {"repeats": 20}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--weights", type=Path, default=REAL_WEIGHTS)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke run)")
    args = parser.parse_args()
    image = sample_image()
    if not args.weights.is_file() or image is None:
        print("error: the benchmarks need ../shared (yolov5n and coco128) or --weights", file=sys.stderr)
        return 2
    parts = [
        "# Benchmarks",
        "",
        f"Written by `bench/run_all.py` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: "
        f"{machine()}, CPU only. Every ratio is to a baseline measured in the same run.",
        "",
    ]
    for title, module_name, kwargs in SECTIONS:
        module = importlib.import_module(module_name)
        if args.quick:
            kwargs = {k: (min(v, max(20, v // 3)) if k == "repeats" else 3.0) for k, v in kwargs.items()}
        print(f"running {module_name} ...", file=sys.stderr, flush=True)
        result = module.run(args.weights, image, **kwargs)
        parts += [f"## {title}", "", module.to_markdown(result), ""]
    args.out.write_text("\n".join(parts))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
