"""Issue 10: hostile input, overload and shutdown. Each test names the defect it guards against.

Everything runs against a real server on loopback sockets; HTTP framing is attacked over raw sockets.
Waits are on conditions the server reports (a request in flight, a socket closed), never on a clock.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("tensorflow")
httpx = pytest.importorskip("httpx")

from helpers import free_port  # noqa: E402
from tf_models import build_half_plus  # noqa: E402
from yolo_tfserving._wire import serving_apis_pb2, tf_core_pb2  # noqa: E402
from yolo_tfserving._wire.services import prediction_stub  # noqa: E402
from yolo_tfserving.serving.server import ModelServer, ServerOptions  # noqa: E402


@pytest.fixture(scope="module")
def half_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hardening") / "half"
    build_half_plus(base / "1", 2.0)
    return base


def _server(base: Path, **options: Any) -> ModelServer:
    defaults: dict[str, Any] = {
        "port": free_port(),
        "rest_api_port": free_port(),
        "rest_api_host": "127.0.0.1",
        "grpc_host": "127.0.0.1",
        "model_name": "half",
        "model_base_path": str(base),
        "file_system_poll_wait_seconds": 0,
    }
    server = ModelServer(ServerOptions(**{**defaults, **options}))
    server.start()
    return server


@pytest.fixture(scope="module")
def server(half_base: Path) -> Iterator[ModelServer]:
    srv = _server(
        half_base,
        rest_api_header_timeout_in_ms=1000,
        rest_api_idle_timeout_in_ms=1000,
        rest_api_max_header_bytes=4096,
        max_request_bytes=1 << 20,
        max_batch_size=16,
    )
    yield srv
    srv.stop()


def _raw(port: int, data: bytes, *, timeout_s: float = 20.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def _responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split raw HTTP/1.1 responses (Content-Length framed)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:length]))
        raw = rest[length:]
    return out


def _only_response(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    responses = _responses(raw)
    assert len(responses) == 1, responses
    status, headers, body = responses[0]
    assert headers["content-type"] == "application/json"
    return status, headers, json.loads(body)


# -- HTTP framing (defect 5) --------------------------------------------------------------------------


def test_bad_content_length_is_a_json_400(server: ModelServer) -> None:
    for value in (b"abc", b"-1"):  # closed without a response / waited until the client gave up
        raw = _raw(
            server.rest_port,
            b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\n",
        )
        status, _, body = _only_response(raw)
        assert status == 400 and "Content-Length" in body["error"]


def test_chunked_body_is_read_and_nothing_is_smuggled(server: ModelServer) -> None:
    payload = json.dumps({"instances": [2.0]}).encode()
    chunked = hex(len(payload))[2:].encode() + b"\r\n" + payload + b"\r\n0\r\n\r\n"
    raw = _raw(
        server.rest_port,
        b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunked,
    )
    status, _, body = _only_response(raw)
    assert status == 200 and body == {"predictions": [3.0]}
    # a second request hidden inside a chunked body is body bytes, never a request of its own
    hidden = b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\n\r\n"
    smuggle = hex(len(hidden))[2:].encode() + b"\r\n" + hidden + b"\r\n0\r\n\r\n"
    raw = _raw(
        server.rest_port,
        b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + smuggle,
    )
    status, _, body = _only_response(raw)
    assert status == 400 and "JSON Parse error" in body["error"]


def test_content_length_with_transfer_encoding_is_refused(server: ModelServer) -> None:
    raw = _raw(
        server.rest_port,
        b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
    )
    status, _, body = _only_response(raw)
    assert status == 400 and "both Content-Length and Transfer-Encoding" in body["error"]


def test_every_error_status_is_json(server: ModelServer) -> None:
    port = server.rest_port
    cases = {
        404: b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        400: b"PATCH /v1/models/half HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        414: b"GET /v1/models/" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        431: b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 8000 + b"\r\n\r\n",
        413: b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n",
    }
    for expected, request in cases.items():
        status, headers, body = _only_response(_raw(port, request))
        assert status == expected, (expected, body)
        assert body["error"]
        assert "python" not in headers.get("server", "").lower()
    head = _responses(_raw(port, b"HEAD /v1/models/half HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert head[0][0] == 400 and head[0][1]["content-type"] == "application/json"
    long_head = b"HEAD /v1/models/" + b"q" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"  # the fuzz soak's drop
    assert _raw(port, long_head).startswith(b"HTTP/1.1 414")


def test_slow_request_head_times_out(server: ModelServer) -> None:
    """A request head that never completes is answered 408 after --rest_api_header_timeout_in_ms."""
    status, _, body = _only_response(_raw(server.rest_port, b"GET /v1/models/half HTTP/1.1\r\nHost:"))
    assert status == 408 and "request head" in body["error"]


def test_idle_keep_alive_connection_is_closed(server: ModelServer) -> None:
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=20) as sock:
        sock.sendall(b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or len(_responses(data)[0][2]) < int(_responses(data)[0][1]["content-length"]):
            data += sock.recv(65536)
        assert _responses(data)[0][0] == 200
        assert sock.recv(65536) == b""  # closed by the server after --rest_api_idle_timeout_in_ms


# -- budgets (defects 1, 3, 4, 8) ---------------------------------------------------------------------


def _grpc_predict(server: ModelServer, request: Any) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        return prediction_stub(channel).Predict(request, timeout=30)


def _string_bomb(count: int) -> Any:
    request = serving_apis_pb2.PredictRequest()
    request.model_spec.name = "half"
    request.model_spec.signature_name = "predict_bytes"
    tensor = request.inputs["text"]
    tensor.dtype = tf_core_pb2.DT_STRING
    tensor.tensor_shape.dim.add(size=count)
    tensor.string_val.append(b"x")
    return request


@pytest.mark.parametrize("count", [1_000_000, 10_000_000, 1 << 40])
def test_tiny_grpc_request_claiming_huge_tensor_is_refused(server: ModelServer, count: int) -> None:
    """A 35-byte PredictRequest claiming [1000000] strings cost +639 MB; [2**40] answered INTERNAL MemoryError."""
    request = _string_bomb(count)
    assert request.ByteSize() < 60
    with pytest.raises(grpc.RpcError) as info:
        _grpc_predict(server, request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "serve --max_" in info.value.details()


def test_batch_limit(server: ModelServer) -> None:
    """128 REST instances (b64 images) cost 2.3 GB: the batch of a string input is bounded (--max_batch_size);
    numeric inputs are bounded by the byte budget instead (a model's 80 class ids pass)."""
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/half:predict"
    strings = {"signature_name": "predict_bytes", "instances": [{"b64": "eHl6"}] * 17}
    r = httpx.post(url, json=strings)
    assert r.status_code == 400 and "batch of 17 is larger than the limit of 16" in r.json()["error"]
    strings["instances"] = strings["instances"][:16]
    assert httpx.post(url, json=strings).status_code == 200
    assert httpx.post(url, json={"instances": [1.0] * 80}).status_code == 200


def test_list_heavy_json_is_refused_before_parsing(half_base: Path) -> None:
    """300 MB of ``[0],`` pushed the server past 8 GB: lists are counted in the text first."""
    srv = _server(half_base, max_request_elements=1 << 16)
    try:
        body = b'{"instances": [' + b"[0]," * 100_000 + b"[0]]}"
        r = httpx.post(f"http://127.0.0.1:{srv.rest_port}/v1/models/half:predict", content=body, timeout=30)
        assert r.status_code == 400 and "--max_request_elements" in r.json()["error"]
    finally:
        srv.stop()


def test_deep_nesting_is_a_400_without_traceback(server: ModelServer, caplog: pytest.LogCaptureFixture) -> None:
    """``[`` x 10000 answered 500 RecursionError; bodies over 8 KiB were parsed twice."""
    for body in (
        b"[" * 10_000,
        b'{"instances": ' + b"[" * 10_000 + b"]" * 10_000 + b', "pad": "' + b"x" * 9000 + b'"}',
    ):
        r = httpx.post(f"http://127.0.0.1:{server.rest_port}/v1/models/half:predict", content=body, timeout=30)
        assert r.status_code == 400 and "nested too deeply" in r.json()["error"]
    assert "Traceback" not in caplog.text


def test_undecodable_grpc_request_is_invalid_argument(server: ModelServer, caplog: pytest.LogCaptureFixture) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(
            "/tensorflow.serving.PredictionService/Predict", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.RpcError) as info:
            call(b"\xff\xff\xff\xff garbage", timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Could not parse the request as tensorflow.serving.PredictRequest" in info.value.details()
    assert "Traceback" not in caplog.text


def test_huge_model_name_is_not_echoed(server: ModelServer) -> None:
    """A 1 MB model name was echoed into the status, overflowing gRPC's header limit (RESOURCE_EXHAUSTED)."""
    request = serving_apis_pb2.PredictRequest()
    request.model_spec.name = "m" * 1_000_000
    with pytest.raises(grpc.RpcError) as info:
        _grpc_predict(server, request)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(info.value.details()) < 1100


# -- admission and deadlines (defect 3) ---------------------------------------------------------------


class _Gate:
    """Holds every model run until released; counts the runs that entered."""

    def __init__(self, server: ModelServer) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        original = server.plane._run

        def run(*args: Any, **kwargs: Any) -> Any:
            self.entered.release()
            self.release.wait(60)
            return original(*args, **kwargs)

        server.plane._run = run  # type: ignore[method-assign]


def _post_async(port: int, results: list[Any], body: Any, timeout_s: float = 60) -> threading.Thread:
    def call() -> None:
        try:
            r = httpx.post(f"http://127.0.0.1:{port}/v1/models/half:predict", json=body, timeout=timeout_s)
            results.append((r.status_code, r.json()))
        except httpx.HTTPError as exc:
            results.append(("error", repr(exc)))

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_full_model_queue_answers_503_at_once(half_base: Path) -> None:
    srv = _server(half_base, max_in_flight_requests_per_model=1, max_queued_requests_per_model=1)
    gate = _Gate(srv)
    try:
        results: list[Any] = []
        first = _post_async(srv.rest_port, results, {"instances": [1.0]})
        assert gate.entered.acquire(timeout=30)  # running
        second = _post_async(srv.rest_port, results, {"instances": [2.0]})
        deadline = time.monotonic() + 30
        while srv.plane.admission.load("half") != (1, 1) and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        r = httpx.post(
            f"http://127.0.0.1:{srv.rest_port}/v1/models/half:predict", json={"instances": [3.0]}, timeout=30
        )
        assert r.status_code == 503 and "at capacity" in r.json()["error"]
        gate.release.set()
        first.join(30)
        second.join(30)
        assert sorted(status for status, _ in results) == [200, 200]
    finally:
        gate.release.set()
        srv.stop()


def test_request_past_its_deadline_is_not_started(half_base: Path) -> None:
    """When --rest_api_timeout_in_ms fired, the 504 went out but the work went on, holding the model."""
    srv = _server(half_base, rest_api_timeout_in_ms=1000, max_in_flight_requests_per_model=1)
    gate = _Gate(srv)
    try:
        results: list[Any] = []
        first = _post_async(srv.rest_port, results, {"instances": [1.0]})
        assert gate.entered.acquire(timeout=30)
        late: list[Any] = []
        second = _post_async(srv.rest_port, late, {"instances": [2.0]})
        second.join(30)  # waits in the queue past its 1 s deadline: 504
        assert late[0][0] == 504
        gate.release.set()
        first.join(30)
        assert results[0][0] == 504  # the first also ran past its deadline; its late result was dropped
        assert not gate.entered.acquire(timeout=0.5)  # the queued one never ran
        ok = httpx.post(
            f"http://127.0.0.1:{srv.rest_port}/v1/models/half:predict", json={"instances": [2.0]}, timeout=30
        )
        assert ok.status_code == 200 and ok.json() == {"predictions": [3.0]}  # the model is free again
    finally:
        gate.release.set()
        srv.stop()


# -- shutdown (defect 7) ------------------------------------------------------------------------------


def test_stop_drains_in_flight_and_closes_idle_connections(half_base: Path) -> None:
    srv = _server(half_base)
    gate = _Gate(srv)
    stopper: threading.Thread | None = None
    try:
        idle = socket.create_connection(("127.0.0.1", srv.rest_port), timeout=30)
        idle.sendall(b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        results: list[Any] = []
        in_flight = _post_async(srv.rest_port, results, {"instances": [2.0]})
        assert gate.entered.acquire(timeout=30)
        stopper = threading.Thread(target=srv.stop)
        stopper.start()
        assert idle.recv(65536) == b""  # the idle keep-alive connection is closed at once
        idle.close()
        deadline = time.monotonic() + 30
        refused = False
        while not refused and time.monotonic() < deadline:  # no new connections while draining
            try:
                socket.create_connection(("127.0.0.1", srv.rest_port), timeout=1).close()
                time.sleep(0.01)
            except OSError:
                refused = True
        assert refused
        assert stopper.is_alive()  # still draining: the in-flight request holds it
        gate.release.set()
        in_flight.join(30)
        stopper.join(60)
        assert not stopper.is_alive()
        assert results == [(200, {"predictions": [3.0]})]  # finished, not lost
    finally:
        gate.release.set()
        if stopper is None:
            srv.stop()


def _serve_in_child(name: str, base: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """``yolo-tfserving serve`` in a child process, once it answers the model's status: (process, REST port)."""
    port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "yolo_tfserving.cli", "serve", f"--port={grpc_port}", f"--rest_api_port={port}"]
    command += ["--host=127.0.0.1", f"--model_name={name}", f"--model_base_path={base}", *extra]
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models/{name}", timeout=5).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the server did not come up")
        time.sleep(0.2)


def test_sigterm_with_idle_keep_alive_client_exits_zero(half_base: Path) -> None:
    """With one idle keep-alive connection open the server never exited."""
    proc, port = _serve_in_child("half", half_base, "--drain_timeout_seconds=10")
    try:
        idle = socket.create_connection(("127.0.0.1", port), timeout=30)
        idle.sendall(b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        proc.terminate()
        assert proc.wait(timeout=60) == 0
        idle.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_grpc_numbers_round_trip_after_hostile_requests(server: ModelServer) -> None:
    """The server keeps serving after everything above."""
    request = serving_apis_pb2.PredictRequest()
    request.model_spec.name = "half"
    x = request.inputs["x"]
    x.dtype = tf_core_pb2.DT_FLOAT
    x.tensor_shape.dim.add(size=2)
    x.float_val.extend([1.0, 2.0])
    response = _grpc_predict(server, request)
    np.testing.assert_allclose(list(response.outputs["y"].float_val), [2.5, 3.0])


def _conv_model(base: Path) -> Path:
    import tensorflow as tf

    class Conv(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(np.ones((3, 3, 3, 4), np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32, name="images")])
        def f(self, images: Any) -> dict[str, Any]:
            return {"y": tf.nn.conv2d(images, self.w, 1, "SAME")}

    module = Conv()
    tf.saved_model.save(module, str(base / "1"), signatures={"serving_default": module.f})
    return base


def test_a_shape_a_kernel_would_abort_on_is_refused_and_the_server_lives(tmp_path: Path) -> None:
    """Shapes are left to TensorFlow (as TF Serving), but a [1,8,8] image for a [?,8,8,3] convolution made a
    kernel abort the process ('Check failed: index >= 0 && index < num_total_dims'): shape inference first."""
    base = _conv_model(tmp_path / "conv")
    proc, port = _serve_in_child("conv", base)
    url = f"http://127.0.0.1:{port}/v1/models/conv:predict"
    try:
        for _ in range(2):  # the second answer comes from the cache
            r = httpx.post(url, json={"inputs": np.zeros((1, 8, 8)).tolist()}, timeout=60)
            assert r.status_code == 400 and "must be rank 4 but is rank 3" in r.json()["error"]
        ok = httpx.post(url, json={"inputs": np.zeros((2, 8, 8, 3)).tolist()}, timeout=60)
        assert ok.status_code == 200 and np.asarray(ok.json()["outputs"]).shape == (2, 8, 8, 4)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(60)


def test_classify_examples_are_counted_before_they_are_converted(server: ModelServer) -> None:
    """250,000 examples took 3.8 s (over 10 s under load) to be refused: the count is checked first."""
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 1}] * 50_000}
    r = httpx.post(f"http://127.0.0.1:{server.rest_port}/v1/models/half:classify", json=body, timeout=60)
    assert r.status_code == 400 and "batch of 50000 is larger than the limit of 16" in r.json()["error"]
