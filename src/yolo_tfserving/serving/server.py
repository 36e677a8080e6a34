"""``yolo-tfserving serve``: assemble manager, core, REST and gRPC; start; stop cleanly."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import InputError
from .batching import BatchingParameters, BatchScheduler
from .core import DataPlane
from .manager import ModelConfig, ModelManager, parse_model_config
from .metrics import Metrics, prometheus_path
from .servable import Servable

log = logging.getLogger("yolo_tfserving.serving")
WARMUP_RELATIVE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit


@dataclass(frozen=True)
class ServerOptions:
    """TF Serving's flags, same names and defaults."""

    port: int = 8500
    rest_api_port: int = 8501
    rest_api_host: str = "0.0.0.0"
    grpc_host: str = "0.0.0.0"
    model_name: str | None = None
    model_base_path: str | None = None
    model_config_file: str | None = None
    file_system_poll_wait_seconds: float = 1.0
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    monitoring_config_file: str | None = None
    rest_api_timeout_in_ms: int = 30000
    enable_model_warmup: bool = True


def model_configs(options: ServerOptions) -> list[ModelConfig]:
    if options.model_config_file:
        path = Path(options.model_config_file)
        if not path.is_file():
            raise InputError(f"--model_config_file {path} does not exist")
        return parse_model_config(path.read_text(), relative_to=Path.cwd())
    if options.model_base_path:
        base = Path(options.model_base_path)
        if not base.is_dir():
            raise InputError(f"--model_base_path {base} is not a directory")
        return [ModelConfig(name=options.model_name or "default", base_path=base.resolve())]
    raise InputError(
        "Both server_model_config_file and model_base_path are empty; pass --model_base_path "
        "(with --model_name) or --model_config_file"
    )


def replay_warmup(servable: Servable) -> int:
    """Run the version's warm-up records (PredictionLog TFRecords), as TF Serving does at load."""
    path = servable.path / WARMUP_RELATIVE
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
        servable.run(signature, inputs)
        count += 1
    return count


class ModelServer:
    """The embedded server. ``start()`` returns once the initial models are loaded."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        configs = model_configs(options)
        self.metrics = Metrics()
        self.batcher = None
        if options.enable_batching:
            params = BatchingParameters()
            if options.batching_parameters_file:
                params = BatchingParameters.from_file(Path(options.batching_parameters_file))
            self.batcher = BatchScheduler(params)
        metrics_path = prometheus_path(Path(options.monitoring_config_file)) if options.monitoring_config_file else None
        self.manager = ModelManager(
            configs,
            warmup=replay_warmup if options.enable_model_warmup else None,
            poll_wait_s=options.file_system_poll_wait_seconds,
        )
        self.plane = DataPlane(self.manager, batcher=self.batcher, metrics=self.metrics)
        from .rest import RestFrontEnd

        self.rest = (
            RestFrontEnd(
                self.plane,
                host=options.rest_api_host,
                port=options.rest_api_port,
                timeout_ms=options.rest_api_timeout_in_ms,
                metrics_path=metrics_path,
            )
            if options.rest_api_port
            else None
        )
        from .grpc_server import GrpcFrontEnd

        # --port 0 binds any free port (gRPC is always on, as in TF Serving); --rest_api_port 0 disables REST
        self.grpc: Any = GrpcFrontEnd(self.plane, host=options.grpc_host, port=options.port)
        self._stopped = threading.Event()

    @property
    def rest_port(self) -> int | None:
        return self.rest.port if self.rest else None

    @property
    def grpc_port(self) -> int | None:
        return self.grpc.port if self.grpc else None

    def start(self) -> None:
        self.manager.start()
        if self.grpc is not None:
            self.grpc.start()
            log.info("Running gRPC ModelServer at %s:%d ...", self.options.grpc_host, self.grpc.port)
        if self.rest is not None:
            self.rest.start()
            log.info("Exporting HTTP/REST API at:%s:%d ...", self.options.rest_api_host, self.rest.port)

    def stop(self) -> None:
        """Stop accepting; in-flight requests finish; then models unload."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.rest is not None:
            self.rest.stop()
        if self.grpc is not None:
            self.grpc.stop(grace_s=30)
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
