"""The embedded server over real sockets (REST): routes, JSON rules, errors, versions over time."""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow")
httpx = pytest.importorskip("httpx")

from helpers import free_port  # noqa: E402
from tf_models import build_half_plus, write_config  # noqa: E402
from yolo_tfserving.serving.server import ModelServer, ServerOptions  # noqa: E402


def start_server(**kwargs: Any) -> ModelServer:
    options = ServerOptions(
        port=free_port(), rest_api_port=free_port(), rest_api_host="127.0.0.1", grpc_host="127.0.0.1", **kwargs
    )
    server = ModelServer(options)
    server.start()
    return server


@pytest.fixture(scope="module")
def half_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("half")
    build_half_plus(base / "half" / "1", 2.0)
    build_half_plus(base / "half" / "2", 3.0)
    write_config(base / "models.config", [("half", base / "half")], policy="all {}", labels={"stable": 1, "canary": 2})
    (base / "monitoring.config").write_text(
        'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }'
    )
    return base


@pytest.fixture(scope="module")
def server(half_models: Path) -> Iterator[ModelServer]:
    srv = start_server(
        model_config_file=str(half_models / "models.config"),
        monitoring_config_file=str(half_models / "monitoring.config"),
        allow_version_labels_for_unavailable_models=True,  # labels name versions before they load
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: ModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=30) as c:
        yield c


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    return str(body["error"])


# -- status and metadata -------------------------------------------------------------
def test_model_status_all_versions(client: httpx.Client) -> None:
    r = client.get("/v1/models/half")
    assert r.status_code == 200
    statuses = r.json()["model_version_status"]
    assert [s["version"] for s in statuses] == ["2", "1"]
    assert all(s["state"] == "AVAILABLE" and s["status"] == {"error_code": "OK", "error_message": ""} for s in statuses)
    assert client.get("/v1/models/half/versions/1").json()["model_version_status"][0]["version"] == "1"
    assert client.get("/v1/models/half/labels/canary").json()["model_version_status"][0]["version"] == "2"


def test_metadata(client: httpx.Client) -> None:
    r = client.get("/v1/models/half/versions/1/metadata")
    assert r.status_code == 200
    body = r.json()
    assert body["model_spec"] == {"name": "half", "signature_name": "", "version": "1"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "predict_bytes", "classify_x_to_y", "regress_x_to_y"} <= set(sigs)
    x = sigs["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1"]
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"


# -- predict ---------------------------------------------------------------------------
def test_predict_row_and_columnar(client: httpx.Client) -> None:
    r = client.post("/v1/models/half:predict", json={"instances": [1.0, 2.0, 5.0]})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [3.5, 4.0, 5.5]}  # latest = version 2 (0.5x + 3)
    r = client.post("/v1/models/half/versions/1:predict", json={"inputs": {"x": [1.0, 2.0]}})
    assert r.json() == {"outputs": [2.5, 3.0]}
    r = client.post("/v1/models/half/labels/stable:predict", json={"inputs": [4.0]})
    assert r.json() == {"outputs": [4.0]}


def test_predict_b64_and_bytes_outputs(client: httpx.Client) -> None:
    payload = base64.b64encode(b"\x00\xffbinary").decode()
    r = client.post(
        "/v1/models/half:predict", json={"signature_name": "predict_bytes", "instances": [{"b64": payload}, "text"]}
    )
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert preds[0] == {"length": 8, "echo_bytes": {"b64": payload}}
    assert preds[1]["echo_bytes"] == {"b64": base64.b64encode(b"text").decode()}


def test_predict_nan_and_infinity(client: httpx.Client) -> None:
    r = client.post("/v1/models/half/versions/1:predict", content=b'{"instances": [NaN, Infinity, -Infinity, 1]}')
    assert r.status_code == 200, r.text
    assert r.text.replace(" ", "").find("NaN") >= 0
    values = json.loads(r.text)["predictions"]
    assert np.isnan(values[0]) and values[1] == float("inf") and values[2] == float("-inf") and values[3] == 2.5


