"""``serve`` takes every flag of TF Serving 2.19's tensorflow_model_server, in tensorflow::Flags' forms."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from yolo_tfserving._errors import InputError
from yolo_tfserving.serving.options import ServerOptions, parse_flags, usage
from yolo_tfserving.serving.server import channel_arguments, check_options
from yolo_tfserving.serving.status import ServingStatusError

# tensorflow_model_server --help, TF Serving 2.19 (model_servers/main.cc)
TF_SERVING_219_FLAGS = """
port grpc_socket_path rest_api_port rest_api_num_threads rest_api_timeout_in_ms rest_api_enable_cors_support
enable_batching allow_version_labels_for_unavailable_models batching_parameters_file
enable_per_model_batching_parameters model_config_file model_config_file_poll_wait_seconds model_name
model_base_path num_load_threads num_unload_threads max_num_load_retries load_retry_interval_micros
file_system_poll_wait_seconds flush_filesystem_caches tensorflow_session_parallelism tensorflow_session_config_file
tensorflow_intra_op_parallelism tensorflow_inter_op_parallelism use_alts_credentials ssl_config_file
platform_config_file per_process_gpu_memory_fraction saved_model_tags grpc_channel_arguments grpc_max_threads
enable_model_warmup num_request_iterations_for_warmup version monitoring_config_file
remove_unused_fields_from_bundle_metagraph prefer_tflite_model num_tflite_pools num_tflite_interpreters_per_pool
enable_signature_method_name_check xla_cpu_compilation_enabled xla_gpu_compilation_enabled enable_profiler
thread_pool_factory_config_file mixed_precision skip_initialize_tpu enable_grpc_healthcheck_service
enable_serialization_as_tensor_content
""".split()


def test_every_tf_serving_flag_is_an_option() -> None:
    ours = {f.name for f in dataclasses.fields(ServerOptions)}
    assert set(TF_SERVING_219_FLAGS) <= ours
    extra = {f.name for f in dataclasses.fields(ServerOptions) if f.metadata["ours"]}
    assert ours - set(TF_SERVING_219_FLAGS) == extra
    assert {"rest_api_host", "grpc_host", "max_request_bytes", "drain_timeout_seconds"} <= extra
    text = usage()
    for name in TF_SERVING_219_FLAGS:
        assert f"\t--{name}=" in text


def test_the_integration_harness_command_line_parses() -> None:
    """tensorflow_model_server_test_base.py's RunServer command line (issue 9: it exited 2, 'No such option')."""
    argv = [
        "--port=9000",
        "--rest_api_port=9001",
        "--rest_api_timeout_in_ms=5000",
        "--grpc_socket_path=/tmp/tf-serving.sock",
        "--model_name=default",
        "--model_base_path=/models/half_plus_two",
        "--model_config_file_poll_wait_seconds=1",
        "--enable_batching",
        "--batching_parameters_file=/tmp/batching.txt",
        "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb",
        "--prefer_tflite_model=true",
    ]
    parsed = parse_flags(argv)
    o = parsed.options
    assert parsed.unknown == []
    assert (o.port, o.rest_api_port, o.rest_api_timeout_in_ms) == (9000, 9001, 5000)
    assert o.grpc_socket_path == "/tmp/tf-serving.sock"
    assert o.model_config_file_poll_wait_seconds == 1
    assert o.enable_batching and o.prefer_tflite_model
    assert dict(channel_arguments(o.grpc_channel_arguments)) == {
        "grpc.max_connection_age_ms": 2000,
        "grpc.lb_policy_name": "grpclb",
    }
    assert o.ignored_flags() == [("prefer_tflite_model", "TensorFlow Lite models are not served")]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--enable_batching"], True),
        (["--enable_batching=true"], True),
        (["--enable_batching=True"], True),
        (["--enable_batching=1"], True),
        (["--enable_batching=false"], False),
        (["--enable_batching=0"], False),
        (["--noenable_batching"], False),
    ],
)
def test_boolean_forms(args: list[str], expected: bool) -> None:
    assert parse_flags(args).options.enable_batching is expected


def test_space_separated_values_and_defaults() -> None:
    o = parse_flags(["--port", "7000", "--model_base_path", "/m"]).options
    assert (o.port, o.model_base_path) == (7000, "/m")
    defaults = parse_flags([]).options
    assert defaults.port == 8500 and defaults.file_system_poll_wait_seconds == 1
    assert defaults.enable_profiler and defaults.enable_model_warmup
    assert defaults.max_num_load_retries == 5 and defaults.load_retry_interval_micros == 60_000_000
    assert defaults.tags == ("serve",)
    assert parse_flags(["--saved_model_tags=serve,gpu"]).options.tags == ("serve", "gpu")


def test_unknown_arguments_are_reported_not_fatal() -> None:
    parsed = parse_flags(["--model_base_path=/m", "--no_such_flag=1", "stray"])
    assert parsed.unknown == ["--no_such_flag=1", "stray"]
    assert parsed.options.model_base_path == "/m"


@pytest.mark.parametrize("arg", ["--port=abc", "--enable_batching=yes", "--per_process_gpu_memory_fraction=x"])
def test_bad_values_are_errors(arg: str) -> None:
    with pytest.raises(InputError, match="Illegal value for flag"):
        parse_flags([arg])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": 0, "model_base_path": "/m"}, "At least one of server_options.grpc_port"),
        ({"model_base_path": ""}, "Both server_options.model_base_path and server_options.model_config_file"),
        ({"model_base_path": "/m", "batching_parameters_file": "/b"}, "batching_parameters_file is set without"),
        ({"model_base_path": "/m", "use_alts_credentials": True, "ssl_config_file": "/s"}, "use_alts_credentials"),
        (
            {
                "model_base_path": "/m",
                "tensorflow_intra_op_parallelism": 1,
                "tensorflow_inter_op_parallelism": 1,
                "tensorflow_session_parallelism": 1,
            },
            "You cannot configure all.",
        ),
    ],
)
def test_start_up_checks(options: dict[str, object], message: str) -> None:
    with pytest.raises(ServingStatusError, match=message):
        check_options(ServerOptions(**options))  # type: ignore[arg-type]


def test_cli_help_and_version() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "yolo_tfserving.cli", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--grpc_socket_path" in help_text and "--enable_serialization_as_tensor_content" in help_text
    version = subprocess.run(
        [sys.executable, "-m", "yolo_tfserving.cli", "serve", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("TensorFlow ModelServer: yolo-tfserving ")
    assert "TensorFlow Library: " in version
