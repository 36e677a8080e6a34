"""TensorFlow Serving's gRPC messages without TensorFlow.

``tensorflow-serving-api`` depends on the whole of TensorFlow, so the light client builds the handful of
messages it needs itself: the descriptors below are written in Python (``FileDescriptorProto`` objects),
added to a *private* :class:`~google.protobuf.descriptor_pool.DescriptorPool` and turned into classes with
:func:`google.protobuf.message_factory.GetMessageClass`. Full names, field numbers and field types are those
of TensorFlow 2.19 / TF Serving 2.19, so the bytes on the wire are the same; fields and messages the client
never uses are left out (their numbers stay free, and a parser keeps them as unknown fields). Because the
pool is private, these classes never clash with TensorFlow's own registrations in the default pool when
both are imported in one process -- but they are *different classes*: convert between the two with
``SerializeToString`` / ``FromString``.

Nothing is built at import time: :func:`messages` builds the pool on first call and caches it.

Reference schemas: ``tensorflow/core/framework/{types,tensor_shape,tensor}.proto``,
``tensorflow/core/protobuf/meta_graph.proto`` (TensorInfo, SignatureDef),
``tensorflow/core/example/{feature,example}.proto``, ``tensorflow/tsl/protobuf/error_codes.proto`` and
``tensorflow_serving/apis/{model,predict,get_model_metadata,get_model_status,status,input,classification,
regression,prediction_service,model_service}.proto``.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CLASSIFY_METHOD",
    "GET_MODEL_METADATA_METHOD",
    "GET_MODEL_STATUS_METHOD",
    "PREDICT_METHOD",
    "REGRESS_METHOD",
    "DataType",
    "ErrorCode",
    "Messages",
    "ModelStub",
    "ModelVersionState",
    "PredictionStub",
    "datatype_to_numpy",
    "messages",
    "model_stub",
    "ndarray_to_tensor_proto",
    "numpy_to_datatype",
    "prediction_stub",
    "tensor_proto_to_ndarray",
]

# --------------------------------------------------------------------------------------------------------------
# gRPC method paths (tensorflow_serving/apis/prediction_service.proto, model_service.proto)
# --------------------------------------------------------------------------------------------------------------

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
PREDICT_METHOD = f"/{PREDICTION_SERVICE}/Predict"
GET_MODEL_METADATA_METHOD = f"/{PREDICTION_SERVICE}/GetModelMetadata"
CLASSIFY_METHOD = f"/{PREDICTION_SERVICE}/Classify"
REGRESS_METHOD = f"/{PREDICTION_SERVICE}/Regress"
GET_MODEL_STATUS_METHOD = f"/{MODEL_SERVICE}/GetModelStatus"


# --------------------------------------------------------------------------------------------------------------
# Enums: plain Python IntEnums (usable without building anything), also the source of the enum descriptors
# --------------------------------------------------------------------------------------------------------------


class DataType(enum.IntEnum):
    """``tensorflow.DataType`` (tensorflow/core/framework/types.proto)."""

    DT_INVALID = 0
    DT_FLOAT = 1
    DT_DOUBLE = 2
    DT_INT32 = 3
    DT_UINT8 = 4
    DT_INT16 = 5
    DT_INT8 = 6
    DT_STRING = 7
    DT_COMPLEX64 = 8
    DT_INT64 = 9
    DT_BOOL = 10
    DT_QINT8 = 11
    DT_QUINT8 = 12
    DT_QINT32 = 13
    DT_BFLOAT16 = 14
    DT_QINT16 = 15
    DT_QUINT16 = 16
    DT_UINT16 = 17
    DT_COMPLEX128 = 18
    DT_HALF = 19
    DT_RESOURCE = 20
    DT_VARIANT = 21
    DT_UINT32 = 22
    DT_UINT64 = 23
    DT_FLOAT8_E5M2 = 24
    DT_FLOAT8_E4M3FN = 25
    DT_FLOAT8_E4M3FNUZ = 26
    DT_FLOAT8_E4M3B11FNUZ = 27
    DT_FLOAT8_E5M2FNUZ = 28
    DT_INT4 = 29
    DT_UINT4 = 30
    DT_FLOAT_REF = 101
    DT_DOUBLE_REF = 102
    DT_INT32_REF = 103
    DT_UINT8_REF = 104
    DT_INT16_REF = 105
    DT_INT8_REF = 106
    DT_STRING_REF = 107
    DT_COMPLEX64_REF = 108
    DT_INT64_REF = 109
    DT_BOOL_REF = 110
    DT_QINT8_REF = 111
    DT_QUINT8_REF = 112
    DT_QINT32_REF = 113
    DT_BFLOAT16_REF = 114
    DT_QINT16_REF = 115
    DT_QUINT16_REF = 116
    DT_UINT16_REF = 117
    DT_COMPLEX128_REF = 118
    DT_HALF_REF = 119
    DT_RESOURCE_REF = 120
    DT_VARIANT_REF = 121
    DT_UINT32_REF = 122
    DT_UINT64_REF = 123
    DT_FLOAT8_E5M2_REF = 124
    DT_FLOAT8_E4M3FN_REF = 125
    DT_FLOAT8_E4M3FNUZ_REF = 126
    DT_FLOAT8_E4M3B11FNUZ_REF = 127
    DT_FLOAT8_E5M2FNUZ_REF = 128
    DT_INT4_REF = 129
    DT_UINT4_REF = 130


class ErrorCode(enum.IntEnum):
    """``tensorflow.error.Code`` (tensorflow/tsl/protobuf/error_codes.proto), used by ``StatusProto``."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    UNAUTHENTICATED = 16
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    DO_NOT_USE_RESERVED_FOR_FUTURE_EXPANSION_USE_DEFAULT_IN_SWITCH_INSTEAD_ = 20


