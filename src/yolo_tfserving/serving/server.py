"""``yolo-tfserving serve``: assemble manager, core, REST and gRPC from TF Serving's flags; start; stop cleanly.

The start-up follows ``Server::BuildAndStart``: the flags are checked (TF Serving's messages), the model
config is read, every model is loaded (labels checked first), and only then do gRPC and REST listen — so a
client that can connect finds the models loaded, as TF Serving's test harness expects.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from .._repository_layout import WARMUP_FILE
from .batching import BatchingParameters, BatchScheduler
from .core import DataPlane
from .http_server import HttpLimits
from .limits import DEFAULT_MAX_BATCH, Admission, RequestLimits, default_in_flight
from .manager import ModelManager
from .metrics import Metrics, prometheus_path
from .model_config import ConfigFileError, ModelConfig, read_model_config_file, read_text_proto, single_model_config
from .options import ServerOptions, default_thread_count
from .servable import BFLOAT16, LoadOptions, Servable, cpu_has_bfloat16
from .status import invalid_argument

__all__ = ["ModelServer", "ServerOptions", "model_configs", "replay_warmup"]

log = logging.getLogger("yolo_tfserving.serving")
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit


def check_options(options: ServerOptions) -> None:
    """Server::BuildAndStart's checks, in its order and words."""
    if not options.port and not options.grpc_socket_path:
        raise invalid_argument(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."
        )
    if options.use_alts_credentials and options.ssl_config_file:
        raise invalid_argument("Either use_alts_credentials must be false or ssl_config_file must be empty.")
    if not options.model_base_path and not options.model_config_file:
        raise invalid_argument("Both server_options.model_base_path and server_options.model_config_file are empty!")
    if options.batching_parameters_file and not options.enable_batching:
        raise invalid_argument(
            "server_options.batching_parameters_file is set without setting server_options.enable_batching to true."
        )
    if (
        options.tensorflow_intra_op_parallelism > 0
        and options.tensorflow_inter_op_parallelism > 0
        and options.tensorflow_session_parallelism > 0
    ):
        raise invalid_argument(
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism) "
            "separately. You cannot configure all."
        )


def model_configs(options: ServerOptions) -> list[ModelConfig]:
    if options.model_config_file:
        return read_model_config_file(Path(options.model_config_file))
    log.info(
        "Building single TensorFlow model file config:  model_name: %s model_base_path: %s",
        options.model_name,
        options.model_base_path,
    )
    return single_model_config(options.model_name, options.model_base_path)


def channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """``--grpc_channel_arguments``: ``key=value`` pairs, comma separated; an integer value is an int argument."""
    out: list[tuple[str, int | str]] = []
    for piece in (p for p in text.split(",") if p):
        key, sep, value = piece.partition("=")
        if not sep or not key:
            raise invalid_argument(f"--grpc_channel_arguments: {piece!r} is not key=value")
        value = value.split("=", 1)[0]
        try:
            number = int(value)
        except ValueError:
            out.append((key, value))
        else:
            out.append((key, number) if -(1 << 31) <= number < (1 << 31) else (key, value))
    return tuple(out)


def ssl_credentials(path: Path) -> Any:
    """``--ssl_config_file``: a text-format SSLConfig -> gRPC server credentials."""
    import grpc

    from .._wire import serving_config_pb2

    config = read_text_proto(path, serving_config_pb2.SSLConfig)
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() or None,
        require_client_auth=config.client_verify,
    )


def request_limits(options: ServerOptions, batcher: BatchScheduler | None) -> RequestLimits:
    """--max_request_elements / --max_request_decoded_bytes / --max_batch_size. With batching on and no
    --max_batch_size, the batching parameters' max_batch_size is the limit, which the batch scheduler
    enforces in TF Serving's words ("Task size 9 is larger than maximum input batch size 8")."""
    batch = options.max_batch_size or ((1 << 62) if batcher is not None else DEFAULT_MAX_BATCH)
    return RequestLimits(
        max_elements=options.max_request_elements,
        max_decoded_bytes=options.max_request_decoded_bytes,
        max_batch_size=batch,
    )


