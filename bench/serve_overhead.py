"""Serving overhead (issue 15, part 2): what the embedded server adds to the SavedModel's own time.

One client: the median latency of ``serving_default`` on one b64 JPEG in-process (the TF2 concrete function;
also the session path the server runs, loaded here), over REST (b64 JPEG JSON) and over gRPC (a DT_STRING
TensorProto). Eight clients: images/s of 8 threads calling the same loaded SavedModel in-process, against
8 concurrent REST and 8 concurrent gRPC clients of the server (default options: no batching). The variants
are interleaved round by round (A/B/C, A/B/C, ...) so load from other processes falls on all of them alike;
the ratios are the result, not the absolute numbers.

Targets: one client REST <= 1.08x, gRPC <= 1.04x of in-process; 8 clients served >= 0.9x in-process.

The clients are kept light (a keep-alive ``http.client`` connection posting a ready-made body; a gRPC stub
with a ready-made request) so that on a small machine the load generator takes as little CPU from the
server as it can. Each served answer is checked once against the in-process one.

    python bench/serve_overhead.py [--weights PT] [--image JPG] [--repeats 40] [--seconds 8] [--rounds 3]
        [--model-dir DIR] [--json]
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import ServerProcess, export_once, machine, script_parser, time_ms

CLIENTS = 8
_CHUNK = 4  # one-client calls per variant before the next variant's
_PREDICT_PATH = "/v1/models/yolov5:predict"


class RestCaller:
    """One keep-alive HTTP/1.1 connection posting the same predict body."""

    def __init__(self, port: int, body: bytes) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self._body = body
        self._headers = {"Content-Type": "application/json"}

    def __call__(self) -> bytes:
        self._conn.request("POST", _PREDICT_PATH, body=self._body, headers=self._headers)
        response = self._conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST predict answered {response.status}: {data[:200]!r}")
        return data

    def close(self) -> None:
        self._conn.close()


class GrpcCaller:
    """One channel and stub sending the same PredictRequest."""

    def __init__(self, port: int, data: bytes) -> None:
        import grpc
        import numpy as np

        from yolo_tfserving._wire.services import prediction_stub
        from yolo_tfserving._wire.serving_apis_pb2 import PredictRequest
        from yolo_tfserving._wire.tensors import write_tensor_proto

        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", -1)])
        self._stub = prediction_stub(self._channel)
        self._request = PredictRequest()
        self._request.model_spec.name = "yolov5"
        write_tensor_proto(self._request.inputs["images"], np.asarray([data], dtype=object))

    def __call__(self) -> Any:
        return self._stub.Predict(self._request, timeout=120)

    def close(self) -> None:
        self._channel.close()


def closed_loop(callers: list[Callable[[], object]], seconds: float) -> tuple[float, int]:
    """Images/s (and images) of ``len(callers)`` threads, each calling its own caller back to back for
    ``seconds``."""
    counts = [0] * len(callers)
    stop = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def work(index: int) -> None:
        call = callers[index]
        try:
            while time.perf_counter() < stop:
                call()
                counts[index] += 1
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(callers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]!r}")
    return sum(counts) / (time.perf_counter() - start), sum(counts)


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds of this process and of the server process over a stretch of calls, per call."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.per_call: dict[str, dict[str, list[float]]] = {}

    def start(self) -> tuple[float, float]:
        return time.process_time(), process_cpu_s(self.server_pid)

    def stop(self, name: str, started: tuple[float, float], calls: int) -> None:
        here, server = time.process_time() - started[0], process_cpu_s(self.server_pid) - started[1]
        entry = self.per_call.setdefault(name, {"bench_process": [], "server_process": []})
        entry["bench_process"].append(here * 1000 / max(calls, 1))
        entry["server_process"].append(server * 1000 / max(calls, 1))


def check_same(reference: dict[str, Any], rest_body: bytes, grpc_response: Any) -> None:
    """The served answers are the in-process one (detection count and boxes)."""
    import numpy as np

    from yolo_tfserving._wire.tensors import tensor_proto_to_ndarray

    want_n = int(np.asarray(reference["num_detections"]).reshape(-1)[0])
    row = json.loads(rest_body)["predictions"][0]
    got_rest = int(np.asarray(row["num_detections"]).reshape(-1)[0])
    got_grpc = int(tensor_proto_to_ndarray(grpc_response.outputs["num_detections"]).reshape(-1)[0])
    if not want_n == got_rest == got_grpc:
        raise RuntimeError(f"detections differ: in-process {want_n}, REST {got_rest}, gRPC {got_grpc}")
    boxes = np.asarray(reference["boxes"])[0, :want_n]
    for name, got in (
        ("REST", np.asarray(row["boxes"])[:want_n]),
        ("gRPC", tensor_proto_to_ndarray(grpc_response.outputs["boxes"])[0, :want_n]),
    ):
        if not np.allclose(got, boxes, atol=1e-3):
            raise RuntimeError(f"{name} boxes differ from in-process")


def measure(model_dir: Path, data: bytes, *, repeats: int, seconds: float, rounds: int) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    from yolo_tfserving.serving.servable import Servable

    version_dir = sorted(p for p in model_dir.iterdir() if p.name.isdigit())[-1]
    loaded = tf.saved_model.load(str(version_dir))
    serving = loaded.signatures["serving_default"]
    batch = tf.constant([data])
    servable = Servable("yolov5", int(version_dir.name), version_dir)
    signature = servable.signature(None)
    feed = {"images": np.asarray([data], dtype=object)}
    body = json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}).encode()

    def in_process() -> object:
        return serving(images=batch)["num_detections"].numpy()

    def in_process_session() -> object:
        return servable.run(signature, feed)

    latency: dict[str, list[float]] = {}
    throughput: dict[str, list[float]] = {}
    with ServerProcess(model_dir) as server:
        rest, grpc_call = RestCaller(server.rest_port, body), GrpcCaller(server.grpc_port, data)
        reference = {k: v.numpy() for k, v in serving(images=batch).items()}
        check_same(reference, rest(), grpc_call())
        one: dict[str, Callable[[], object]] = {
            "in_process": in_process,
            "in_process_session": in_process_session,
            "rest_b64_jpeg": rest,
            "grpc": grpc_call,
        }
        rest_callers = [RestCaller(server.rest_port, body) for _ in range(CLIENTS)]
        grpc_callers = [GrpcCaller(server.grpc_port, data) for _ in range(CLIENTS)]
        many: dict[str, list[Callable[[], object]]] = {
            "in_process": [in_process] * CLIENTS,
            "in_process_session": [in_process_session] * CLIENTS,
            "rest_b64_jpeg": list(rest_callers),
            "grpc": list(grpc_callers),
        }
        for fn in one.values():
            time_ms(fn, repeats=1, warmup=3)
        one_cpu, many_cpu = CpuMeter(server.proc.pid), CpuMeter(server.proc.pid)
        for _ in range(max(1, repeats // _CHUNK)):  # latency: interleaved in chunks of _CHUNK calls
            for name, fn in one.items():
                started = one_cpu.start()
                latency.setdefault(name, []).extend(time_ms(fn, repeats=_CHUNK, warmup=0))
                one_cpu.stop(name, started, _CHUNK)
        for _ in range(rounds):
            for name, callers in many.items():
                closed_loop(callers[:1], 1.0)  # warm: connections open, threads spun up
                started = many_cpu.start()
                images_per_s, images = closed_loop(callers, seconds)
                many_cpu.stop(name, started, images)
                throughput.setdefault(name, []).append(images_per_s)
        for closing in [rest, *rest_callers]:
            closing.close()
        for channel in [grpc_call, *grpc_callers]:
            channel.close()
    servable.close()
    return {"latency": latency, "throughput": throughput, "cpu_1": one_cpu.per_call, "cpu_8": many_cpu.per_call}


def run(
    weights: Path,
    image: Path | None,
    repeats: int = 40,
    seconds: float = 8.0,
    rounds: int = 3,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    data = image.read_bytes() if image is not None else _sample_jpeg()
    rounds = max(1, int(rounds))  # run_all --quick passes every non-repeats option as 3.0
    if model_dir is not None:
        raw = measure(model_dir, data, repeats=repeats, seconds=seconds, rounds=rounds)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            raw = measure(export_once(weights, Path(tmp)), data, repeats=repeats, seconds=seconds, rounds=rounds)
    med = {k: statistics.median(v) for k, v in raw["latency"].items()}
    thr = {k: statistics.median(v) for k, v in raw["throughput"].items()}
    return {
        "machine": machine(),
        "image": image.name if image else "synthetic 480x640 JPEG",
        "rounds": rounds,
        "median_ms": {k: round(v, 2) for k, v in med.items()},
        "latency_ratio_to_in_process": {k: round(v / med["in_process"], 3) for k, v in med.items()},
        "clients": CLIENTS,
        "throughput_images_per_s": {k: round(v, 2) for k, v in thr.items()},
        "throughput_per_round": {k: [round(x, 2) for x in v] for k, v in raw["throughput"].items()},
        "throughput_ratio_to_in_process": {k: round(v / thr["in_process"], 3) for k, v in thr.items()},
        # median CPU ms per image, in this (client / in-process) process and in the server process
        "cpu_ms_per_image_1_client": _cpu_medians(raw["cpu_1"]),
        "cpu_ms_per_image_8_clients": _cpu_medians(raw["cpu_8"]),
    }


def _cpu_medians(per_call: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {k: {where: round(statistics.median(v), 2) for where, v in d.items()} for k, d in per_call.items()}


def _sample_jpeg() -> bytes:
    from yolo_tfserving.export.warmup import sample_jpeg

    return sample_jpeg()


_LABELS = {
    "in_process": "in-process `serving_default` (TF2 concrete function)",
    "in_process_session": "in-process, session callable (the server's path)",
    "rest_b64_jpeg": "REST, b64 JPEG in JSON",
    "grpc": "gRPC, DT_STRING TensorProto",
}


def _cpu_where(per_image: dict[str, dict[str, float]], name: str) -> float:
    """CPU ms per image where the model ran: this process in-process, the server's process when served."""
    return per_image[name]["bench_process" if name.startswith("in_process") else "server_process"]