class ModelVersionState(enum.IntEnum):
    """``tensorflow.serving.ModelVersionStatus.State`` (get_model_status.proto)."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


# --------------------------------------------------------------------------------------------------------------
# Descriptor construction
# --------------------------------------------------------------------------------------------------------------

_SCALAR_TYPES = {
    "double": 1,  # FieldDescriptorProto.TYPE_DOUBLE
    "float": 2,
    "int64": 3,
    "uint64": 4,
    "int32": 5,
    "bool": 8,
    "string": 9,
    "bytes": 12,
    "uint32": 13,
}
_TYPE_MESSAGE = 11
_TYPE_ENUM = 14
_LABEL_OPTIONAL = 1
_LABEL_REPEATED = 3


@dataclass(frozen=True)
class _Field:
    """One field of a message under construction: ``kind`` is a scalar name, ``msg:.full.Name`` or
    ``enum:.full.Name``; ``oneof`` names the containing oneof; ``map_key`` makes it ``map<map_key, kind>``."""

    name: str
    number: int
    kind: str
    repeated: bool = False
    oneof: str | None = None
    map_key: str | None = None
    json_name: str | None = None


def _f(name: str, number: int, kind: str, **kw: Any) -> _Field:
    return _Field(name, number, kind, **kw)


def _map(name: str, number: int, key: str, value: str) -> _Field:
    return _Field(name, number, value, map_key=key)


def _set_type(fdp: Any, kind: str) -> None:
    if kind.startswith("msg:"):
        fdp.type = _TYPE_MESSAGE
        fdp.type_name = kind[4:]
    elif kind.startswith("enum:"):
        fdp.type = _TYPE_ENUM
        fdp.type_name = kind[5:]
    else:
        fdp.type = _SCALAR_TYPES[kind]


def _entry_name(field_name: str) -> str:
    """protoc's name for a map field's entry type: ``signature_def`` -> ``SignatureDefEntry``."""
    return "".join(part[:1].upper() + part[1:] for part in field_name.split("_")) + "Entry"


def _message(
    parent: Any,
    name: str,
    fields: Sequence[_Field],
    *,
    nested: Sequence[tuple[str, Sequence[_Field]]] = (),
    enums: Sequence[tuple[str, type[enum.IntEnum]]] = (),
    scope: str,
) -> None:
    """Append a ``DescriptorProto`` named ``name`` to ``parent`` (a file's ``message_type`` or a message's
    ``nested_type`` list); ``scope`` is the full name of the enclosing package/message, with a leading dot."""
    msg = parent.add(name=name)
    full = f"{scope}.{name}"
    oneofs: dict[str, int] = {}
    for field in fields:
        fdp = msg.field.add(name=field.name, number=field.number)
        if field.json_name is not None:
            fdp.json_name = field.json_name
        if field.map_key is not None:
            entry = msg.nested_type.add(name=_entry_name(field.name))
            entry.options.map_entry = True
            key = entry.field.add(name="key", number=1, label=_LABEL_OPTIONAL)
            _set_type(key, field.map_key)
            value = entry.field.add(name="value", number=2, label=_LABEL_OPTIONAL)
            _set_type(value, field.kind)
            fdp.label = _LABEL_REPEATED
            fdp.type = _TYPE_MESSAGE
            fdp.type_name = f"{full}.{entry.name}"
            continue
        fdp.label = _LABEL_REPEATED if field.repeated else _LABEL_OPTIONAL
        _set_type(fdp, field.kind)
        if field.oneof is not None:
            if field.oneof not in oneofs:
                oneofs[field.oneof] = len(msg.oneof_decl)
                msg.oneof_decl.add(name=field.oneof)
            fdp.oneof_index = oneofs[field.oneof]
    for nested_name, nested_fields in nested:
        _message(msg.nested_type, nested_name, nested_fields, scope=full)
    for enum_name, enum_cls in enums:
        _enum(msg.enum_type, enum_cls, name=enum_name)


def _enum(parent: Any, enum_cls: type[enum.IntEnum], name: str | None = None) -> None:
    edp = parent.add(name=name or enum_cls.__name__)
    for member in enum_cls:
        edp.value.add(name=member.name, number=int(member))


def _file(name: str, package: str, dependencies: Sequence[str]) -> Any:
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    fdp.dependency.extend(dependencies)
    return fdp


# File names live only in the private pool; they are ours (prefixed) so that nobody mistakes these partial
# schemas for TensorFlow's files. The wire format depends only on full names, numbers and types.
_CORE_FILE = "yolo_tfserving/protos/tensorflow_core.proto"
_ERROR_FILE = "yolo_tfserving/protos/tensorflow_error.proto"
_SERVING_FILE = "yolo_tfserving/protos/tensorflow_serving.proto"
_ANY_FILE = "google/protobuf/any.proto"
_WRAPPERS_FILE = "google/protobuf/wrappers.proto"


def _core_file() -> Any:
    """Package ``tensorflow``: types, tensor_shape, tensor, feature, example and part of meta_graph."""
    fdp = _file(_CORE_FILE, "tensorflow", [])
    _enum(fdp.enum_type, DataType)
    scope = ".tensorflow"
    tensor_shape = "msg:.tensorflow.TensorShapeProto"
    # tensorflow/core/framework/tensor_shape.proto
    _message(
        fdp.message_type,
        "TensorShapeProto",
        [_f("dim", 2, "msg:.tensorflow.TensorShapeProto.Dim", repeated=True), _f("unknown_rank", 3, "bool")],
        nested=[("Dim", [_f("size", 1, "int64"), _f("name", 2, "string")])],
        scope=scope,
    )
    # tensorflow/core/framework/tensor.proto (resource_handle_val = 14 and variant_val = 15 left out)
    _message(
        fdp.message_type,
        "TensorProto",
        [
            _f("dtype", 1, "enum:.tensorflow.DataType"),
            _f("tensor_shape", 2, tensor_shape),
            _f("version_number", 3, "int32"),
            _f("tensor_content", 4, "bytes"),
            _f("half_val", 13, "int32", repeated=True),
            _f("float_val", 5, "float", repeated=True),
            _f("double_val", 6, "double", repeated=True),
            _f("int_val", 7, "int32", repeated=True),
            _f("string_val", 8, "bytes", repeated=True),
            _f("scomplex_val", 9, "float", repeated=True),
            _f("int64_val", 10, "int64", repeated=True),
            _f("bool_val", 11, "bool", repeated=True),
            _f("dcomplex_val", 12, "double", repeated=True),
            _f("uint32_val", 16, "uint32", repeated=True),
            _f("uint64_val", 17, "uint64", repeated=True),
            _f("float8_val", 18, "bytes"),
        ],
        scope=scope,
    )
    # tensorflow/core/protobuf/meta_graph.proto (TensorInfo.composite_tensor = 5 left out)
    _message(
        fdp.message_type,
        "TensorInfo",
        [
            _f("name", 1, "string", oneof="encoding"),
            _f("coo_sparse", 4, "msg:.tensorflow.TensorInfo.CooSparse", oneof="encoding"),
            _f("dtype", 2, "enum:.tensorflow.DataType"),
            _f("tensor_shape", 3, tensor_shape),
        ],
        nested=[
            (
                "CooSparse",
                [
                    _f("values_tensor_name", 1, "string"),
                    _f("indices_tensor_name", 2, "string"),
                    _f("dense_shape_tensor_name", 3, "string"),
                ],
            )
        ],
        scope=scope,
    )
    _message(
        fdp.message_type,
        "SignatureDef",
        [
            _map("inputs", 1, "string", "msg:.tensorflow.TensorInfo"),
            _map("outputs", 2, "string", "msg:.tensorflow.TensorInfo"),
            _f("method_name", 3, "string"),
            _map("defaults", 4, "string", "msg:.tensorflow.TensorProto"),
        ],
        scope=scope,
    )
    # tensorflow/core/example/feature.proto
    _message(fdp.message_type, "BytesList", [_f("value", 1, "bytes", repeated=True)], scope=scope)
    _message(fdp.message_type, "FloatList", [_f("value", 1, "float", repeated=True)], scope=scope)
    _message(fdp.message_type, "Int64List", [_f("value", 1, "int64", repeated=True)], scope=scope)
    _message(
        fdp.message_type,
        "Feature",
        [
            _f("bytes_list", 1, "msg:.tensorflow.BytesList", oneof="kind"),
            _f("float_list", 2, "msg:.tensorflow.FloatList", oneof="kind"),
            _f("int64_list", 3, "msg:.tensorflow.Int64List", oneof="kind"),
        ],
        scope=scope,
    )
    _message(fdp.message_type, "Features", [_map("feature", 1, "string", "msg:.tensorflow.Feature")], scope=scope)
    _message(fdp.message_type, "FeatureList", [_f("feature", 1, "msg:.tensorflow.Feature", repeated=True)], scope=scope)
    _message(
        fdp.message_type,
        "FeatureLists",
        [_map("feature_list", 1, "string", "msg:.tensorflow.FeatureList")],
        scope=scope,
    )
    # tensorflow/core/example/example.proto
    _message(fdp.message_type, "Example", [_f("features", 1, "msg:.tensorflow.Features")], scope=scope)
    _message(
        fdp.message_type,
        "SequenceExample",
        [_f("context", 1, "msg:.tensorflow.Features"), _f("feature_lists", 2, "msg:.tensorflow.FeatureLists")],
        scope=scope,
    )
    return fdp


def _error_file() -> Any:
    """Package ``tensorflow.error``: the ``Code`` enum of error_codes.proto."""
    fdp = _file(_ERROR_FILE, "tensorflow.error", [])
    _enum(fdp.enum_type, ErrorCode, name="Code")
    return fdp


def _serving_file() -> Any:
    """Package ``tensorflow.serving``: model, predict, get_model_metadata, status, get_model_status, input,
    classification and regression."""
    fdp = _file(_SERVING_FILE, "tensorflow.serving", [_ANY_FILE, _WRAPPERS_FILE, _CORE_FILE, _ERROR_FILE])
    scope = ".tensorflow.serving"
    spec = "msg:.tensorflow.serving.ModelSpec"
    tensor = "msg:.tensorflow.TensorProto"
    msg = fdp.message_type
    # model.proto
    _message(
        msg,
        "ModelSpec",
        [
            _f("name", 1, "string"),
            _f("version", 2, "msg:.google.protobuf.Int64Value", oneof="version_choice"),
            _f("version_label", 4, "string", oneof="version_choice"),
            _f("signature_name", 3, "string"),
        ],
        scope=scope,
    )
    # predict.proto (predict_streamed_options = 5, client_id = 6, request_options = 7 left out)
    _message(
        msg,
        "PredictRequest",
        [
            _f("model_spec", 1, spec),
            _map("inputs", 2, "string", tensor),
            _f("output_filter", 3, "string", repeated=True),
        ],
        scope=scope,
    )
    _message(msg, "PredictResponse", [_f("model_spec", 2, spec), _map("outputs", 1, "string", tensor)], scope=scope)
    # get_model_metadata.proto
    _message(msg, "SignatureDefMap", [_map("signature_def", 1, "string", "msg:.tensorflow.SignatureDef")], scope=scope)
    _message(
        msg,
        "GetModelMetadataRequest",
        [_f("model_spec", 1, spec), _f("metadata_field", 2, "string", repeated=True)],
        scope=scope,
    )
    _message(
        msg,
        "GetModelMetadataResponse",
        [_f("model_spec", 1, spec), _map("metadata", 2, "string", "msg:.google.protobuf.Any")],
        scope=scope,
    )
    # status.proto
    _message(
        msg,
        "StatusProto",
        [_f("error_code", 1, "enum:.tensorflow.error.Code"), _f("error_message", 2, "string")],
        scope=scope,
    )
    # get_model_status.proto
    _message(msg, "GetModelStatusRequest", [_f("model_spec", 1, spec)], scope=scope)
    _message(
        msg,
        "ModelVersionStatus",
        [
            _f("version", 1, "int64"),
            _f("state", 2, "enum:.tensorflow.serving.ModelVersionStatus.State"),
            _f("status", 3, "msg:.tensorflow.serving.StatusProto"),
        ],
        enums=[("State", ModelVersionState)],
        scope=scope,
    )
    _message(
        msg,
        "GetModelStatusResponse",
        [
            _f(
                "model_version_status",
                1,
                "msg:.tensorflow.serving.ModelVersionStatus",
                repeated=True,
                json_name="model_version_status",
            )
        ],
        scope=scope,
    )
    # input.proto
    example = "msg:.tensorflow.Example"
    _message(msg, "ExampleList", [_f("examples", 1, example, repeated=True)], scope=scope)
    _message(
        msg,
        "ExampleListWithContext",
        [_f("examples", 1, example, repeated=True), _f("context", 2, example)],
        scope=scope,
    )
    _message(
        msg,
        "Input",
        [
            _f("example_list", 1, "msg:.tensorflow.serving.ExampleList", oneof="kind"),
            _f("example_list_with_context", 2, "msg:.tensorflow.serving.ExampleListWithContext", oneof="kind"),
        ],
        scope=scope,
    )
    # classification.proto
    _message(msg, "Class", [_f("label", 1, "string"), _f("score", 2, "float")], scope=scope)
    _message(msg, "Classifications", [_f("classes", 1, "msg:.tensorflow.serving.Class", repeated=True)], scope=scope)
    _message(
        msg,
        "ClassificationResult",
        [_f("classifications", 1, "msg:.tensorflow.serving.Classifications", repeated=True)],
        scope=scope,
    )
    _message(
        msg,
        "ClassificationRequest",
        [_f("model_spec", 1, spec), _f("input", 2, "msg:.tensorflow.serving.Input")],
        scope=scope,
    )
    _message(
        msg,
        "ClassificationResponse",
        [_f("model_spec", 2, spec), _f("result", 1, "msg:.tensorflow.serving.ClassificationResult")],
        scope=scope,
    )
    # regression.proto
    _message(msg, "Regression", [_f("value", 1, "float")], scope=scope)
    _message(
        msg,
        "RegressionResult",
        [_f("regressions", 1, "msg:.tensorflow.serving.Regression", repeated=True)],
        scope=scope,
    )
    _message(
        msg,
        "RegressionRequest",
        [_f("model_spec", 1, spec), _f("input", 2, "msg:.tensorflow.serving.Input")],
        scope=scope,
    )
    _message(
        msg,
        "RegressionResponse",
        [_f("model_spec", 2, spec), _f("result", 1, "msg:.tensorflow.serving.RegressionResult")],
        scope=scope,
    )
    return fdp


# --------------------------------------------------------------------------------------------------------------
# The message classes
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Messages:
    """The message classes, all from one private descriptor pool (mixing them with TensorFlow's own
    ``*_pb2`` classes in one message is a ``TypeError``: go through bytes instead).

    Attributes are typed ``Any`` because the classes are made at run time.
    """

    pool: Any
    # package tensorflow
    TensorProto: Any
    TensorShapeProto: Any
    TensorInfo: Any
    SignatureDef: Any
    Example: Any
    SequenceExample: Any
    Features: Any
    Feature: Any
    FeatureList: Any
    FeatureLists: Any
    BytesList: Any
    FloatList: Any
    Int64List: Any
    # package tensorflow.serving
    ModelSpec: Any
    PredictRequest: Any
    PredictResponse: Any
    SignatureDefMap: Any
    GetModelMetadataRequest: Any
    GetModelMetadataResponse: Any
    StatusProto: Any
    GetModelStatusRequest: Any
    GetModelStatusResponse: Any
    ModelVersionStatus: Any
    Input: Any
    ExampleList: Any
    ExampleListWithContext: Any
    Class: Any
    Classifications: Any
    ClassificationResult: Any
    ClassificationRequest: Any
    ClassificationResponse: Any
    Regression: Any
    RegressionResult: Any
    RegressionRequest: Any
    RegressionResponse: Any
    # well-known types, from the same pool
    AnyMessage: Any  # google.protobuf.Any
    Int64Value: Any  # google.protobuf.Int64Value


_PACKAGE_OF = {
    "TensorProto": "tensorflow",
    "TensorShapeProto": "tensorflow",
    "TensorInfo": "tensorflow",
    "SignatureDef": "tensorflow",
    "Example": "tensorflow",
    "SequenceExample": "tensorflow",
    "Features": "tensorflow",
    "Feature": "tensorflow",
    "FeatureList": "tensorflow",
    "FeatureLists": "tensorflow",
    "BytesList": "tensorflow",
    "FloatList": "tensorflow",
    "Int64List": "tensorflow",
    "AnyMessage": "google.protobuf",
    "Int64Value": "google.protobuf",
}
_PROTO_NAME = {"AnyMessage": "Any"}

_lock = threading.Lock()
_cached: Messages | None = None


def _build() -> Messages:
    from google.protobuf import any_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    for fdp in (_core_file(), _error_file(), _serving_file()):
        pool.AddSerializedFile(fdp.SerializeToString())
    classes: dict[str, Any] = {"pool": pool}
    for name in Messages.__dataclass_fields__:
        if name == "pool":
            continue
        full_name = f"{_PACKAGE_OF.get(name, 'tensorflow.serving')}.{_PROTO_NAME.get(name, name)}"
        classes[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
    return Messages(**classes)


def messages() -> Messages:
    """The message classes, built on first call (thread-safe) and cached for the life of the process."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                _cached = _build()
    return _cached