def load_options(options: ServerOptions) -> LoadOptions:
    intra, inter = options.tensorflow_intra_op_parallelism, options.tensorflow_inter_op_parallelism
    if not intra and not inter:
        intra = inter = options.tensorflow_session_parallelism
    return LoadOptions(
        tags=options.tags,
        intra_op_threads=intra,
        inter_op_threads=inter,
        session_config_file=options.tensorflow_session_config_file,
        mixed_precision=mixed_precision(options.mixed_precision),
    )


def mixed_precision(mode: str) -> str:
    """--mixed_precision: "bfloat16" where the CPU computes in bfloat16; otherwise float32, said once."""
    if not mode:
        return ""
    if mode != BFLOAT16:
        log.warning("%s auto mixed precision is not supported. Valid option: bfloat16", mode)
        return ""
    if not cpu_has_bfloat16():
        log.warning("--mixed_precision=bfloat16 has no effect: this CPU has no bfloat16 instructions; serving float32")
        return ""
    log.info("mixed precision: bfloat16 (oneDNN's auto-mixed-precision graph rewrite)")
    return BFLOAT16


def replay_warmup(servable: Servable, *, iterations: int = 1) -> int:
    """Run the version's warm-up records (PredictionLog TFRecords), as TF Serving does at load."""
    path = servable.path / WARMUP_FILE
    if not path.is_file():
        return 0
    import tensorflow as tf

    from .._wire import serving_apis_pb2
    from .._wire.tensors import tensor_proto_to_ndarray

    count = 0
    for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS):
        log_entry = serving_apis_pb2.PredictionLog.FromString(record.numpy())
        if log_entry.WhichOneof("log_type") != "predict_log":
            continue
        request = log_entry.predict_log.request
        signature = servable.signature(request.model_spec.signature_name or None)
        inputs = {k: tensor_proto_to_ndarray(v) for k, v in request.inputs.items()}
        for _ in range(max(1, iterations)):
            servable.run(signature, inputs)
        count += 1
    return count