def to_markdown(res: dict[str, Any]) -> str:
    med, lat = res["median_ms"], res["latency_ratio_to_in_process"]
    thr, tr = res["throughput_images_per_s"], res["throughput_ratio_to_in_process"]
    cpu1, cpu8 = res["cpu_ms_per_image_1_client"], res["cpu_ms_per_image_8_clients"]
    n = res["clients"]
    lines = [
        f"yolov5n 640, `serving_default`, image {res['image']}, default server options (no batching); "
        f"{res['rounds']} interleaved rounds ({res['machine']}). CPU ms per image: of this process in-process, of "
        "the server's process (every thread) when served.",
        "",
        f"| path | 1 client: median ms | vs in-process | CPU ms/image | {n} clients: images/s | vs in-process "
        "| CPU ms/image |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {_LABELS.get(k, k)} | {med[k]:.1f} | {lat[k]:.3f}x | {_cpu_where(cpu1, k):.1f} | {thr[k]:.1f} "
        f"| {tr[k]:.3f}x | {_cpu_where(cpu8, k):.1f} |"
        for k in med
    ]
    return "\n".join(lines)


def main() -> int:
    parser = script_parser(__doc__, repeats=40)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each 8-client run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every variant")
    parser.add_argument("--model-dir", type=Path, default=None, help="an exported model dir to reuse (no export)")
    args = parser.parse_args()
    if args.model_dir is None and not args.weights.is_file():
        print(f"error: {args.weights} not found (pass --weights)", file=sys.stderr)
        return 2
    res = run(args.weights, args.image, args.repeats, args.seconds, args.rounds, args.model_dir)
    print(json.dumps(res, indent=2) if args.json else to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