# --------------------------------------------------------------------------------------------------------------
# numpy <-> TensorProto
# --------------------------------------------------------------------------------------------------------------

# numpy dtype (little-endian) for each DataType with a numpy equivalent. bfloat16 has none in plain numpy:
# it is decoded to float32 (exactly) and cannot be encoded.
_NUMPY_OF: dict[int, np.dtype[Any]] = {
    DataType.DT_FLOAT: np.dtype("<f4"),
    DataType.DT_DOUBLE: np.dtype("<f8"),
    DataType.DT_HALF: np.dtype("<f2"),
    DataType.DT_INT8: np.dtype("i1"),
    DataType.DT_INT16: np.dtype("<i2"),
    DataType.DT_INT32: np.dtype("<i4"),
    DataType.DT_INT64: np.dtype("<i8"),
    DataType.DT_UINT8: np.dtype("u1"),
    DataType.DT_UINT16: np.dtype("<u2"),
    DataType.DT_UINT32: np.dtype("<u4"),
    DataType.DT_UINT64: np.dtype("<u8"),
    DataType.DT_BOOL: np.dtype("?"),
    DataType.DT_COMPLEX64: np.dtype("<c8"),
    DataType.DT_COMPLEX128: np.dtype("<c16"),
    DataType.DT_STRING: np.dtype(object),
}
_DATATYPE_OF: dict[tuple[str, int], DataType] = {
    (dt.kind, dt.itemsize): DataType(code) for code, dt in _NUMPY_OF.items() if code != DataType.DT_STRING
}

