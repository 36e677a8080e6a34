"""The gRPC front end: TF Serving's ``PredictionService`` and ``ModelService`` on the wire.

Services and methods (``tensorflow_serving/apis/prediction_service.proto``, ``model_service.proto``):

- ``tensorflow.serving.PredictionService``: ``Predict``, ``GetModelMetadata``, ``Classify``, ``Regress``;
  ``MultiInference`` answers UNIMPLEMENTED
- ``tensorflow.serving.ModelService``: ``GetModelStatus``; ``HandleReloadConfigRequest`` answers UNIMPLEMENTED

Messages are our TensorFlow-free classes (:mod:`yolo_tfserving._wire`): same full names, field
numbers and types, so the bytes are TF Serving's. Requests are parsed into a :class:`~.core.ModelRef` and
numpy inputs, the transport-free :class:`~.core.DataPlane` does the work, and its
:class:`~.status.ServingStatusError` codes pass straight through as gRPC status codes
(:func:`grpc_status`, the one place exceptions become statuses).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import grpc
import numpy as np

from .._wire.enums import DataType
from .._wire.messages import messages
from .._wire.services import MODEL_SERVICE, PREDICTION_SERVICE
from .._wire.tensors import numpy_to_datatype, tensor_proto_to_ndarray
from .core import DataPlane, ModelRef
from .servable import DEFAULT_SIGNATURE, SignatureInfo
from .status import Code, ServingStatusError, invalid_argument, unimplemented

log = logging.getLogger("yolo_tfserving.serving.grpc")

ENTRYPOINT = "GRPC"
SIGNATURE_DEF_FIELD = "signature_def"
SIGNATURE_DEF_MAP_TYPE_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
# TF Serving serves tensors of any size: no gRPC message limit either way.
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    # gRPC sets SO_REUSEPORT by default on Linux, which lets a second server bind a busy port silently
    ("grpc.so_reuseport", 0),
]


def grpc_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and message a failed RPC answers with.

    A :class:`ServingStatusError` keeps its canonical code and message (the codes are gRPC's own);
    anything else is an INTERNAL error whose message names the exception.
    """
    if isinstance(exc, ServingStatusError):
        if exc.code == Code.OK:  # not an error at all; never abort with OK
            return grpc.StatusCode.UNKNOWN, exc.message
        return grpc.StatusCode[exc.code.name], exc.message
    return grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


Handler = Callable[[Any, Any, grpc.ServicerContext], Any]


