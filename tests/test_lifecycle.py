"""Issue 10's lifecycle check: clients keep being served while models change under them.

Eight clients (four REST, four gRPC) call the latest version for about 30 s while a new version is swapped
in, the old one is removed, and the base path cannot be listed for 3 s. Not one request may fail.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("tensorflow")
httpx = pytest.importorskip("httpx")

from helpers import free_port  # noqa: E402
from tf_models import build_half_plus  # noqa: E402
from yolo_tfserving._wire import serving_apis_pb2, tf_core_pb2  # noqa: E402
from yolo_tfserving._wire.services import prediction_stub  # noqa: E402
from yolo_tfserving.serving.server import ModelServer, ServerOptions  # noqa: E402

DURATION_S = 30.0


def _grpc_request() -> Any:
    request = serving_apis_pb2.PredictRequest()
    request.model_spec.name = "half"
    x = request.inputs["x"]
    x.dtype = tf_core_pb2.DT_FLOAT
    x.tensor_shape.dim.add(size=1)
    x.float_val.append(2.0)
    return request


@pytest.mark.slow
def test_clients_are_served_through_swap_removal_and_an_unlistable_base_path(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    base = root / "half"
    build_half_plus(base / "1", 2.0)
    staged = tmp_path / "staged"
    build_half_plus(staged, 3.0)
    server = ModelServer(
        ServerOptions(
            port=free_port(),
            rest_api_port=free_port(),
            rest_api_host="127.0.0.1",
            grpc_host="127.0.0.1",
            model_name="half",
            model_base_path=str(base),
            file_system_poll_wait_seconds=0.2,
        )
    )
    server.start()
    stop = threading.Event()
    failures: list[str] = []
    answers: set[float] = set()
    counts = [0] * 8
    lock = threading.Lock()

    def rest_client(slot: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=30) as client:
            while not stop.is_set():
                try:
                    r = client.post("/v1/models/half:predict", json={"instances": [2.0]})
                    if r.status_code != 200:
                        raise AssertionError(f"{r.status_code} {r.text[:200]}")
                    with lock:
                        answers.add(r.json()["predictions"][0])
                except Exception as exc:
                    failures.append(f"REST: {exc!r}")
                counts[slot] += 1

    def grpc_client(slot: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_stub(channel)
            while not stop.is_set():
                try:
                    response = stub.Predict(_grpc_request(), timeout=30)
                    with lock:
                        answers.add(response.outputs["y"].float_val[0])
                except Exception as exc:
                    failures.append(f"gRPC: {exc!r}")
                counts[slot] += 1

    threads = [threading.Thread(target=rest_client, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=grpc_client, args=(i + 4,)) for i in range(4)]
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        time.sleep(3)
        staged.rename(base / "2")  # a new version appears whole
        assert server.manager.wait_until_available("half", 2, timeout_s=60)
        time.sleep(2)
        shutil.rmtree(base / "1")  # the old one is removed
        deadline = time.monotonic() + 60
        while any(s.version == 1 and s.state == 30 for s in server.manager.status("half")):
            assert time.monotonic() < deadline, "version 1 was not unloaded"
            time.sleep(0.1)
        moved = root / "away"
        base.rename(moved)  # the base path cannot be listed for 3 s
        time.sleep(3)
        moved.rename(base)
        time.sleep(max(0.0, DURATION_S - (time.monotonic() - started)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        server.stop()
    assert failures == [], failures[:5]
    assert all(count > 0 for count in counts)
    assert answers == {3.0, 4.0}  # version 1 (0.5*2+2) and then version 2 (0.5*2+3)