# The dtypes tf.make_tensor_proto writes to tensor_content (when the tensor has more than one element); the
# others (bool, complex, uint16, strings) go to their typed field. Mirroring it keeps our bytes identical to TF's.
_CONTENT_TYPES = frozenset(
    {
        DataType.DT_FLOAT,
        DataType.DT_DOUBLE,
        DataType.DT_HALF,
        DataType.DT_INT8,
        DataType.DT_INT16,
        DataType.DT_INT32,
        DataType.DT_INT64,
        DataType.DT_UINT8,
        DataType.DT_UINT32,
        DataType.DT_UINT64,
    }
)

# Which repeated field carries each dtype's values (tensor.proto).
_VAL_FIELD: dict[int, str] = {
    DataType.DT_FLOAT: "float_val",
    DataType.DT_DOUBLE: "double_val",
    DataType.DT_HALF: "half_val",
    DataType.DT_BFLOAT16: "half_val",
    DataType.DT_INT8: "int_val",
    DataType.DT_INT16: "int_val",
    DataType.DT_INT32: "int_val",
    DataType.DT_UINT8: "int_val",
    DataType.DT_UINT16: "int_val",
    DataType.DT_INT64: "int64_val",
    DataType.DT_UINT32: "uint32_val",
    DataType.DT_UINT64: "uint64_val",
    DataType.DT_BOOL: "bool_val",
    DataType.DT_COMPLEX64: "scomplex_val",
    DataType.DT_COMPLEX128: "dcomplex_val",
    DataType.DT_STRING: "string_val",
}

