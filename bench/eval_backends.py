"""COCO mAP50-95 / mAP50 on coco128 through every backend, in one run (issue 5's table).

PyTorch, ONNX Runtime and the SavedModel in-process, and the served model over REST and gRPC
(client mode, val.py settings). Each row's delta is to PyTorch.

    python bench/eval_backends.py [--weights PT] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import COCO128_IMAGES, REAL_WEIGHTS, ServerProcess, export_once, machine


def run(weights: Path, image: Path | None = None, **_: object) -> dict[str, object]:  # noqa: ARG001 - run_all's run(weights, image)
    from yolo_tfserving.evaluation import evaluate, load_dataset, make_backend

    dataset = load_dataset(COCO128_IMAGES.parent)
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = export_once(weights, Path(tmp))
        with ServerProcess(model_dir) as server:
            for name, kwargs in (
                ("torch", {"weights": weights}),
                ("onnxruntime", {"model_dir": model_dir}),
                ("tf", {"model_dir": model_dir}),
                ("rest", {"url": server.rest_url}),
                ("grpc", {"grpc_target": f"127.0.0.1:{server.grpc_port}"}),
            ):
                backend = make_backend(name, **kwargs)  # type: ignore[arg-type]
                try:
                    result = evaluate(dataset, backend)
                finally:
                    backend.close()
                rows[name] = {"map50_95": result.map50_95, "map50": result.map50, "seconds": result.seconds}
    base = rows["torch"]["map50_95"]
    return {
        "machine": machine(),
        "images": len(dataset.images),
        "rows": {k: {**v, "delta_map50_95": v["map50_95"] - base} for k, v in rows.items()},
    }


def to_markdown(res: dict[str, object]) -> str:
    rows = res["rows"]
    assert isinstance(rows, dict)
    lines = [
        f"coco128 ({res['images']} images), yolov5n 640, val.py settings (conf 0.001, IoU 0.6, multi-label, "
        "max_det 300); served paths use client mode.",
        "",
        "| backend | mAP50-95 | mAP50 | delta mAP50-95 vs PyTorch | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {k} | {v['map50_95']:.5f} | {v['map50']:.5f} | {v['delta_map50_95']:+.5f} | {v['seconds']:.1f} |"
        for k, v in rows.items()
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=REAL_WEIGHTS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.weights.is_file() or not COCO128_IMAGES.is_dir():
        print("error: needs ../shared (yolov5n and coco128)", file=sys.stderr)
        return 2
    res = run(args.weights)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