@pytest.mark.parametrize(
    "path,body,status,needle",
    [
        ("/v1/models/nope:predict", {"instances": [1.0]}, 404, "Servable not found for request: Latest(nope)"),
        ("/v1/models/half/versions/9:predict", {"instances": [1.0]}, 404, "Specific(half, 9)"),
        ("/v1/models/half/labels/beta:predict", {"instances": [1.0]}, 400, "Unrecognized servable version label"),
        (
            "/v1/models/half:predict",
            {"signature_name": "nope", "instances": [1.0]},
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        ("/v1/models/half:predict", {"instance": [1.0]}, 400, "instances"),
        ("/v1/models/half:predict", {"instances": [1.0], "inputs": [1.0]}, 400, ""),
        ("/v1/models/half:predict", {"instances": ["a"]}, 400, ""),
        ("/v1/models/half:predict", {"instances": [[1.0, 2.0], [3.0]]}, 400, ""),
        ("/v1/models/half:predict", {"inputs": {"y": [1.0]}}, 400, ""),
        ("/v1/models/half:predict", {"signature_name": "predict_bytes", "instances": [{"b64": "***"}]}, 400, ""),
    ],
)
def test_predict_errors(client: httpx.Client, path: str, body: Any, status: int, needle: str) -> None:
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert needle in error_of(r)


def test_malformed_json_and_urls(client: httpx.Client) -> None:
    r = client.post("/v1/models/half:predict", content=b"{not json")
    assert r.status_code == 400 and error_of(r)
    r = client.get("/v1/models/half/versions/abc")
    assert r.status_code == 400 and "Malformed request" in error_of(r)
    r = client.post("/v1/models/half:explode", json={})
    assert r.status_code == 400 and "Malformed request: POST /v1/models/half:explode" in error_of(r)
    r = client.get("/v1/models")
    assert r.status_code == 400 and "Missing model name" in error_of(r)
    r = client.get("/v1/models/nope")
    assert r.status_code == 404 and error_of(r)
    assert client.get("/elsewhere").status_code == 404


def test_classify_and_regress(client: httpx.Client) -> None:
    r = client.post(
        "/v1/models/half/versions/1:regress",
        json={"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 4.0}]},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [2.5, 4.0]}
    r = client.post(
        "/v1/models/half/versions/1:classify", json={"signature_name": "classify_x_to_y", "examples": [{"x": 0.0}]}
    )
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert [label for label, _ in result] == ["low", "high"]
    r = client.post(
        "/v1/models/half/versions/1:regress",
        json={"signature_name": "regress_x_to_y", "context": {"x": 2.0}, "examples": [{}]},
    )
    assert r.json() == {"results": [3.0]}
    r = client.post("/v1/models/half:regress", json={"examples": [{"x": 1.0}]})  # serving_default is predict
    assert r.status_code == 400 and "regression" in error_of(r)


def test_server_survives_errors_and_concurrency(client: httpx.Client, server: ModelServer) -> None:
    def worker(i: int, out: list[int]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=30) as c:
            body = {"instances": [float(i)]} if i % 2 else {"instances": "broken"}
            out.append(c.post("/v1/models/half/versions/1:predict", json=body).status_code)

    codes: list[int] = []
    threads = [threading.Thread(target=worker, args=(i, codes)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(codes)) == [200, 400]
    assert client.post("/v1/models/half/versions/1:predict", json={"instances": [2.0]}).json() == {"predictions": [3.0]}


def test_prometheus_metrics(client: httpx.Client) -> None:
    client.post("/v1/models/half:predict", json={"instances": [1.0]})
    r = client.get("/monitoring/prometheus/metrics")
    assert r.status_code == 200
    text = r.text
    assert ':tensorflow:serving:request_count{model_name="half",status="OK"}' in text
    assert ':tensorflow:serving:request_latency_bucket{model_name="half",API="predict",entrypoint="REST"' in text
    assert "INVALID_ARGUMENT" in text


# -- models over time -----------------------------------------------------------------
def test_hot_load_new_version_and_unload_old(tmp_path: Path) -> None:
    base = tmp_path / "half"
    build_half_plus(base / "1", 2.0)
    srv = start_server(
        model_name="half", model_base_path=str(base), file_system_poll_wait_seconds=0.2, max_num_load_retries=0
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.rest_port}", timeout=30) as c:
            assert c.post("/v1/models/half:predict", json={"instances": [2.0]}).json() == {"predictions": [3.0]}
            staging = tmp_path / "staging"
            build_half_plus(staging, 10.0)
            staging.rename(base / "2")  # atomic appearance, as export does
            assert srv.manager.wait_until_available("half", 2, timeout_s=30)
            deadline = time.time() + 30
            while time.time() < deadline:
                states = {s["version"]: s["state"] for s in c.get("/v1/models/half").json()["model_version_status"]}
                if states.get("1") == "END":
                    break
                time.sleep(0.1)
            assert states == {"2": "AVAILABLE", "1": "END"}
            assert c.post("/v1/models/half:predict", json={"instances": [2.0]}).json() == {"predictions": [11.0]}
            assert c.post("/v1/models/half/versions/1:predict", json={"instances": [2.0]}).status_code == 404
            # a broken version 3 is reported and never replaces version 2
            (base / "3").mkdir()
            (base / "3" / "saved_model.pb").write_bytes(b"garbage")
            deadline = time.time() + 30
            status3: dict[str, Any] = {}
            while time.time() < deadline:
                statuses = c.get("/v1/models/half").json()["model_version_status"]
                status3 = next((s for s in statuses if s["version"] == "3"), {})
                if status3.get("state") == "END":
                    break
                time.sleep(0.1)
            assert status3["state"] == "END" and status3["status"]["error_code"] != "OK"
            assert status3["status"]["error_message"]
            assert c.post("/v1/models/half:predict", json={"instances": [2.0]}).json() == {"predictions": [11.0]}
            shutil.rmtree(base / "3")
    finally:
        srv.stop()


def test_specific_and_latest_policies(tmp_path: Path) -> None:
    base = tmp_path / "m"
    for v, off in ((1, 1.0), (2, 2.0), (3, 3.0)):
        build_half_plus(base / str(v), off)
    config = write_config(tmp_path / "specific.config", [("m", base)], policy="specific { versions: 1 versions: 3 }")
    srv = start_server(model_config_file=str(config), file_system_poll_wait_seconds=0)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.rest_port}", timeout=30) as c:
            versions = [s["version"] for s in c.get("/v1/models/m").json()["model_version_status"]]
            assert versions == ["3", "1"]
            assert c.post("/v1/models/m/versions/2:predict", json={"instances": [0.0]}).status_code == 404
    finally:
        srv.stop()
    config = write_config(tmp_path / "latest.config", [("m", base)], policy="latest { num_versions: 2 }")
    srv = start_server(model_config_file=str(config), file_system_poll_wait_seconds=0)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.rest_port}", timeout=30) as c:
            versions = [s["version"] for s in c.get("/v1/models/m").json()["model_version_status"]]
            assert versions == ["3", "2"]
    finally:
        srv.stop()


def test_batching_merges_concurrent_requests(half_models: Path) -> None:
    params = half_models / "batching.txt"
    params.write_text(
        "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 50000 }\n"
        "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 4 }\n"
    )
    srv = start_server(
        model_config_file=str(half_models / "models.config"),
        allow_version_labels_for_unavailable_models=True,
        enable_batching=True,
        batching_parameters_file=str(params),
        file_system_poll_wait_seconds=0,
    )
    try:
        results: dict[int, Any] = {}

        def call(i: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{srv.rest_port}", timeout=30) as c:
                results[i] = c.post("/v1/models/half/versions/1:predict", json={"instances": [float(i), 1.0]}).json()

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(results[i] == {"predictions": [0.5 * i + 2, 2.5]} for i in range(8))
        assert srv.batcher is not None and srv.batcher.batches_run < srv.batcher.tasks_run
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.rest_port}", timeout=30) as c:
            r = c.post("/v1/models/half/versions/1:predict", json={"instances": [1.0] * 9})
            assert r.status_code == 400 and "larger than maximum input batch size" in error_of(r)
    finally:
        srv.stop()


def test_batch_queue_full_answers_unavailable() -> None:
    from yolo_tfserving.serving.batching import BatchingParameters, BatchScheduler
    from yolo_tfserving.serving.status import Code, ServingStatusError

    gate = threading.Event()

    def slow(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        gate.wait(10)
        return {"y": feeds["x"]}

    scheduler = BatchScheduler(
        BatchingParameters(max_batch_size=1, batch_timeout_micros=0, num_batch_threads=1, max_enqueued_batches=1)
    )
    errors: list[Exception] = []

    def submit() -> None:
        try:
            scheduler.submit("k", {"x": np.ones((1,), np.float32)}, slow)
        except ServingStatusError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join()
    scheduler.stop()
    assert errors and all(e.code == Code.UNAVAILABLE and "queue" in e.message for e in errors)


def test_warmup_records_are_replayed(tiny_repo: tuple[Path, Any]) -> None:
    from yolo_tfserving.serving.server import replay_warmup

    result = tiny_repo[1]
    import tensorflow as tf

    from yolo_tfserving.serving.servable import Servable

    records = list(tf.data.TFRecordDataset(str(result.version_dir / "assets.extra" / "tf_serving_warmup_requests")))
    assert len(records) >= 3  # one per exported signature
    assert replay_warmup(Servable("yolov5", 1, result.version_dir)) == len(records)


def test_yolo_model_served_over_rest(tiny_repo: tuple[Path, Any]) -> None:
    from PIL import Image

    repo, result = tiny_repo
    srv = start_server(model_name="yolov5", model_base_path=str(repo / "yolov5"), file_system_poll_wait_seconds=0)
    try:
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 80, 3), np.uint8)).save(buf, "JPEG")
        b64 = base64.b64encode(buf.getvalue()).decode()
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.rest_port}", timeout=30) as c:
            r = c.post("/v1/models/yolov5:predict", json={"instances": [{"b64": b64}]})
            assert r.status_code == 200, r.text
            (pred,) = r.json()["predictions"]
            assert set(pred) == {"boxes", "scores", "classes", "class_names", "num_detections"}
            r = c.post(
                "/v1/models/yolov5:predict",
                json={
                    "signature_name": "detect",
                    "instances": [{"images": {"b64": b64}, "conf_threshold": 1.0, "iou_threshold": 0.5, "max_det": 5}],
                },
            )
            assert r.status_code == 200, r.text
            assert r.json()["predictions"][0]["num_detections"] == 0
            r = c.post("/v1/models/yolov5:predict", json={"instances": [{"b64": base64.b64encode(b"junk").decode()}]})
            assert r.status_code == 400 and error_of(r)
            assert "Traceback" not in error_of(r) and "/work/" not in error_of(r)
            meta = c.get("/v1/models/yolov5/metadata").json()["metadata"]["signature_def"]["signature_def"]
            assert meta["serving_default"]["inputs"]["images"]["dtype"] == "DT_STRING"
            assert result.version == 1
    finally:
        srv.stop()