_MAX_CONTENT_BYTES = (1 << 31) - 1  # protobuf's 2 GiB message limit


def numpy_to_datatype(dtype: np.dtype[Any] | type[Any] | str) -> DataType:
    """The ``DataType`` for a numpy dtype; str/bytes/object arrays are ``DT_STRING``."""
    dt = np.dtype(dtype)
    if dt.kind in "OSU":
        return DataType.DT_STRING
    try:
        return _DATATYPE_OF[(dt.kind, dt.itemsize)]
    except KeyError:
        raise TypeError(f"numpy dtype {dt} has no TensorFlow DataType equivalent") from None


def datatype_to_numpy(dtype: int) -> np.dtype[Any]:
    """The numpy dtype for a ``DataType`` value (``DT_STRING`` -> object, holding ``bytes``; ``DT_BFLOAT16`` ->
    float32, which holds every bfloat16 exactly)."""
    if dtype == DataType.DT_BFLOAT16:
        return np.dtype(np.float32)
    try:
        return _NUMPY_OF[dtype]
    except KeyError:
        raise TypeError(f"unsupported tensor dtype {_dtype_name(dtype)}") from None


def _dtype_name(dtype: int) -> str:
    try:
        return DataType(dtype).name
    except ValueError:
        return str(dtype)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"string tensors hold bytes or str, not {type(value).__name__}")


