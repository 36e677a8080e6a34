"""bench/serve_overhead.py (issue 15, part 2) runs end to end on the tiny model: one client and 8 clients,
in-process (concrete function and session) against a served child process over REST and gRPC, and it
refuses to report when a served answer differs from the in-process one. No timing is asserted here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("grpc")

BENCH = Path(__file__).resolve().parent.parent / "bench"
VARIANTS = {"in_process", "in_process_session", "rest_b64_jpeg", "grpc"}


def _load_bench() -> ModuleType:
    """Import the script by path; bench/ leaves sys.path again (its scripts would shadow test modules)."""
    before = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("serve_overhead", BENCH / "serve_overhead.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = before
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_bench()


@pytest.mark.slow  # a served child process and 8 clients on each transport: minutes on 2 cores, not make test-fast
def test_runs_every_variant_and_reports_ratios(bench: ModuleType, tiny_repo: tuple[Path, object]) -> None:
    out, _ = tiny_repo
    res = bench.run(Path("unused.pt"), None, repeats=8, seconds=0.3, rounds=1, model_dir=out / "yolov5")
    assert set(res["median_ms"]) == VARIANTS
    assert set(res["throughput_images_per_s"]) == VARIANTS
    assert res["latency_ratio_to_in_process"]["in_process"] == 1.0
    assert res["throughput_ratio_to_in_process"]["in_process"] == 1.0
    assert all(v > 0 for v in res["throughput_images_per_s"].values())
    assert res["clients"] == 8
    for per_image in (res["cpu_ms_per_image_1_client"], res["cpu_ms_per_image_8_clients"]):
        assert set(per_image) == VARIANTS
        assert set(per_image["grpc"]) == {"bench_process", "server_process"}
    table = bench.to_markdown(res)
    assert "8 clients: images/s" in table and "REST, b64 JPEG in JSON" in table
    json.dumps(res)  # --json prints it


def test_a_served_answer_that_differs_is_refused(bench: ModuleType) -> None:
    from yolo_tfserving._wire.serving_apis_pb2 import PredictResponse
    from yolo_tfserving._wire.tensors import write_tensor_proto

    boxes = np.array([[[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]]], dtype=np.float32)
    reference = {"num_detections": np.array([1], dtype=np.int32), "boxes": boxes}
    grpc_answer = PredictResponse()
    write_tensor_proto(grpc_answer.outputs["num_detections"], np.array([1], dtype=np.int32))
    write_tensor_proto(grpc_answer.outputs["boxes"], boxes)
    same = json.dumps({"predictions": [{"num_detections": 1, "boxes": boxes[0].tolist()}]}).encode()
    bench.check_same(reference, same, grpc_answer)  # agrees: no error
    fewer = json.dumps({"predictions": [{"num_detections": 0, "boxes": boxes[0].tolist()}]}).encode()
    with pytest.raises(RuntimeError, match="detections differ"):
        bench.check_same(reference, fewer, grpc_answer)
    moved = json.dumps({"predictions": [{"num_detections": 1, "boxes": [[9.0, 2.0, 3.0, 4.0], [0, 0, 0, 0]]}]})
    with pytest.raises(RuntimeError, match="REST boxes differ"):
        bench.check_same(reference, moved.encode(), grpc_answer)