def test_rest_timeout_answers_deadline_exceeded(tiny_repo: tuple[Path, Any]) -> None:
    srv = start_server(
        model_name="yolov5",
        model_base_path=str(tiny_repo[0] / "yolov5"),
        rest_api_timeout_in_ms=1,
        file_system_poll_wait_seconds=0,
    )
    try:
        canvas = np.zeros((8, 3, 64, 64), np.float32).tolist()
        r = httpx.post(
            f"http://127.0.0.1:{srv.rest_port}/v1/models/yolov5:predict",
            json={"signature_name": "predict_nchw", "inputs": canvas},
            timeout=60,
        )
        assert r.status_code == 504 and "Deadline" in error_of(r)
    finally:
        srv.stop()


def test_status_mapping_is_tf_servings() -> None:
    from yolo_tfserving.serving.status import Code, http_status

    expected = {
        Code.OK: 200,
        Code.INVALID_ARGUMENT: 400,
        Code.FAILED_PRECONDITION: 400,
        Code.NOT_FOUND: 404,
        Code.UNIMPLEMENTED: 501,
        Code.RESOURCE_EXHAUSTED: 429,
        Code.UNAVAILABLE: 503,
        Code.DEADLINE_EXCEEDED: 504,
        Code.INTERNAL: 500,
        Code.UNKNOWN: 500,
        Code.ALREADY_EXISTS: 409,
        Code.PERMISSION_DENIED: 403,
        Code.UNAUTHENTICATED: 401,
        Code.OUT_OF_RANGE: 400,
        Code.CANCELLED: 499,
        Code.ABORTED: 409,
        Code.DATA_LOSS: 500,
    }
    assert {code: http_status(code) for code in expected} == expected


def test_unimplemented_dtype_over_http(tmp_path: Path) -> None:
    import tensorflow as tf

    class Halves(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float16, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": x * 2}

    module = Halves()
    tf.saved_model.save(module, str(tmp_path / "h" / "1"), signatures={"serving_default": module.serve})
    srv = start_server(model_name="h", model_base_path=str(tmp_path / "h"))
    try:
        # columnar: the converter error itself (row format wraps it in INVALID_ARGUMENT, as TF Serving does)
        r = httpx.post(f"http://127.0.0.1:{srv.rest_port}/v1/models/h:predict", json={"inputs": [1.0]}, timeout=30)
        assert r.status_code == 501 and error_of(r)
    finally:
        srv.stop()