def ndarray_to_tensor_proto(array: Any, *, use_tensor_content: bool = True) -> Any:
    """A ``tensorflow.TensorProto`` (our class) holding ``array``.

    With ``use_tensor_content`` (the default) the result is byte-for-byte what ``tf.make_tensor_proto`` gives
    for a numpy array: numeric tensors of more than one element go to ``tensor_content`` (little-endian raw
    bytes); single elements, bool, complex and uint16 tensors to their typed ``*_val`` field. Without it every value
    goes to its typed field (``float_val``, ``int_val``, ``half_val`` ...). Arrays of str/bytes/object always go
    to ``string_val`` (``str`` encoded as UTF-8).
    """
    arr = np.asarray(array)
    code = numpy_to_datatype(arr.dtype)
    proto = messages().TensorProto(dtype=int(code))
    shape = proto.tensor_shape
    shape.SetInParent()
    for size in arr.shape:
        shape.dim.add(size=int(size))
    if code == DataType.DT_STRING:
        proto.string_val.extend([_as_bytes(v) for v in arr.ravel().tolist()])
        return proto
    arr = arr.astype(_NUMPY_OF[code], copy=False)  # little-endian, whatever the input byte order
    if use_tensor_content and code in _CONTENT_TYPES and arr.size > 1:
        if arr.nbytes > _MAX_CONTENT_BYTES:
            raise ValueError(f"tensor of {arr.nbytes} bytes exceeds protobuf's 2 GiB message limit")
        proto.tensor_content = np.ascontiguousarray(arr).tobytes()
        return proto
    flat = arr.ravel()
    if code == DataType.DT_HALF:
        values: Any = flat.view(np.uint16).tolist()
    elif code in (DataType.DT_COMPLEX64, DataType.DT_COMPLEX128):
        values = np.stack([flat.real, flat.imag], axis=-1).ravel().tolist()
    else:
        values = flat.tolist()
    getattr(proto, _VAL_FIELD[code]).extend(values)
    return proto


