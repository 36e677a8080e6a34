"""TF Serving's own integration tests, against our server (issue 9).

The server is started the way ``tensorflow_model_server_test_base.py`` starts ``tensorflow_model_server``
(``--port=... --rest_api_port=... --rest_api_timeout_in_ms=5000 --grpc_socket_path=... --model_name=default
--model_base_path=...``), on models shaped like TF Serving's test models (``tf_serving_models``), and each test
sends what the corresponding TF Serving test sends and asserts what it asserts. Everything goes over real
sockets: TCP, the UNIX socket and HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("tensorflow")

from helpers import free_port  # noqa: E402
from tf_serving_models import (  # noqa: E402
    half_plus_two_tf1,
    half_plus_two_tf2,
    saved_model_save,
    tf_text_model,
)
from yolo_tfserving._wire import health_pb2, profiler_pb2, serving_apis_pb2, tf_core_pb2  # noqa: E402
from yolo_tfserving._wire.services import health_stub, model_stub, prediction_stub, profiler_stub  # noqa: E402
from yolo_tfserving.serving.options import parse_flags  # noqa: E402
from yolo_tfserving.serving.server import ModelServer  # noqa: E402

RPC_TIMEOUT = 20.0
READY_TIMEOUT_S = 180.0
DT_FLOAT = tf_core_pb2.DT_FLOAT


# -- servers ---------------------------------------------------------------------------------------


class Served:
    """A server's addresses: gRPC TCP and UNIX socket, REST base URL."""

    def __init__(self, grpc_port: int, rest_port: int, socket_path: str) -> None:
        self.grpc_address = f"localhost:{grpc_port}"
        self.rest = f"http://localhost:{rest_port}"
        self.socket_path = socket_path

    def channel(self) -> Any:
        return grpc.insecure_channel(self.grpc_address)


def harness_command(grpc_port: int, rest_port: int, socket_path: str, *extra: str) -> list[str]:
    """RunServer's command line, with our entry point in place of tensorflow_model_server."""
    return [
        sys.executable,
        "-m",
        "yolo_tfserving.cli",
        "serve",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--rest_api_timeout_in_ms=5000",
        f"--grpc_socket_path={socket_path}",
        *extra,
    ]


