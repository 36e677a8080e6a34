"""Served vs in-process: the same `serving_default` call in-process, over REST (b64 JPEG) and gRPC;
then throughput with server-side batching at 1 vs 8 concurrent clients.

Targets (issue 3): REST <= 1.15x in-process, gRPC <= 1.10x; batching on, 8 clients >= 1.3x the
throughput of 1 client.

    python bench/serve_transport.py [--weights PT] [--image JPG] [--repeats 30] [--json]
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import ServerProcess, export_once, machine, median, script_parser, time_ms


def _jpeg(image: Path | None) -> bytes:
    if image is not None:
        return image.read_bytes()
    from yolo_tfserving.export.warmup import sample_jpeg

    return sample_jpeg()


def latency(model_dir: Path, data: bytes, repeats: int) -> dict[str, float]:
    import httpx
    import numpy as np
    import tensorflow as tf

    from yolo_tfserving._wire.services import prediction_stub
    from yolo_tfserving._wire.serving_apis_pb2 import PredictRequest
    from yolo_tfserving._wire.tensors import write_tensor_proto

    loaded = tf.saved_model.load(str(sorted(model_dir.iterdir())[-1]))
    serving = loaded.signatures["serving_default"]
    batch = tf.constant([data])
    body = json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}).encode()
    rows: dict[str, list[float]] = {}
    with ServerProcess(model_dir) as server:
        import grpc

        http = httpx.Client(base_url=server.rest_url, timeout=60)
        channel = grpc.insecure_channel(
            f"127.0.0.1:{server.grpc_port}", options=[("grpc.max_receive_message_length", -1)]
        )
        stub = prediction_stub(channel)
        request = PredictRequest()
        request.model_spec.name = "yolov5"
        write_tensor_proto(request.inputs["images"], np.asarray([data], dtype=object))

        def rest() -> None:
            r = http.post("/v1/models/yolov5:predict", content=body)
            r.raise_for_status()
            r.json()

        def grpc_call() -> None:
            stub.Predict(request, timeout=60)

        for _ in range(2):  # interleaved rounds
            for name, fn in (
                ("in_process", lambda: serving(images=batch)["num_detections"].numpy()),
                ("rest_b64_jpeg", rest),
                ("grpc", grpc_call),
            ):
                rows.setdefault(name, []).extend(time_ms(fn, repeats=repeats // 2))
        http.close()
        channel.close()
    return {k: median(v) for k, v in rows.items()}


def throughput(model_dir: Path, data: bytes, seconds: float, batching_file: Path | None) -> dict[str, float]:
    import httpx

    body = json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}).encode()
    out: dict[str, float] = {}
    extra = ["--enable_batching", "--batching_parameters_file", str(batching_file)] if batching_file else []
    with ServerProcess(model_dir, extra=extra) as s:
        for clients in (1, 4, 8):
            done = [0]
            lock = threading.Lock()
            stop = time.perf_counter() + seconds

            def worker(stop: float = stop, lock: threading.Lock = lock, done: list[int] = done) -> None:
                with httpx.Client(base_url=s.rest_url, timeout=60) as c:
                    c.post("/v1/models/yolov5:predict", content=body)  # connection set up
                    while time.perf_counter() < stop:
                        c.post("/v1/models/yolov5:predict", content=body).raise_for_status()
                        with lock:
                            done[0] += 1

            start = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out[f"clients_{clients}"] = done[0] / (time.perf_counter() - start)
    return out


def run(weights: Path, image: Path | None, repeats: int, seconds: float) -> dict[str, object]:
    data = _jpeg(image)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = export_once(weights, Path(tmp))
        batching = Path(tmp) / "batching.txt"
        batching.write_text(
            "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 5000 }\n"
            "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 64 }\n"
        )
        lat = latency(model_dir, data, repeats)
        thr = throughput(model_dir, data, seconds, batching)
        thr_off = throughput(model_dir, data, seconds, None)
    return {
        "machine": machine(),
        "image": image.name if image else "synthetic 480x640 JPEG",
        "median_ms": {k: round(v, 2) for k, v in lat.items()},
        "ratio_to_in_process": {k: round(v / lat["in_process"], 3) for k, v in lat.items()},
        "throughput_images_per_s": {k: round(v, 2) for k, v in thr.items()},
        "throughput_ratio_to_1_client": {k: round(v / thr["clients_1"], 3) for k, v in thr.items()},
        "throughput_batching_off_images_per_s": {k: round(v, 2) for k, v in thr_off.items()},
        "throughput_batching_off_ratio_to_1_client": {
            k: round(v / thr_off["clients_1"], 3) for k, v in thr_off.items()
        },
    }


def to_markdown(res: dict[str, object]) -> str:
    med, ratio = res["median_ms"], res["ratio_to_in_process"]
    thr, tratio = res["throughput_images_per_s"], res["throughput_ratio_to_1_client"]
    assert isinstance(med, dict) and isinstance(ratio, dict) and isinstance(thr, dict) and isinstance(tratio, dict)
    lines = [
        f"`serving_default`, yolov5n 640, image {res['image']} ({res['machine']}).",
        "",
        "| path | median ms | vs in-process |",
        "|---|---:|---:|",
    ]
    lines += [f"| {k} | {med[k]:.1f} | {ratio[k]:.2f}x |" for k in med]
    off, oratio = res["throughput_batching_off_images_per_s"], res["throughput_batching_off_ratio_to_1_client"]
    assert isinstance(off, dict) and isinstance(oratio, dict)
    lines += [
        "",
        "Throughput over REST (b64 JPEG), batching on (max_batch_size 8, timeout 5 ms) and off:",
        "",
        "| concurrent clients | batching on, images/s | vs 1 client | batching off, images/s | vs 1 client |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {k.split('_')[1]} | {thr[k]:.1f} | {tratio[k]:.2f}x | {off[k]:.1f} | {oratio[k]:.2f}x |" for k in thr]
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=30)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput run")
    args = parser.parse_args()
    if not args.weights.is_file():
        print(f"error: {args.weights} not found (pass --weights)", file=sys.stderr)
        return 2
    res = run(args.weights, args.image, max(args.repeats, 20), args.seconds)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