def tensor_proto_to_ndarray(proto: Any) -> np.ndarray[Any, Any]:
    """A numpy array holding the values of a ``tensorflow.TensorProto`` -- ours or TensorFlow's class.

    Follows ``tf.make_ndarray``: ``tensor_content`` when set, else the typed field of the dtype (``int_val``
    for int8/int16/int32/uint8/uint16, ``half_val`` holding float16 bit patterns ...); a typed field shorter
    than the shape is filled out with its last value (so one value fills the whole shape), an empty one gives
    zeros (``b""`` for strings). Strings come back as an object array of ``bytes``. The array is a writable
    copy, independent of the message.
    """
    if proto.tensor_shape.unknown_rank:
        raise ValueError("tensor has unknown rank")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise ValueError(f"tensor has an unknown dimension: {shape}")
    count = math.prod(shape)
    code = int(proto.dtype)
    dtype = datatype_to_numpy(code)

    if code == DataType.DT_STRING:
        if proto.tensor_content:
            raise ValueError("DT_STRING tensors cannot be decoded from tensor_content")
        strings = list(proto.string_val)
        out = np.empty(count, dtype=object)
        if strings:
            if len(strings) > count:
                raise ValueError(f"tensor holds {len(strings)} strings for shape {shape}")
            out[: len(strings)] = strings
            out[len(strings) :] = strings[-1]
        else:
            out[:] = b""
        return out.reshape(shape)

    if proto.tensor_content:
        content = proto.tensor_content
        wire = np.dtype("<u2") if code == DataType.DT_BFLOAT16 else dtype
        if len(content) != count * wire.itemsize:
            raise ValueError(
                f"tensor_content holds {len(content)} bytes; shape {shape} of {_dtype_name(code)} needs "
                f"{count * wire.itemsize}"
            )
        values = np.frombuffer(content, dtype=wire)
        if code == DataType.DT_BFLOAT16:
            return _bfloat16_bits_to_float32(values).reshape(shape)
        return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape)

    field = getattr(proto, _VAL_FIELD[code])
    if code in (DataType.DT_HALF, DataType.DT_BFLOAT16):
        bits = np.fromiter(field, dtype=np.uint16, count=len(field))
        values = _bfloat16_bits_to_float32(bits) if code == DataType.DT_BFLOAT16 else bits.view(np.float16)
    elif code in (DataType.DT_COMPLEX64, DataType.DT_COMPLEX128):
        native = dtype.newbyteorder("=")
        pairs = np.fromiter(field, dtype=np.dtype(f"f{native.itemsize // 2}"), count=len(field))
        if pairs.size % 2:
            raise ValueError("complex tensor has an odd number of real/imaginary parts")
        values = pairs.view(native)  # interleaved (real, imag) pairs are exactly numpy's complex layout
    else:
        values = np.fromiter(field, dtype=dtype.newbyteorder("="), count=len(field))
    if values.size == 0:
        return np.zeros(shape, dtype=values.dtype)
    if values.size > count:
        raise ValueError(f"tensor holds {values.size} values for shape {shape}")
    if values.size < count:
        values = np.concatenate([values, np.full(count - values.size, values[-1], dtype=values.dtype)])
    return values.reshape(shape)


