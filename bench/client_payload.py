"""Per image, against a running server: the original write-up's request (1x3x640x640 float32 as
JSON lists, NMS by hand afterwards) vs our `client` mode vs our `server` mode (b64 JPEG), over
REST and gRPC: request/response bytes, median and p95 latency, end to end (decode, pre-processing,
request, post-processing). Also the client-side NMS alone on a (25200, 85) prediction.

Targets (issue 4): b64-JPEG REST >= 5x faster end to end than the JSON-float request;
client-side NMS <= 3 ms median.

    python bench/client_payload.py [--weights PT] [--image JPG] [--repeats 20] [--json]
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

from _common import ServerProcess, export_once, machine, median, p95, script_parser, time_ms


def json_floats_detect(client: Any, image: Path) -> tuple[int, int]:
    """The original write-up's client: resize/normalise, NCHW floats as JSON, NMS by hand (done right)."""
    import numpy as np
    from PIL import Image

    from yolo_tfserving.ops import NMSConfig, letterbox, non_max_suppression, unletterbox_xyxy

    rgb = np.asarray(Image.open(image).convert("RGB"))
    canvas, plan = letterbox(rgb, (640, 640))
    x = (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    body = json.dumps({"signature_name": "predict_nchw", "inputs": {"input": x.tolist()}}).encode()
    raw = client.predict_json(body=body)
    pred = np.asarray(json.loads(raw)["outputs"], dtype=np.float32)[0]
    boxes, _, _ = non_max_suppression(pred, NMSConfig())
    unletterbox_xyxy(boxes, plan)
    return len(body), len(raw)


def _real_prediction(weights: Path, image: Path) -> object:
    import numpy as np
    import torch
    from PIL import Image

    from yolo_tfserving.ops import letterbox
    from yolo_tfserving.yolov5.checkpoint import load_checkpoint

    canvas, _ = letterbox(np.asarray(Image.open(image).convert("RGB")), (640, 640))
    x = torch.from_numpy((canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        return load_checkpoint(weights).model(x)[0].numpy()


def run(weights: Path, image: Path, repeats: int) -> dict[str, object]:
    from yolo_tfserving import Client
    from yolo_tfserving.ops import NMSConfig, non_max_suppression

    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = export_once(weights, Path(tmp))
        with ServerProcess(model_dir) as server:
            cases = [
                ("rest json-floats (original write-up)", server.rest_url, "json-floats"),
                ("rest client mode (raw_bytes)", server.rest_url, "client"),
                ("rest server mode (b64 JPEG)", server.rest_url, "server"),
                ("grpc client mode (tensor_content)", server.grpc_url, "client"),
                ("grpc server mode (JPEG bytes)", server.grpc_url, "server"),
            ]
            for label, url, mode in cases:
                with Client(url, mode="server" if mode == "json-floats" else mode) as client:
                    if mode == "json-floats":
                        sizes = json_floats_detect(client, image)
                        times = time_ms(
                            lambda c=client: json_floats_detect(c, image), repeats=max(5, repeats // 4), warmup=1
                        )
                    else:
                        client.detect(image)
                        times = time_ms(lambda c=client: c.detect(image), repeats=repeats)
                        sizes = client.last_exchange_bytes
                rows[label] = {
                    "request_bytes": sizes[0],
                    "response_bytes": sizes[1],
                    "median_ms": median(times),
                    "p95_ms": p95(times),
                }
    pred = _real_prediction(weights, image)  # the model's own (25200, 85) output on this image
    nms_ms = median(time_ms(lambda: non_max_suppression(pred, NMSConfig()), repeats=50))
    base = rows["rest json-floats (original write-up)"]["median_ms"]
    return {
        "machine": machine(),
        "image": image.name,
        "rows": {k: {**v, "speedup_vs_json_floats": round(base / v["median_ms"], 2)} for k, v in rows.items()},
        "client_nms_25200x85_median_ms": round(nms_ms, 2),
    }


def to_markdown(res: dict[str, object]) -> str:
    rows = res["rows"]
    assert isinstance(rows, dict)
    lines = [
        f"End to end per image, yolov5n 640, image {res['image']} ({res['machine']}).",
        "",
        "| request | request bytes | response bytes | median ms | p95 ms | speed-up vs JSON floats |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, v in rows.items():
        lines.append(
            f"| {k} | {v['request_bytes']:,} | {v['response_bytes']:,} | {v['median_ms']:.1f} | "
            f"{v['p95_ms']:.1f} | {v['speedup_vs_json_floats']:.2f}x |"
        )
    lines.append(
        f"\nClient-side NMS on a (25200, 85) prediction: {res['client_nms_25200x85_median_ms']:.2f} ms median."
    )
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=20)
    args = parser.parse_args()
    if not args.weights.is_file() or args.image is None:
        print("error: needs --weights and --image (../shared provides both)", file=sys.stderr)
        return 2
    res = run(args.weights, args.image, args.repeats)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