def _rpc(name: str) -> Callable[[Handler], Handler]:
    """Run a handler; any exception becomes a status (:func:`grpc_status`) and the server goes on."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return fn(self, request, context)
            except ServingStatusError as exc:
                log.debug("%s failed: %s", name, exc.message)
                failure: BaseException = exc
            except Exception as exc:  # never a dead server, never a traceback to the client
                log.exception("internal error in %s", name)
                failure = exc
            _abort(context, failure)

        return handler

    return wrap


def _abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    code, message = grpc_status(exc)
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


class GrpcFrontEnd:
    """A ``grpc.server`` on a thread pool serving TF Serving's two services over one :class:`DataPlane`.

    The port is bound at construction (``port=0`` picks a free one; the bound port is ``self.port``);
    :meth:`start` starts serving.
    """

    def __init__(self, plane: DataPlane, *, host: str = "0.0.0.0", port: int = 8500, max_workers: int = 16) -> None:
        self.plane = plane
        self._msgs = messages()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc-work")
        self._server = grpc.server(self._executor, options=_CHANNEL_OPTIONS)
        self._server.add_generic_rpc_handlers(self._handlers())
        address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
        try:
            bound = self._server.add_insecure_port(address)
        except RuntimeError as exc:  # newer grpcio raises instead of returning 0
            raise OSError(f"gRPC server could not bind {address}: {exc}") from exc
        if not bound:
            raise OSError(f"gRPC server could not bind {address}")
        self.port: int = bound
        self._started = False

    def start(self) -> None:
        self._server.start()
        self._started = True

    def stop(self, grace_s: float = 30) -> None:
        """Stop accepting RPCs; in-flight ones get ``grace_s`` seconds to finish, then are cancelled."""
        self._server.stop(grace_s).wait()
        self._started = False
        self._executor.shutdown(wait=False)

    # -- wiring ----------------------------------------------------------------------
    def _handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        m = self._msgs

        def unary(fn: Callable[[Any, grpc.ServicerContext], Any], request_cls: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn,
                request_deserializer=request_cls.FromString if request_cls is not None else None,
                response_serializer=_serialize,
            )

        prediction = {
            "Predict": unary(self.Predict, m.PredictRequest),
            "GetModelMetadata": unary(self.GetModelMetadata, m.GetModelMetadataRequest),
            "Classify": unary(self.Classify, m.ClassificationRequest),
            "Regress": unary(self.Regress, m.RegressionRequest),
            "MultiInference": unary(self.MultiInference, None),  # bytes in: never parsed
        }
        model = {
            "GetModelStatus": unary(self.GetModelStatus, m.GetModelStatusRequest),
            "HandleReloadConfigRequest": unary(self.HandleReloadConfigRequest, None),
        }
        return (
            grpc.method_handlers_generic_handler(PREDICTION_SERVICE, prediction),
            grpc.method_handlers_generic_handler(MODEL_SERVICE, model),
        )

    # -- PredictionService --------------------------------------------------------------
    @_rpc("Predict")
    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:  # TF Serving's method names
        ref = _model_ref(request)
        signature_name = request.model_spec.signature_name or None
        signature = self.plane.signature_for(ref, signature_name)
        inputs = _decode_inputs(request.inputs, signature)
        result = self.plane.predict(
            ref, signature_name, inputs, output_filter=list(request.output_filter) or None, entrypoint=ENTRYPOINT
        )
        response = self._msgs.PredictResponse()
        _fill_model_spec(response.model_spec, ref.name, result.version, result.signature_name)
        for alias, value in result.outputs.items():
            _encode_tensor(response.outputs[alias], value)
        return response

    @_rpc("GetModelMetadata")
    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        # get_model_metadata_impl.cc validates the fields before it looks the model up
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        ref = _model_ref(request)
        version, signature_def_map = self.plane.metadata(ref, entrypoint=ENTRYPOINT)
        response = self._msgs.GetModelMetadataResponse()
        _fill_model_spec(response.model_spec, ref.name, version, None)
        packed = response.metadata[SIGNATURE_DEF_FIELD]
        packed.type_url = SIGNATURE_DEF_MAP_TYPE_URL
        packed.value = signature_def_map.SerializeToString()
        return response

    @_rpc("Classify")
    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:
        ref = _model_ref(request)
        signature_name = request.model_spec.signature_name or None
        version, results = self.plane.classify(
            ref, signature_name, _serialized_examples(request.input), entrypoint=ENTRYPOINT
        )
        response = self._msgs.ClassificationResponse()
        _fill_model_spec(response.model_spec, ref.name, version, signature_name or DEFAULT_SIGNATURE)
        for row in results:
            classifications = response.result.classifications.add()
            for label, score in row:
                classifications.classes.add(label=label, score=score)
        return response

    @_rpc("Regress")
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:
        ref = _model_ref(request)
        signature_name = request.model_spec.signature_name or None
        version, values = self.plane.regress(
            ref, signature_name, _serialized_examples(request.input), entrypoint=ENTRYPOINT
        )
        response = self._msgs.RegressionResponse()
        _fill_model_spec(response.model_spec, ref.name, version, signature_name or DEFAULT_SIGNATURE)
        for value in values:
            response.result.regressions.add(value=value)
        return response

    @_rpc("MultiInference")
    def MultiInference(self, request: bytes, context: grpc.ServicerContext) -> Any:
        raise unimplemented("MultiInference is not supported by this server")

    # -- ModelService ---------------------------------------------------------------------
    @_rpc("GetModelStatus")
    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        # as get_model_status_impl.cc: no name check here; an empty name is a model with no versions (NOT_FOUND)
        states = self.plane.status(
            ModelRef(name=spec.name, version=_spec_version(spec), label=spec.version_label or None)
        )
        response = self._msgs.GetModelStatusResponse()
        for state in states:
            entry = response.model_version_status.add(version=state.version, state=state.state)
            entry.status.error_code = int(state.error_code)
            entry.status.error_message = state.error_message
        return response

    @_rpc("HandleReloadConfigRequest")
    def HandleReloadConfigRequest(self, request: bytes, context: grpc.ServicerContext) -> Any:
        raise unimplemented(
            "HandleReloadConfigRequest is not supported by this server; change the model config file instead"
        )


# -- request parsing ------------------------------------------------------------------------


def _spec_version(spec: Any) -> int | None:
    return int(spec.version.value) if spec.HasField("version") else None


def _model_ref(request: Any) -> ModelRef:
    """The model a request names (server_core.cc ServableRequestFromModelSpec's checks)."""
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    spec = request.model_spec
    if not spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    return ModelRef(name=spec.name, version=_spec_version(spec), label=spec.version_label or None)


def _dtype_name(dtype: int) -> str:
    """TensorFlow's DataTypeString: ``DT_FLOAT`` -> ``float``."""
    try:
        return DataType(dtype).name[3:].lower()
    except ValueError:
        return f"unknown dtype {dtype}"


def _decode_inputs(protos: Any, signature: SignatureInfo) -> dict[str, np.ndarray]:
    """Request TensorProtos -> numpy. A proto that does not parse is INVALID_ARGUMENT; when the request names
    exactly the signature's inputs, each dtype must be the signature's (gRPC clients send typed tensors, and
    TF Serving never casts them). Wrong or missing aliases are left to the core, which words them as TF Serving.
    """
    check_dtypes = set(protos.keys()) == set(signature.inputs)
    inputs: dict[str, np.ndarray] = {}
    for alias, proto in protos.items():
        try:
            inputs[alias] = tensor_proto_to_ndarray(proto)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise invalid_argument(f"tensor parsing error: {alias}: {exc}") from None
        if check_dtypes:
            want = signature.inputs[alias].dtype_enum
            if int(proto.dtype) != want:
                raise invalid_argument(
                    f"Expects arg[{alias}] to be {_dtype_name(want)} but {_dtype_name(proto.dtype)} is provided"
                )
    return inputs


def _serialized_examples(request_input: Any) -> list[bytes]:
    """``tensorflow.serving.Input`` -> serialized ``tf.Example``s, as util.cc InputToSerializedExampleTensor:
    with a context, each example is the context's bytes followed by the example's, which parses as the context
    merged with the example (the example's value wins for a feature both have)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        return [example.SerializeToString() for example in request_input.example_list.examples]
    if kind == "example_list_with_context":
        with_context = request_input.example_list_with_context
        context = with_context.context.SerializeToString()
        return [context + example.SerializeToString() for example in with_context.examples]
    return []  # the core answers "Input is empty."


# -- response building --------------------------------------------------------------------


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data


def _fill_model_spec(spec: Any, name: str, version: int, signature_name: str | None) -> None:
    spec.name = name
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name


def _encode_tensor(proto: Any, value: np.ndarray) -> None:
    """A numpy output into ``proto``: numeric tensors as ``tensor_content`` (little-endian, what TF's
    AsProtoTensorContent writes, for any size), strings as ``string_val``."""
    array = np.asarray(value)
    code = numpy_to_datatype(array.dtype)
    proto.dtype = int(code)
    proto.tensor_shape.SetInParent()
    for size in array.shape:
        proto.tensor_shape.dim.add(size=int(size))
    if code == DataType.DT_STRING:
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.ravel().tolist())
        return
    little = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    proto.tensor_content = np.ascontiguousarray(array, dtype=little).tobytes()