def wait_for_server_ready(address: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    """WaitForServerReady: a Predict for 'intentionally_missing_model' answers with 'Servable' once ready."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    request = serving_apis_pb2.PredictRequest()
    request.model_spec.name = "intentionally_missing_model"
    with grpc.insecure_channel(address) as channel:
        stub = prediction_stub(channel)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the server exited with {proc.returncode}")
            try:
                stub.Predict(request, timeout=5)
            except grpc.RpcError as error:
                if "Servable" in (error.details() or ""):
                    return
            time.sleep(0.2)
    raise AssertionError(f"server at {address} not ready within {READY_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tfs-models")
    bases = {
        "half_plus_two": root / "saved_model_half_plus_two_cpu",
        "half_plus_three": root / "saved_model_half_plus_three",
        "tf2": root / "saved_model_half_plus_two_tf2_cpu",
        "saved_model_save": root / "tf_saved_model_save",
    }
    half_plus_two_tf1(bases["half_plus_two"])
    half_plus_two_tf1(bases["half_plus_three"], offset=3.0)
    half_plus_two_tf2(bases["tf2"])
    saved_model_save(bases["saved_model_save"])
    return bases


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def harness(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``RunServer('default', saved_model_half_plus_two_cpu)``: a subprocess launched with the harness's flags."""
    tmp = tmp_path_factory.mktemp("harness")
    grpc_port, rest_port, socket_path = free_port(), free_port(), str(tmp / "tf-serving.sock")
    command = harness_command(
        grpc_port, rest_port, socket_path, "--model_name=default", f"--model_base_path={models['half_plus_two']}"
    )
    proc = _spawn(command, tmp / "server.log")
    try:
        wait_for_server_ready(f"localhost:{grpc_port}", proc)
        yield Served(grpc_port, rest_port, socket_path)
    finally:
        _stop(proc)


def _in_process(argv: list[str]) -> ModelServer:
    options = parse_flags(argv).options
    server = ModelServer(options)
    server.start()
    return server


@pytest.fixture(scope="module")
def tf2(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``RunServer('default', saved_model_half_plus_two_tf2_cpu)``, in this process, same flags."""
    tmp = tmp_path_factory.mktemp("tf2")
    grpc_port, rest_port, socket_path = free_port(), free_port(), str(tmp / "tf-serving.sock")
    argv = harness_command(
        grpc_port, rest_port, socket_path, "--model_name=default", f"--model_base_path={models['tf2']}"
    )
    server = _in_process(argv[4:])
    try:
        yield Served(grpc_port, rest_port, socket_path)
    finally:
        server.stop()


# -- request helpers (tensorflow_model_server_test.py's) ------------------------------------------


def _predict(
    address_or_channel: Any,
    *,
    model_name: str = "default",
    signature_name: str = "serving_default",
    specify_output: bool = True,
    batch_input: bool = False,
) -> Any:
    request = serving_apis_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    x = request.inputs["x"]
    x.dtype = DT_FLOAT
    x.float_val.append(2.0)
    x.tensor_shape.dim.add(size=1)
    if batch_input:
        x.tensor_shape.dim.add(size=1)
    if specify_output:
        request.output_filter.append("y")
    if isinstance(address_or_channel, str):
        with grpc.insecure_channel(address_or_channel) as channel:
            return prediction_stub(channel).Predict(request, timeout=RPC_TIMEOUT)
    return prediction_stub(address_or_channel).Predict(request, timeout=RPC_TIMEOUT)


def _verify_predict(response: Any, expected_output: float, expected_version: int, **spec: str) -> None:
    """VerifyPredictRequest's assertions: typed float_val of one element, and the response's model spec."""
    assert "y" in response.outputs
    y = response.outputs["y"]
    assert y.dtype == DT_FLOAT
    assert len(y.float_val) == 1
    assert y.float_val[0] == expected_output
    assert response.model_spec.name == spec.get("model_name", "default")
    assert response.model_spec.signature_name == spec.get("signature_name", "serving_default")
    assert response.model_spec.version.value == expected_version


def _example_input(target: Any, x: float = 2.0) -> None:
    example = target.example_list.examples.add()
    example.features.feature["x"].float_list.value.append(x)


def _rest(url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=RPC_TIMEOUT) as response:
        return json.loads(response.read())


# -- the integration tests ------------------------------------------------------------------------


def test_get_model_status(harness: Served) -> None:
    request = serving_apis_pb2.GetModelStatusRequest()
    request.model_spec.name = "default"
    with harness.channel() as channel:
        response = model_stub(channel).GetModelStatus(request, timeout=RPC_TIMEOUT)
    assert len(response.model_version_status) == 1
    assert response.model_version_status[0].version == 123  # from the zero-padded directory 00000123
    assert response.model_version_status[0].status.error_code == 0


def test_get_model_metadata(harness: Served) -> None:
    request = serving_apis_pb2.GetModelMetadataRequest()
    request.model_spec.name = "default"
    request.metadata_field.append("signature_def")
    with harness.channel() as channel:
        response = prediction_stub(channel).GetModelMetadata(request, timeout=RPC_TIMEOUT)
    assert response.model_spec.name == "default"
    assert response.model_spec.version.value == 123
    assert len(response.metadata) == 1 and "signature_def" in response.metadata


@pytest.mark.parametrize("server_name", ["harness", "tf2"])
def test_classify(server_name: str, request: pytest.FixtureRequest) -> None:
    """testClassify / testClassifyTf2: the TF2 signature's method_name is predict (issue 9: it was refused)."""
    served: Served = request.getfixturevalue(server_name)
    classify = serving_apis_pb2.ClassificationRequest()
    classify.model_spec.name = "default"
    classify.model_spec.signature_name = "classify_x_to_y"
    _example_input(classify.input)
    with served.channel() as channel:
        result = prediction_stub(channel).Classify(classify, timeout=RPC_TIMEOUT)
    assert len(result.result.classifications) == 1
    assert len(result.result.classifications[0].classes) == 1
    assert result.result.classifications[0].classes[0].score == 3.0
    assert (result.model_spec.name, result.model_spec.signature_name) == ("default", "classify_x_to_y")
    assert result.model_spec.version.value == 123


@pytest.mark.parametrize("server_name", ["harness", "tf2"])
def test_regress(server_name: str, request: pytest.FixtureRequest) -> None:
    served: Served = request.getfixturevalue(server_name)
    regress = serving_apis_pb2.RegressionRequest()
    regress.model_spec.name = "default"
    regress.model_spec.signature_name = "regress_x_to_y"
    _example_input(regress.input)
    with served.channel() as channel:
        result = prediction_stub(channel).Regress(regress, timeout=RPC_TIMEOUT)
    assert len(result.result.regressions) == 1
    assert result.result.regressions[0].value == 3.0
    assert (result.model_spec.signature_name, result.model_spec.version.value) == ("regress_x_to_y", 123)


@pytest.mark.parametrize("server_name", ["harness", "tf2"])
def test_multi_inference(server_name: str, request: pytest.FixtureRequest) -> None:
    """testMultiInference (issue 9: MultiInference answered UNIMPLEMENTED)."""
    served: Served = request.getfixturevalue(server_name)
    multi = serving_apis_pb2.MultiInferenceRequest()
    for signature, method in (("regress_x_to_y", "regress"), ("classify_x_to_y", "classify")):
        task = multi.tasks.add()
        task.model_spec.name = "default"
        task.model_spec.signature_name = signature
        task.method_name = f"tensorflow/serving/{method}"
    _example_input(multi.input)
    with served.channel() as channel:
        result = prediction_stub(channel).MultiInference(multi, timeout=RPC_TIMEOUT)
    assert len(result.results) == 2
    assert result.results[0].regression_result.regressions[0].value == 3.0
    assert result.results[1].classification_result.classifications[0].classes[0].score == 3.0
    for entry, signature in zip(result.results, ("regress_x_to_y", "classify_x_to_y"), strict=True):
        assert (entry.model_spec.name, entry.model_spec.signature_name) == ("default", signature)
        assert entry.model_spec.version.value == 123


def test_multi_inference_rules(harness: Served) -> None:
    multi = serving_apis_pb2.MultiInferenceRequest()
    for name in ("default", "other"):
        task = multi.tasks.add()
        task.model_spec.name = name
        task.model_spec.signature_name = "regress_x_to_y"
        task.method_name = "tensorflow/serving/regress"
    _example_input(multi.input)
    with harness.channel() as channel:
        stub = prediction_stub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.MultiInference(multi, timeout=RPC_TIMEOUT)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "must access the same model name" in info.value.details()
        multi.tasks[1].model_spec.name = "default"
        with pytest.raises(grpc.RpcError) as info:
            stub.MultiInference(multi, timeout=RPC_TIMEOUT)
        assert info.value.details() == "Duplicate evaluation of signature: regress_x_to_y"
        multi.tasks[1].model_spec.signature_name = "serving_default"
        multi.tasks[1].method_name = "tensorflow/serving/predict"
        with pytest.raises(grpc.RpcError) as info:
            stub.MultiInference(multi, timeout=RPC_TIMEOUT)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert info.value.details() == "Unsupported signature method_name: tensorflow/serving/predict"


@pytest.mark.parametrize("specify_output", [True, False])
def test_predict_saved_model(harness: Served, specify_output: bool) -> None:
    """testPredictSavedModel: x of shape [1] for a [?,1] signature (issue 9: refused), y as float_val
    (issue 9: it came back in tensor_content)."""
    response = _predict(harness.grpc_address, specify_output=specify_output)
    _verify_predict(response, 3.0, 123)


def test_predict_batch_input(harness: Served) -> None:
    response = _predict(harness.grpc_address, batch_input=True)
    _verify_predict(response, 3.0, 123)
    assert [d.size for d in response.outputs["y"].tensor_shape.dim] == [1, 1]


def test_predict_over_unix_socket(harness: Served) -> None:
    """testPredictUDS (issue 9: --grpc_socket_path exited 2)."""
    with grpc.insecure_channel(f"unix:{harness.socket_path}") as channel:
        _verify_predict(_predict(channel, specify_output=False), 3.0, 123)


def test_profiler_service_with_valid_trace_request(harness: Served, tmp_path: Path) -> None:
    """test_profiler_service_with_valid_trace_request: TensorFlow's own profiler client traces our server."""
    from tensorflow.python.profiler import profiler_client

    profiler_client.trace(harness.grpc_address, str(tmp_path / "logs"), 1000, "", 10)
    assert list((tmp_path / "logs").rglob("*.xplane.pb"))


def test_profile_rpc_writes_the_trace(harness: Served, tmp_path: Path) -> None:
    request = profiler_pb2.ProfileRequest(repository_root=str(tmp_path), session_id="s1", host_name="localhost:1")
    request.opts.duration_ms = 200
    with harness.channel() as channel:
        response = profiler_stub(channel).Profile(request, timeout=RPC_TIMEOUT)
    assert response.empty_trace is False
    assert (tmp_path / "s1" / "localhost_1.xplane.pb").stat().st_size > 0


def test_classify_rest(harness: Served) -> None:
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    assert _rest(f"{harness.rest}/v1/models/default:classify", body) == {"results": [[["", 3.0]]]}


def test_regress_rest(harness: Served) -> None:
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}
    assert _rest(f"{harness.rest}/v1/models/default:regress", body) == {"results": [3.0]}


def test_predict_rest(harness: Served) -> None:
    """testPredictREST: three scalar instances for a [?,1] signature (issue 9: instances of shape [3] refused)."""
    body = {"instances": [2.0, 3.0, 4.0]}
    assert _rest(f"{harness.rest}/v1/models/default:predict", body) == {"predictions": [3.0, 3.5, 4.0]}


def test_predict_columnar_rest(harness: Served) -> None:
    body = {"inputs": [2.0, 3.0, 4.0]}
    assert _rest(f"{harness.rest}/v1/models/default:predict", body) == {"outputs": [3.0, 3.5, 4.0]}


def test_get_status_rest(harness: Served) -> None:
    assert _rest(f"{harness.rest}/v1/models/default") == {
        "model_version_status": [
            {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_get_model_metadata_rest(harness: Served) -> None:
    """testGetModelMetadataREST: protobuf's JSON printer with default-valued fields (issue 9: left out)."""
    metadata = _rest(f"{harness.rest}/v1/models/default/metadata")
    assert metadata["model_spec"] == {"name": "default", "signature_name": "", "version": "123"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    default = signatures["serving_default"]
    assert default["inputs"]["x"] == {
        "dtype": "DT_FLOAT",
        "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": False},
        "name": "x:0",
    }
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["defaults"] == {}
    assert signatures["classify_x_to_y"]["inputs"]["inputs"] == {
        "dtype": "DT_STRING",
        "tensor_shape": {"dim": [], "unknown_rank": True},
        "name": "tf_example:0",
    }
    assert signatures["regress_x_to_y"]["method_name"] == "tensorflow/serving/regress"


def test_saved_model_save(models: dict[str, Path], tmp_path: Path) -> None:
    """test_tf_saved_model_save: a tf.saved_model.save model of unknown input rank."""
    grpc_port, rest_port = free_port(), free_port()
    argv = harness_command(
        grpc_port,
        rest_port,
        str(tmp_path / "s.sock"),
        "--model_name=default",
        f"--model_base_path={models['saved_model_save']}",
    )
    server = _in_process(argv[4:])
    try:
        _verify_predict(_predict(f"localhost:{grpc_port}", specify_output=False), 12.0, 123)
    finally:
        server.stop()


# -- model config files ---------------------------------------------------------------------------


def _config_text(*models: tuple[str, Path]) -> str:
    entries = ",\n".join(
        f'  config: {{ name: "{name}", base_path: "{base}", model_platform: "tensorflow" }}' for name, base in models
    )
    return f"model_config_list: {{\n{entries}\n}}\n"


def test_good_model_config(models: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "good_model_config.conf"
    config.write_text(
        _config_text(("half_plus_two", models["half_plus_two"]), ("half_plus_three", models["half_plus_three"]))
    )
    grpc_port, rest_port = free_port(), free_port()
    server = _in_process(
        harness_command(grpc_port, rest_port, str(tmp_path / "s.sock"), f"--model_config_file={config}")[4:]
    )
    try:
        address = f"localhost:{grpc_port}"
        for specify_output in (True, False):
            response = _predict(address, model_name="half_plus_two", specify_output=specify_output)
            _verify_predict(response, 3.0, 123, model_name="half_plus_two")
        response = _predict(address, model_name="half_plus_three")
        _verify_predict(response, 4.0, 123, model_name="half_plus_three")
    finally:
        server.stop()


def test_bad_model_config(tmp_path: Path) -> None:
    """testBadModelConfig: TF Serving's parse error on stderr, and the process exits (issue 9: our own words)."""
    config = tmp_path / "bad_model_config.txt"
    config.write_text("improperly formatted file")
    command = harness_command(free_port(), free_port(), str(tmp_path / "s.sock"), f"--model_config_file={config}")
    done = subprocess.run(command, capture_output=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode != 0
    assert b"Error parsing text-format tensorflow.serving.ModelServerConfig" in done.stderr
    assert b'1:1: Message type "tensorflow.serving.ModelServerConfig" has no field named "improperly".' in done.stderr
    assert f"Failed to start server. Error: INVALID_ARGUMENT: Invalid protobuf file: '{config}'".encode() in done.stderr


def _wait_for(condition: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def _serves(address: str, model_name: str) -> bool:
    try:
        _predict(address, model_name=model_name, specify_output=False)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise
    return True


def test_model_config_reload(models: dict[str, Path], tmp_path: Path) -> None:
    """testModelConfigReload: --model_config_file_poll_wait_seconds=1 picks up a rewritten config file
    (issue 9: the flag did not exist and the file was never re-read)."""
    config = tmp_path / "model_config.txt"
    config.write_text(_config_text(("half_plus_two", models["half_plus_two"])))
    grpc_port, rest_port = free_port(), free_port()
    argv = harness_command(
        grpc_port,
        rest_port,
        str(tmp_path / "s.sock"),
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=1",
    )
    server = _in_process(argv[4:])
    try:
        address = f"localhost:{grpc_port}"
        _verify_predict(
            _predict(address, model_name="half_plus_two", specify_output=False), 3.0, 123, model_name="half_plus_two"
        )
        config.write_text(_config_text(("half_plus_three", models["half_plus_three"])))
        _wait_for(lambda: _serves(address, "half_plus_three"))
        _verify_predict(_predict(address, model_name="half_plus_three"), 4.0, 123, model_name="half_plus_three")
        _wait_for(lambda: not _serves(address, "half_plus_two"))  # removed from the config: unloaded
    finally:
        server.stop()


def test_model_config_reload_with_zero_poll_period(models: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "model_config.txt"
    config.write_text(_config_text(("half_plus_two", models["half_plus_two"])))
    grpc_port, rest_port = free_port(), free_port()
    argv = harness_command(
        grpc_port,
        rest_port,
        str(tmp_path / "s.sock"),
        f"--model_config_file={config}",
        "--model_config_file_poll_wait_seconds=0",
    )
    server = _in_process(argv[4:])
    try:
        address = f"localhost:{grpc_port}"
        config.write_text(_config_text(("half_plus_three", models["half_plus_three"])))
        assert server._config_poller is None  # read once, never again
        _verify_predict(
            _predict(address, model_name="half_plus_two", specify_output=False), 3.0, 123, model_name="half_plus_two"
        )
    finally:
        server.stop()


def test_handle_reload_config_request(models: dict[str, Path], tmp_path: Path) -> None:
    """ModelService.HandleReloadConfigRequest adds and removes models (issue 9: UNIMPLEMENTED)."""
    config = tmp_path / "model_config.txt"
    config.write_text(_config_text(("half_plus_two", models["half_plus_two"])))
    grpc_port, rest_port = free_port(), free_port()
    server = _in_process(
        harness_command(grpc_port, rest_port, str(tmp_path / "s.sock"), f"--model_config_file={config}")[4:]
    )
    try:
        address = f"localhost:{grpc_port}"
        request = serving_apis_pb2.ReloadConfigRequest()
        entry = request.config.model_config_list.config.add(
            name="half_plus_three", base_path=str(models["half_plus_three"]), model_platform="tensorflow"
        )
        assert entry.name == "half_plus_three"
        with grpc.insecure_channel(address) as channel:
            response = model_stub(channel).HandleReloadConfigRequest(request, timeout=RPC_TIMEOUT)
            assert response.status.error_code == 0
            # returns once the new model is loaded
            _verify_predict(_predict(channel, model_name="half_plus_three"), 4.0, 123, model_name="half_plus_three")
            _wait_for(lambda: not _serves(address, "half_plus_two"))
            bad = serving_apis_pb2.ReloadConfigRequest()
            bad.config.model_config_list.config.add(name="x", base_path="relative/path", model_platform="tensorflow")
            with pytest.raises(grpc.RpcError) as info:
                model_stub(channel).HandleReloadConfigRequest(bad, timeout=RPC_TIMEOUT)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "to have an absolute path or URI" in info.value.details()
            assert _serves(address, "half_plus_three")  # a refused reload changes nothing
    finally:
        server.stop()


def test_good_grpc_channel_args(models: dict[str, Path], tmp_path: Path) -> None:
    grpc_port, rest_port = free_port(), free_port()
    argv = harness_command(
        grpc_port,
        rest_port,
        str(tmp_path / "s.sock"),
        "--model_name=default",
        f"--model_base_path={models['half_plus_two']}",
        "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb",
    )
    server = _in_process(argv[4:])
    try:
        _verify_predict(_predict(f"localhost:{grpc_port}", specify_output=False), 3.0, 123)
    finally:
        server.stop()


# -- flags beyond the harness ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def flagged(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The TF1 and TF2 models with --enable_serialization_as_tensor_content, the method-name check and the
    health service on."""
    tmp = tmp_path_factory.mktemp("flagged")
    config = tmp / "models.config"
    config.write_text(_config_text(("tf1", models["half_plus_two"]), ("tf2", models["tf2"])))
    grpc_port, rest_port = free_port(), free_port()
    argv = harness_command(
        grpc_port,
        rest_port,
        str(tmp / "s.sock"),
        f"--model_config_file={config}",
        "--enable_serialization_as_tensor_content",
        "--enable_signature_method_name_check=true",
        "--enable_grpc_healthcheck_service",
    )
    server = _in_process(argv[4:])
    try:
        yield Served(grpc_port, rest_port, str(tmp / "s.sock"))
    finally:
        server.stop()


def test_tensor_content_with_the_flag(flagged: Served) -> None:
    response = _predict(flagged.grpc_address, model_name="tf1")
    y = response.outputs["y"]
    assert not y.float_val
    np.testing.assert_array_equal(np.frombuffer(y.tensor_content, "<f4"), [3.0])


def test_method_name_check_with_the_flag(flagged: Served) -> None:
    classify = serving_apis_pb2.ClassificationRequest()
    classify.model_spec.name = "tf2"
    classify.model_spec.signature_name = "classify_x_to_y"
    _example_input(classify.input)
    with flagged.channel() as channel:
        stub = prediction_stub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Classify(classify, timeout=RPC_TIMEOUT)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == (
            "Expected classification signature method_name to be tensorflow/serving/classify. "
            "Was: tensorflow/serving/predict"
        )
        classify.model_spec.name = "tf1"  # a TF1 classification signature passes the check
        assert stub.Classify(classify, timeout=RPC_TIMEOUT).result.classifications[0].classes[0].score == 3.0


def test_health_service_with_the_flag(flagged: Served, harness: Served) -> None:
    with flagged.channel() as channel:
        stub = health_stub(channel)
        for service in ("", "PredictionService", "ModelService"):
            status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=RPC_TIMEOUT).status
            assert status == health_pb2.HealthCheckResponse.SERVING
    with harness.channel() as channel, pytest.raises(grpc.RpcError) as info:  # off by default
        health_stub(channel).Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_tf_text(tmp_path: Path) -> None:
    """test_tf_text: a model using TensorFlow Text ops loads in a fresh server process (issue 9: 'Op type not
    registered')."""
    pytest.importorskip("tensorflow_text")
    base = tmp_path / "tf_text_regression"
    tf_text_model(base)
    grpc_port, rest_port = free_port(), free_port()
    command = harness_command(
        grpc_port, rest_port, str(tmp_path / "s.sock"), "--model_name=default", f"--model_base_path={base}"
    )
    proc = _spawn(command, tmp_path / "server.log")
    try:
        wait_for_server_ready(f"localhost:{grpc_port}", proc)
        body = {"instances": ["a b", "a b c d"]}
        assert _rest(f"http://localhost:{rest_port}/v1/models/default:predict", body) == {"predictions": [3.0, 4.0]}
    finally:
        _stop(proc)


def test_cors_with_the_flag(models: dict[str, Path], tmp_path: Path) -> None:
    import httpx

    grpc_port, rest_port = free_port(), free_port()
    argv = harness_command(
        grpc_port,
        rest_port,
        str(tmp_path / "s.sock"),
        "--model_name=default",
        f"--model_base_path={models['half_plus_two']}",
        "--rest_api_enable_cors_support=true",
    )
    server = _in_process(argv[4:])
    try:
        url = f"http://localhost:{rest_port}/v1/models/default"
        answer = httpx.get(url, timeout=RPC_TIMEOUT)
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert answer.headers["Access-Control-Allow-Methods"] == "POST, GET"
        preflight = httpx.options(url, headers={"Origin": "https://example.org"}, timeout=RPC_TIMEOUT)
        assert (preflight.status_code, preflight.content) == (200, b"")
        assert httpx.options(url, timeout=RPC_TIMEOUT).status_code == 400  # no Origin
    finally:
        server.stop()