class ModelServer:
    """The embedded server. ``start()`` returns once the initial models are loaded and both APIs listen."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        check_options(options)
        for flag, reason in options.ignored_flags():
            log.warning("--%s has no effect here: %s", flag, reason)
        configs = model_configs(options)
        self.metrics = Metrics()
        self.batcher = None
        if options.enable_batching:
            params = BatchingParameters()
            if options.batching_parameters_file:
                params = BatchingParameters.from_file(Path(options.batching_parameters_file))
            self.batcher = BatchScheduler(params)
        warmup = None
        if options.enable_model_warmup:
            warmup = functools.partial(replay_warmup, iterations=options.num_request_iterations_for_warmup or 1)
        self.manager = ModelManager(
            configs,
            loader=functools.partial(Servable, options=load_options(options)),
            warmup=warmup,
            poll_wait_s=options.file_system_poll_wait_seconds,
            max_load_retries=options.max_num_load_retries,
            load_retry_interval_s=max(0, options.load_retry_interval_micros) / 1e6,
            allow_unavailable_labels=options.allow_version_labels_for_unavailable_models,
        )
        self.plane = DataPlane(
            self.manager,
            batcher=self.batcher,
            metrics=self.metrics,
            check_method_names=options.enable_signature_method_name_check,
            limits=request_limits(options, self.batcher),
            admission=Admission(
                max_in_flight=options.max_in_flight_requests_per_model or default_in_flight(),
                max_queued=options.max_queued_requests_per_model,
            ),
        )
        self.grpc = self._grpc_front_end()
        self.rest = self._rest_front_end()
        self._stopped = threading.Event()
        self._config_poller: threading.Thread | None = None

    def _grpc_front_end(self) -> Any:
        from .grpc_server import GrpcFrontEnd, GrpcSettings
        from .grpc_services import ProfilerService, health_handler

        options = self.options
        extra = []
        if options.enable_profiler:
            extra.append(ProfilerService().handler())
        if options.enable_grpc_healthcheck_service:
            extra.append(health_handler())
        settings = GrpcSettings(
            host=options.grpc_host,
            port=options.port or None,  # --port=0: no TCP listener
            socket_path=options.grpc_socket_path,
            channel_arguments=channel_arguments(options.grpc_channel_arguments),
            max_workers=options.grpc_max_threads or default_thread_count(),
            tensor_content=options.enable_serialization_as_tensor_content,
            credentials=ssl_credentials(Path(options.ssl_config_file)) if options.ssl_config_file else None,
            max_receive_bytes=options.max_request_bytes,
        )
        return GrpcFrontEnd(self.plane, settings, extra_handlers=extra, reload_config=self.reload_config)

    def _rest_front_end(self) -> Any:
        options = self.options
        if not options.rest_api_port:
            return None
        if options.rest_api_port == options.port:
            log.error(
                "server_options.http_port cannot be same as grpc_port. Please use a different port for HTTP/REST "
                "API. Skipped exporting HTTP/REST API."
            )
            return None
        from .rest import RestFrontEnd

        monitoring = Path(options.monitoring_config_file) if options.monitoring_config_file else None
        return RestFrontEnd(
            self.plane,
            host=options.rest_api_host,
            port=options.rest_api_port,
            timeout_ms=options.rest_api_timeout_in_ms,
            metrics_path=prometheus_path(monitoring),
            num_threads=options.rest_api_num_threads or default_thread_count(),
            cors=options.rest_api_enable_cors_support,
            limits=HttpLimits(
                max_body_bytes=options.max_request_bytes,
                max_header_bytes=options.rest_api_max_header_bytes,
                header_timeout_s=options.rest_api_header_timeout_in_ms / 1000,
                idle_timeout_s=options.rest_api_idle_timeout_in_ms / 1000,
                max_large_bodies=options.rest_api_max_large_bodies,
            ),
        )

    @property
    def rest_port(self) -> int | None:
        return self.rest.port if self.rest else None

    @property
    def grpc_port(self) -> int | None:
        return self.grpc.port if self.grpc else None

    def start(self) -> None:
        self.manager.start()
        self.grpc.start()
        if self.grpc.port:
            log.info("Running gRPC ModelServer at %s:%d ...", self.options.grpc_host, self.grpc.port)
        if self.options.grpc_socket_path:
            log.info("Running gRPC ModelServer at UNIX socket %s ...", self.options.grpc_socket_path)
        if self.rest is not None:
            self.rest.start()
            log.info("Exporting HTTP/REST API at:%s:%d ...", self.options.rest_api_host, self.rest.port)
        if self.options.model_config_file and self.options.model_config_file_poll_wait_seconds > 0:
            self._config_poller = threading.Thread(target=self._poll_config, name="config-poller", daemon=True)
            self._config_poller.start()

    def reload_config(self, configs: list[ModelConfig]) -> None:
        """Apply a new model list (the config-file poller and ModelService.HandleReloadConfigRequest)."""
        self.manager.reload(configs)

    def _poll_config(self) -> None:
        """--model_config_file_poll_wait_seconds: re-read the file and reload it, every period."""
        path = Path(self.options.model_config_file)
        while not self._stopped.wait(self.options.model_config_file_poll_wait_seconds):
            try:
                configs = read_model_config_file(path)
            except ConfigFileError as exc:
                log.error("Failed to read ModelServerConfig file: %s", exc.message)
                continue
            except Exception as exc:
                log.error("Failed to read ModelServerConfig file: %s", getattr(exc, "message", exc))
                continue
            try:
                self.reload_config(configs)
            except Exception as exc:
                log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", getattr(exc, "message", exc))

    def stop(self) -> None:
        """Both front ends stop accepting at once (idle keep-alive connections closed); in-flight requests
        finish within ``--drain_timeout_seconds``; then batching stops and models unload."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        drain_s = self.options.drain_timeout_seconds
        grpc_done = self.grpc.begin_stop(grace_s=drain_s)
        if self.rest is not None:
            self.rest.stop(drain_s)
        grpc_done.wait(drain_s + 5)
        self.grpc.shutdown()
        if self.batcher is not None:
            self.batcher.stop()
        self.manager.stop()

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then stop cleanly."""
        done = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("received signal %d, shutting down", signum)
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        done.wait()
        self.stop()
