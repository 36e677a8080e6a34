"""The gRPC front end: TF Serving's ``PredictionService`` and ``ModelService`` on the wire.

Services and methods (``tensorflow_serving/apis/prediction_service.proto``, ``model_service.proto``):

- ``tensorflow.serving.PredictionService``: ``Predict``, ``GetModelMetadata``, ``Classify``, ``Regress``,
  ``MultiInference``
- ``tensorflow.serving.ModelService``: ``GetModelStatus``, ``HandleReloadConfigRequest``
- beside them (:mod:`.grpc_services`): ``tensorflow.ProfilerService`` and ``grpc.health.v1.Health``

Messages are our TensorFlow-free classes (:mod:`yolo_tfserving._wire`): same full names, field
numbers and types, so the bytes are TF Serving's. Requests are parsed into a :class:`~.core.ModelRef` and
numpy inputs, the transport-free :class:`~.core.DataPlane` does the work, and its
:class:`~.status.ServingStatusError` codes pass straight through as gRPC status codes
(:func:`.grpc_rpc.grpc_status`, the one place exceptions become statuses). Request decoding and
response building are :mod:`.grpc_messages`'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np

from .._wire.messages import messages
from .._wire.services import MODEL_SERVICE, PREDICTION_SERVICE
from .._wire.tensors import ndarray_to_tensor_proto
from .core import DataPlane, ModelRef
from .grpc_messages import (
    decode_inputs,
    encode_tensor,
    fill_model_spec,
    model_ref,
    serialize,
    serialized_examples,
    spec_version,
)
from .grpc_rpc import deadline_of, grpc_status, parsing, rpc
from .model_config import ModelConfig
from .servable import DEFAULT_SIGNATURE
from .status import ServingStatusError, invalid_argument

__all__ = ["ENTRYPOINT", "GrpcFrontEnd", "GrpcSettings", "grpc_status"]

log = logging.getLogger("yolo_tfserving.serving.grpc")

ENTRYPOINT = "GRPC"
SIGNATURE_DEF_FIELD = "signature_def"
SIGNATURE_DEF_MAP_TYPE_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
# TF Serving serves tensors of any size: no gRPC message limit either way.
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    # gRPC sets SO_REUSEPORT by default on Linux, which lets a second server bind a busy port silently
    ("grpc.so_reuseport", 0),
]


@dataclass(frozen=True)
class GrpcSettings:
    """How the gRPC server listens and answers (TF Serving's gRPC flags)."""

    host: str = "0.0.0.0"
    port: int | None = 8500  # None: no TCP listener (--port=0); 0 here: any free port (tests)
    socket_path: str = ""  # --grpc_socket_path: the same services on a UNIX socket
    channel_arguments: tuple[tuple[str, int | str], ...] = ()  # --grpc_channel_arguments
    max_workers: int = 16  # --grpc_max_threads
    tensor_content: bool = False  # --enable_serialization_as_tensor_content
    credentials: Any = None  # grpc.ServerCredentials from --ssl_config_file; None: insecure
    max_receive_bytes: int = -1  # --max_request_bytes (-1: TF Serving's unlimited)


class GrpcFrontEnd:
    """A ``grpc.server`` on a thread pool serving TF Serving's services over one :class:`DataPlane`.

    Listeners are bound at construction (``port=0`` picks a free port, ``port=None`` binds no TCP port); the
    bound TCP port is ``self.port``. :meth:`start` starts serving.
    """

    def __init__(
        self,
        plane: DataPlane,
        settings: GrpcSettings | None = None,
        *,
        extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
        reload_config: Callable[[list[ModelConfig]], None] | None = None,
    ) -> None:
        settings = settings or GrpcSettings()
        self.plane = plane
        self._reload_config = reload_config
        self.settings = settings
        self._msgs = messages()
        self._executor = ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="grpc-work")
        options = [
            ("grpc.max_receive_message_length", settings.max_receive_bytes),
            *_CHANNEL_OPTIONS,
            *settings.channel_arguments,
        ]
        self._server = grpc.server(self._executor, options=options)
        self._server.add_generic_rpc_handlers((*self._handlers(), *extra_handlers))
        self.port: int | None = None
        if settings.port is not None:
            host = settings.host
            address = (
                f"[{host}]:{settings.port}" if ":" in host and not host.startswith("[") else f"{host}:{settings.port}"
            )
            self.port = self._bind(address)
        if settings.socket_path:
            self._bind(f"unix:{settings.socket_path}")
        self._started = False

    def _bind(self, address: str) -> int:
        credentials = self.settings.credentials
        try:
            if credentials is not None:
                bound = self._server.add_secure_port(address, credentials)
            else:
                bound = self._server.add_insecure_port(address)
        except RuntimeError as exc:  # newer grpcio raises instead of returning 0
            raise OSError(f"gRPC server could not bind {address}: {exc}") from exc
        if not bound:
            raise OSError(f"gRPC server could not bind {address}")
        return int(bound)

    def _encode(self, value: np.ndarray) -> Any:
        """An output as TF Serving writes it: every value in its typed field (Tensor::AsProtoField), or raw
        bytes in ``tensor_content`` with --enable_serialization_as_tensor_content."""
        if self.settings.tensor_content:
            proto = self._msgs.TensorProto()
            encode_tensor(proto, value)
            return proto
        return ndarray_to_tensor_proto(value, encoding="typed_fields")

    def start(self) -> None:
        self._server.start()
        self._started = True

    def stop(self, grace_s: float = 30) -> None:
        """Stop accepting RPCs; in-flight ones get ``grace_s`` seconds to finish, then are cancelled."""
        self.begin_stop(grace_s).wait()
        self.shutdown()

    def begin_stop(self, grace_s: float) -> threading.Event:
        """Stop accepting now; the event is set once in-flight RPCs finished (or ``grace_s`` passed)."""
        done: threading.Event = self._server.stop(grace_s)
        self._started = False
        return done

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)

    # -- wiring ----------------------------------------------------------------------
    def _handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        from .._wire import serving_apis_pb2 as wire

        m = self._msgs

        def unary(fn: Callable[[Any, grpc.ServicerContext], Any], request_cls: Any) -> grpc.RpcMethodHandler:
            # bytes in, parsed here: a request that does not parse is INVALID_ARGUMENT and one log line
            # (grpcio's own deserializer answers INTERNAL and logs a traceback)
            return grpc.unary_unary_rpc_method_handler(
                parsing(fn, request_cls), request_deserializer=None, response_serializer=serialize
            )

        prediction = {
            "Predict": unary(self.Predict, m.PredictRequest),
            "GetModelMetadata": unary(self.GetModelMetadata, m.GetModelMetadataRequest),
            "Classify": unary(self.Classify, m.ClassificationRequest),
            "Regress": unary(self.Regress, m.RegressionRequest),
            "MultiInference": unary(self.MultiInference, wire.MultiInferenceRequest),
        }
        model = {
            "GetModelStatus": unary(self.GetModelStatus, m.GetModelStatusRequest),
            "HandleReloadConfigRequest": unary(self.HandleReloadConfigRequest, wire.ReloadConfigRequest),
        }
        return (
            grpc.method_handlers_generic_handler(PREDICTION_SERVICE, prediction),
            grpc.method_handlers_generic_handler(MODEL_SERVICE, model),
        )

    # -- PredictionService --------------------------------------------------------------
    @rpc("Predict")
    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:  # TF Serving's method names
        ref = model_ref(request)
        signature_name = request.model_spec.signature_name or None
        self.plane.limits.check_protos(request.inputs)  # from the shapes claimed, before decoding
        inputs = decode_inputs(request.inputs)
        result = self.plane.predict(
            ref,
            signature_name,
            inputs,
            output_filter=list(request.output_filter) or None,
            entrypoint=ENTRYPOINT,
            deadline=deadline_of(context),
        )
        response = self._msgs.PredictResponse()
        fill_model_spec(response.model_spec, ref.name, result.version, result.signature_name)
        for alias, value in result.outputs.items():
            response.outputs[alias].CopyFrom(self._encode(value))
        return response

    @rpc("GetModelMetadata")
    def GetModelMetadata(self, request: Any, _context: grpc.ServicerContext) -> Any:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        # get_model_metadata_impl.cc validates the fields before it looks the model up
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        ref = model_ref(request)
        version, signature_def_map = self.plane.metadata(ref)
        response = self._msgs.GetModelMetadataResponse()
        fill_model_spec(response.model_spec, ref.name, version, None)
        packed = response.metadata[SIGNATURE_DEF_FIELD]
        packed.type_url = SIGNATURE_DEF_MAP_TYPE_URL
        packed.value = signature_def_map.SerializeToString()
        return response

    @rpc("Classify")
    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:
        ref = model_ref(request)
        signature_name = request.model_spec.signature_name or None
        version, results = self.plane.classify(
            ref,
            signature_name,
            serialized_examples(request.input),
            entrypoint=ENTRYPOINT,
            deadline=deadline_of(context),
        )
        response = self._msgs.ClassificationResponse()
        fill_model_spec(response.model_spec, ref.name, version, signature_name or DEFAULT_SIGNATURE)
        for row in results:
            classifications = response.result.classifications.add()
            for label, score in row:
                classifications.classes.add(label=label, score=score)
        return response

    @rpc("Regress")
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:
        ref = model_ref(request)
        signature_name = request.model_spec.signature_name or None
        version, values = self.plane.regress(
            ref,
            signature_name,
            serialized_examples(request.input),
            entrypoint=ENTRYPOINT,
            deadline=deadline_of(context),
        )
        response = self._msgs.RegressionResponse()
        fill_model_spec(response.model_spec, ref.name, version, signature_name or DEFAULT_SIGNATURE)
        for value in values:
            response.result.regressions.add(value=value)
        return response

    @rpc("MultiInference")
    def MultiInference(self, request: Any, context: grpc.ServicerContext) -> Any:
        from .._wire import serving_apis_pb2 as wire

        tasks = list(request.tasks)
        first = tasks[0].model_spec if tasks else wire.ModelSpec()
        if not first.name:
            raise invalid_argument("ModelSpec has no name specified.")
        ref = ModelRef(name=first.name, version=spec_version(first), label=first.version_label or None)
        plan = [(t.model_spec.name, t.method_name, t.model_spec.signature_name or None) for t in tasks]
        version, results = self.plane.multi_inference(
            ref, plan, serialized_examples(request.input), deadline=deadline_of(context)
        )
        response = wire.MultiInferenceResponse()
        for task, (kind, result) in zip(tasks, results, strict=True):
            entry = response.results.add()
            fill_model_spec(
                entry.model_spec, task.model_spec.name, version, task.model_spec.signature_name or DEFAULT_SIGNATURE
            )
            if kind == "classify":
                for row in result:
                    classifications = entry.classification_result.classifications.add()
                    for label, score in row:  # type: ignore[misc,union-attr]
                        classifications.classes.add(label=label, score=score)
            else:
                for value in result:
                    entry.regression_result.regressions.add(value=value)  # type: ignore[arg-type]
        return response

    # -- ModelService ---------------------------------------------------------------------
    @rpc("GetModelStatus")
    def GetModelStatus(self, request: Any, _context: grpc.ServicerContext) -> Any:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        # as get_model_status_impl.cc: no name check here; an empty name is a model with no versions (NOT_FOUND)
        states = self.plane.status(
            ModelRef(name=spec.name, version=spec_version(spec), label=spec.version_label or None)
        )
        response = self._msgs.GetModelStatusResponse()
        for state in states:
            entry = response.model_version_status.add(version=state.version, state=state.state)
            entry.status.error_code = int(state.error_code)
            entry.status.error_message = state.error_message
        return response

    @rpc("HandleReloadConfigRequest")
    def HandleReloadConfigRequest(self, request: Any, _context: grpc.ServicerContext) -> Any:
        from .._wire import serving_apis_pb2 as wire
        from .model_config import model_configs

        if request.config.WhichOneof("config") != "model_config_list" or self._reload_config is None:
            raise invalid_argument(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
                "currently supported"
            )
        for index, config in enumerate(request.config.model_config_list.config):
            log.info(
                "\nConfig entry\n\tindex : %d\n\tpath : %s\n\tname : %s\n\tplatform : %s",
                index,
                config.base_path,
                config.name,
                config.model_platform,
            )
        try:
            self._reload_config(model_configs(request.config))
        except ServingStatusError as exc:
            log.error("ReloadConfig failed: %s", exc.message)
            raise
        response = wire.ReloadConfigResponse()
        response.status.SetInParent()  # error_code OK, as TF Serving always sets it
        for name in request.metric_names:
            response.metric.add(name=name, int64_value_increase=0)
        return response