def _bfloat16_bits_to_float32(bits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return (bits.astype(np.uint32) << 16).view(np.float32)


# --------------------------------------------------------------------------------------------------------------
# gRPC stubs
# --------------------------------------------------------------------------------------------------------------


class PredictionStub:
    """``tensorflow.serving.PredictionService`` on a ``grpc.Channel``: ``Predict``, ``GetModelMetadata``,
    ``Classify`` and ``Regress``, each a ``grpc.UnaryUnaryMultiCallable`` taking and returning our messages."""

    def __init__(self, channel: Any) -> None:
        m = messages()
        self.Predict = _unary(channel, PREDICT_METHOD, m.PredictResponse)
        self.GetModelMetadata = _unary(channel, GET_MODEL_METADATA_METHOD, m.GetModelMetadataResponse)
        self.Classify = _unary(channel, CLASSIFY_METHOD, m.ClassificationResponse)
        self.Regress = _unary(channel, REGRESS_METHOD, m.RegressionResponse)


class ModelStub:
    """``tensorflow.serving.ModelService`` on a ``grpc.Channel``: ``GetModelStatus``."""

    def __init__(self, channel: Any) -> None:
        self.GetModelStatus = _unary(channel, GET_MODEL_STATUS_METHOD, messages().GetModelStatusResponse)


def _unary(channel: Any, path: str, response_cls: Any) -> Any:
    return channel.unary_unary(
        path,
        request_serializer=_serialize,
        response_deserializer=response_cls.FromString,
    )


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data


def prediction_stub(channel: Any) -> PredictionStub:
    """A ``PredictionService`` stub on ``channel`` (a ``grpc.Channel``; this module never imports grpc)."""
    return PredictionStub(channel)


def model_stub(channel: Any) -> ModelStub:
    """A ``ModelService`` stub on ``channel`` (a ``grpc.Channel``; this module never imports grpc)."""
    return ModelStub(channel)
