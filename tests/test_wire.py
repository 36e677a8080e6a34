"""Our wire schema (yolo_tfserving._wire, compiled from our own .proto files) against TensorFlow's own.

Wire compatibility is checked three ways: descriptor by descriptor (every message we define that TensorFlow
2.19 / TF Serving 2.19 ship has the same fields -- numbers, names, types, labels, oneofs, maps, referenced
types and enum values -- both ways, with only the documented omissions), byte for byte (the same message built
with both class sets serializes identically) and by round trips in both directions. The numpy codec is checked
against tf.make_tensor_proto / tf.make_ndarray / tf.io.serialize_tensor, the stubs against a real gRPC server
that speaks TF Serving's own classes, and the import against a process where TensorFlow and PyTorch cannot be
imported.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import mmap
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format

from yolo_tfserving._wire import (
    _pool,
    formats,
    health_pb2,
    profiler_pb2,
    services,
    serving_apis_pb2,
    serving_config_pb2,
    serving_service_pb2,
    tensors,
    tf_core_pb2,
    tf_error_pb2,
    tf_example_pb2,
)
from yolo_tfserving._wire.enums import DataType, ErrorCode, ModelVersionState, ServingStatus
from yolo_tfserving._wire.messages import messages
from yolo_tfserving._wire.services import (
    CLASSIFY_METHOD,
    GET_MODEL_METADATA_METHOD,
    GET_MODEL_STATUS_METHOD,
    HANDLE_RELOAD_CONFIG_METHOD,
    MULTI_INFERENCE_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    model_stub,
    prediction_stub,
)
from yolo_tfserving._wire.tensors import ENCODINGS, ndarray_to_tensor_proto, tensor_proto_to_ndarray

SRC = Path(__file__).resolve().parent.parent / "src"
MODULES: list[ModuleType] = [
    tf_core_pb2,
    tf_example_pb2,
    tf_error_pb2,
    serving_apis_pb2,
    serving_config_pb2,
    serving_service_pb2,
    profiler_pb2,
    health_pb2,
]


def _our_messages() -> dict[str, Any]:
    """Every top-level message class of ours by full name."""
    out = {}
    for module in MODULES:
        for name in module.DESCRIPTOR.message_types_by_name:
            cls = getattr(module, name)
            out[cls.DESCRIPTOR.full_name] = cls
    return out


OURS = _our_messages()


# --------------------------------------------------------------------------------------------------------------
# TensorFlow's descriptors (only where installed)
# --------------------------------------------------------------------------------------------------------------

# Modules of tensorflow / tensorflow-serving-api whose files hold messages we define (prediction_service_pb2
# and model_service_pb2 are not imported: the generated files in tensorflow-serving-api 2.19 do not load under
# protobuf 4.25's upb backend; their service descriptors are read from the files' source instead).
TF_MODULES = [
    "tensorflow.core.framework.types_pb2",
    "tensorflow.core.framework.tensor_pb2",
    "tensorflow.core.framework.tensor_shape_pb2",
    "tensorflow.core.framework.resource_handle_pb2",
    "tensorflow.core.protobuf.struct_pb2",
    "tensorflow.core.protobuf.meta_graph_pb2",
    "tensorflow.core.protobuf.error_codes_pb2",
    "tensorflow.core.example.feature_pb2",
    "tensorflow.core.example.example_pb2",
    "tensorflow.tsl.profiler.protobuf.profiler_options_pb2",
]
SERVING_MODULES = [
    f"tensorflow_serving.apis.{name}_pb2"
    for name in (
        "model",
        "predict",
        "get_model_metadata",
        "get_model_status",
        "status",
        "input",
        "classification",
        "regression",
        "inference",
        "model_management",
        "logging",
        "prediction_log",
    )
] + [
    f"tensorflow_serving.config.{name}_pb2"
    for name in ("model_server_config", "file_system_storage_path_source", "logging_config", "log_collector_config")
]
# Files of the TF wheel with no Python module: their descriptors are embedded in libtensorflow_cc.
TF_EMBEDDED_FILES = (
    "tsl/profiler/protobuf/profiler_service_monitor_result.proto",
    "tsl/profiler/protobuf/profiler_service.proto",
)


@pytest.fixture(scope="module")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def real(tf: Any) -> SimpleNamespace:  # noqa: ARG001 - after `tf`: skipped without TensorFlow
    """TensorFlow / TF Serving message classes by short name."""
    pytest.importorskip("tensorflow_serving")
    ns = SimpleNamespace()
    for module_name in TF_MODULES + SERVING_MODULES:
        module = importlib.import_module(module_name)
        for name in module.DESCRIPTOR.message_types_by_name:
            setattr(ns, name, getattr(module, name))
    return ns


@pytest.fixture(scope="module")
def tf_pool(real: SimpleNamespace) -> descriptor_pool.DescriptorPool:  # noqa: ARG001 - `real` fills the pool
    """The default pool with TensorFlow's files loaded (``real`` imported them)."""
    return descriptor_pool.Default()


def _embedded_file_descriptors(library: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """Serialized FileDescriptorProtos that a C++ protobuf library embeds (found by their file name)."""
    found: dict[str, bytes] = {}
    with library.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for name in names:
            key = name.encode()
            start = 0
            while name not in found:
                at = data.find(key, start)
                if at < 0:
                    break
                start = at + 1
                if data[at - 2] != 0x0A or data[at - 1] != len(key):  # field 1 (name), length-delimited
                    continue
                blob = _message_extent(data, at - 2)
                fdp = descriptor_pb2.FileDescriptorProto()
                try:
                    fdp.ParseFromString(blob)
                except Exception:
                    continue
                if fdp.name == name and fdp.message_type:
                    found[name] = blob
    return found


def _message_extent(data: Any, start: int) -> bytes:
    """The longest run of well-formed FileDescriptorProto fields (numbers 1-14, varint or bytes) at ``start``."""
    pos = start

    def varint(p: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[p]
            p += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, p
            shift += 7

    while pos < len(data):
        key, after = varint(pos)
        field, wire = key >> 3, key & 7
        if not 1 <= field <= 14 or wire not in (0, 2):
            break
        if wire == 0:
            _, after = varint(after)
        else:
            length, after = varint(after)
            after += length
        if after > len(data):
            break
        pos = after
    return bytes(data[start:pos])


@pytest.fixture(scope="module")
def profiler_pool(tf: Any) -> descriptor_pool.DescriptorPool:  # noqa: ARG001 - skipped without TensorFlow
    """TensorFlow's profiler service files in a pool of their own (they have no Python module in the wheel)."""
    spec = importlib.util.find_spec("tensorflow")
    assert spec is not None and spec.origin is not None
    library = Path(spec.origin).parent / "libtensorflow_cc.so.2"
    if not library.is_file():
        pytest.skip("libtensorflow_cc.so.2 not found")
    found = _embedded_file_descriptors(library, TF_EMBEDDED_FILES)
    if len(found) != len(TF_EMBEDDED_FILES):
        pytest.skip(f"profiler descriptors not found in {library.name}: {sorted(found)}")
    from tensorflow.tsl.profiler.protobuf import profiler_options_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(profiler_options_pb2.DESCRIPTOR.serialized_pb)
    for name in TF_EMBEDDED_FILES:
        pool.AddSerializedFile(found[name])
    return pool


def _serving_file_from_source(module: str) -> descriptor_pb2.FileDescriptorProto:
    """A tensorflow-serving-api generated file's FileDescriptorProto, read from its source (not imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        pytest.skip(f"{module} not installed")
    tree = ast.parse(Path(spec.origin).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "serialized_pb":
            value = node.value
            if isinstance(value, ast.Call):  # _b('...')
                value = value.args[0]
            assert isinstance(value, ast.Constant)
            data = value.value.encode("latin1") if isinstance(value.value, str) else value.value
            return descriptor_pb2.FileDescriptorProto.FromString(data)
    raise AssertionError(f"no serialized_pb in {spec.origin}")


# --------------------------------------------------------------------------------------------------------------
# Descriptors
# --------------------------------------------------------------------------------------------------------------

# What we leave out of messages TensorFlow has (documented in the .proto files).
LEFT_OUT_FIELDS = {"tensorflow.serving.PredictionLog": ["session_run_log"]}


def _type_full_name(field: Any) -> str | None:
    if field.message_type is not None:
        return str(field.message_type.full_name)
    if field.enum_type is not None:
        return str(field.enum_type.full_name)
    return None


def _assert_same_message(ours: Any, theirs: Any, seen: set[str]) -> None:
    """Field by field both ways, nested and referenced messages and enums too."""
    if ours.full_name in seen:
        return
    seen.add(ours.full_name)
    assert ours.full_name == theirs.full_name
    left_out = LEFT_OUT_FIELDS.get(ours.full_name, [])
    assert sorted(f.name for f in theirs.fields if f.number not in ours.fields_by_number) == left_out
    for field in ours.fields:
        other = theirs.fields_by_number.get(field.number)
        where = f"{ours.full_name}.{field.name}"
        assert other is not None, f"{where}: TF has no field number {field.number}"
        assert field.name == other.name, where
        assert field.type == other.type, where
        assert field.label == other.label, where
        assert field.json_name == other.json_name, where
        assert _type_full_name(field) == _type_full_name(other), where
        assert (field.containing_oneof and field.containing_oneof.name) == (
            other.containing_oneof and other.containing_oneof.name
        ), where
        assert field.has_presence == other.has_presence, where
        assert field.GetOptions().deprecated == other.GetOptions().deprecated, where
        if field.message_type is not None:
            assert field.message_type.GetOptions().map_entry == other.message_type.GetOptions().map_entry, where
            if not field.message_type.full_name.startswith("google.protobuf."):
                _assert_same_message(field.message_type, other.message_type, seen)
        if field.enum_type is not None:
            _assert_same_enum(field.enum_type, other.enum_type)
    assert sorted(ours.nested_types_by_name) == sorted(theirs.nested_types_by_name), ours.full_name
    for name, nested in ours.nested_types_by_name.items():
        _assert_same_message(nested, theirs.nested_types_by_name[name], seen)
    assert sorted(ours.enum_types_by_name) == sorted(theirs.enum_types_by_name), ours.full_name
    for name, enum in ours.enum_types_by_name.items():
        _assert_same_enum(enum, theirs.enum_types_by_name[name])


def _assert_same_enum(ours: Any, theirs: Any) -> None:
    assert ours.full_name == theirs.full_name
    assert [(v.name, v.number) for v in ours.values] == [(v.name, v.number) for v in theirs.values], ours.full_name
    assert [v.GetOptions().deprecated for v in ours.values] == [v.GetOptions().deprecated for v in theirs.values]


def _find_message(pool: Any, full_name: str) -> Any:
    try:
        return pool.FindMessageTypeByName(full_name)
    except KeyError:
        return None


# Our messages that no installed TensorFlow / tensorflow-serving-api module defines (TF Serving's own files
# for them are not in the wheel; the health service is gRPC's).
NOT_IN_INSTALLED_PACKAGES = {
    "tensorflow.serving.MonitoringConfig",
    "tensorflow.serving.PrometheusConfig",
    "tensorflow.serving.SSLConfig",
    "tensorflow.serving.PlatformConfig",
    "tensorflow.serving.PlatformConfigMap",
    "tensorflow.serving.ModelWarmupOptions",
    "tensorflow.serving.BatchingParameters",
    "grpc.health.v1.HealthCheckRequest",
    "grpc.health.v1.HealthCheckResponse",
}
PROFILER_SERVICE_MESSAGES = {
    "tensorflow.ToolRequestOptions",
    "tensorflow.ProfileRequest",
    "tensorflow.ProfileToolData",
    "tensorflow.ProfileResponse",
    "tensorflow.TerminateRequest",
    "tensorflow.TerminateResponse",
    "tensorflow.MonitorRequest",
    "tensorflow.MonitorResponse",
    "tensorflow.ProfilerServiceMonitorResult",
}


@pytest.mark.parametrize("full_name", sorted(set(OURS) - NOT_IN_INSTALLED_PACKAGES - PROFILER_SERVICE_MESSAGES))
def test_descriptor_matches_tensorflow(tf_pool: Any, full_name: str) -> None:
    theirs = _find_message(tf_pool, full_name)
    assert theirs is not None, f"{full_name} is not in TensorFlow's or TF Serving's packages"
    _assert_same_message(OURS[full_name].DESCRIPTOR, theirs, set())


@pytest.mark.parametrize("full_name", sorted(PROFILER_SERVICE_MESSAGES))
def test_profiler_descriptor_matches_tensorflow(profiler_pool: Any, full_name: str) -> None:
    _assert_same_message(OURS[full_name].DESCRIPTOR, profiler_pool.FindMessageTypeByName(full_name), set())


def test_health_descriptor_matches_grpc() -> None:
    health = pytest.importorskip("grpc_health.v1.health_pb2")
    for name in ("HealthCheckRequest", "HealthCheckResponse"):
        _assert_same_message(getattr(health_pb2, name).DESCRIPTOR, getattr(health, name).DESCRIPTOR, set())


@pytest.mark.usefixtures("tf_pool")
def test_every_installed_message_of_our_files_is_ours() -> None:
    """The other direction: each message of the TF files we mirror is defined by us (or documented as left out)."""
    left_out = {
        "tensorflow.serving.SessionRunLog",  # PredictionLog.session_run_log: TF's RunOptions / RunMetadata
        "tensorflow.serving.SessionRunRequest",
        "tensorflow.serving.SessionRunResponse",
    }
    files = [importlib.import_module(m).DESCRIPTOR for m in TF_MODULES[:-1] + SERVING_MODULES]
    meta_graph = "tensorflow/core/protobuf/meta_graph.proto"  # only TensorInfo and SignatureDef are ours
    theirs = {
        message.full_name
        for file in files
        if file.name != meta_graph
        for message in file.message_types_by_name.values()
    }
    assert theirs - set(OURS) <= left_out
    assert {"tensorflow.TensorInfo", "tensorflow.SignatureDef"} <= set(OURS)


def _service(fdp: descriptor_pb2.FileDescriptorProto, name: str) -> list[tuple[str, str, str, bool, bool]]:
    (service,) = [s for s in fdp.service if s.name == name]
    return [
        (m.name, m.input_type.lstrip("."), m.output_type.lstrip("."), m.client_streaming, m.server_streaming)
        for m in service.method
    ]


def _our_service(module: ModuleType, name: str) -> list[tuple[str, str, str, bool, bool]]:
    fdp = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(fdp)
    fdp.package = ""  # CopyToProto keeps full type names; compare without leading dots
    return _service(fdp, name)


@pytest.mark.usefixtures("real")
def test_serving_services_match_tf_serving() -> None:
    prediction = _serving_file_from_source("tensorflow_serving.apis.prediction_service_pb2")
    model = _serving_file_from_source("tensorflow_serving.apis.model_service_pb2")
    assert _our_service(serving_service_pb2, "PredictionService") == _service(prediction, "PredictionService")
    assert _our_service(serving_service_pb2, "ModelService") == _service(model, "ModelService")


def test_profiler_service_matches_tensorflow(profiler_pool: Any) -> None:
    fdp = descriptor_pb2.FileDescriptorProto()
    profiler_pool.FindFileByName(TF_EMBEDDED_FILES[1]).CopyToProto(fdp)
    assert _our_service(profiler_pb2, "ProfilerService") == _service(fdp, "ProfilerService")


def test_health_service() -> None:
    assert _our_service(health_pb2, "Health") == [
        ("Check", "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse", False, False),
        ("Watch", "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse", False, True),
    ]


def test_enums_match_tensorflow(real: SimpleNamespace) -> None:
    data_type = real.TensorProto.DESCRIPTOR.fields_by_name["dtype"].enum_type
    assert {v.name: v.number for v in data_type.values} == {e.name: int(e) for e in DataType}
    code = real.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type
    assert code.full_name == "tensorflow.error.Code"
    assert {v.name: v.number for v in code.values} == {e.name: int(e) for e in ErrorCode}
    state = real.ModelVersionStatus.DESCRIPTOR.enum_types_by_name["State"]
    assert {v.name: v.number for v in state.values} == {e.name: int(e) for e in ModelVersionState}
    assert DataType.DT_HALF == 19 and DataType.DT_UINT64 == 23


def test_python_enums_are_the_generated_ones() -> None:
    assert dict(tf_core_pb2.DataType.items()) == {e.name: int(e) for e in DataType}
    assert dict(tf_error_pb2.Code.items()) == {e.name: int(e) for e in ErrorCode}
    assert dict(serving_apis_pb2.ModelVersionStatus.State.items()) == {e.name: int(e) for e in ModelVersionState}
    assert dict(health_pb2.HealthCheckResponse.ServingStatus.items()) == {e.name: int(e) for e in ServingStatus}


def test_service_paths_are_the_descriptors() -> None:
    paths = {
        f"/{service.full_name}/{method.name}"
        for module in (serving_service_pb2, profiler_pb2, health_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    ours = {value for name, value in vars(services).items() if name.endswith("_METHOD")}
    assert ours == paths
    assert services.PREDICTION_SERVICE == serving_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name
    assert services.PROFILER_SERVICE == profiler_pb2.DESCRIPTOR.services_by_name["ProfilerService"].full_name
    assert services.HEALTH_SERVICE == health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


# --------------------------------------------------------------------------------------------------------------
# The private pool
# --------------------------------------------------------------------------------------------------------------


def test_private_pool() -> None:
    assert _pool.POOL is not descriptor_pool.Default()
    for cls in OURS.values():
        assert cls.DESCRIPTOR.file.pool is _pool.POOL
        assert cls.DESCRIPTOR.file.name.startswith("yolo_tfserving/_wire/")
        with pytest.raises(KeyError):
            descriptor_pool.Default().FindFileByName(cls.DESCRIPTOR.file.name)
    assert messages().TensorProto is tf_core_pb2.TensorProto
    assert messages().AnyMessage is type(serving_apis_pb2.GetModelMetadataResponse().metadata["x"])


def test_message_classes_and_enums() -> None:
    request = serving_apis_pb2.PredictRequest(output_filter=["a"])
    request.model_spec.version.value = 3
    request.request_options.deterministic_mode = serving_apis_pb2.PredictRequest.RequestOptions.FIXED_DECODER_SLOT
    assert request.HasField("request_options") and not request.HasField("client_id")
    assert serving_apis_pb2.PredictRequest.FromString(request.SerializeToString()) == request
    assert tf_core_pb2.DT_FLOAT == DataType.DT_FLOAT and tf_core_pb2.DataType.Name(19) == "DT_HALF"
    assert serving_config_pb2.ModelType.Value("TENSORFLOW") == 1
    assert health_pb2.HealthCheckResponse.SERVING == ServingStatus.SERVING


def test_any_pack_unpack_and_json_with_the_pool() -> None:
    signature_map = text_format.Parse(TEXT["SignatureDefMap"], serving_apis_pb2.SignatureDefMap())
    response = serving_apis_pb2.GetModelMetadataResponse()
    response.metadata["signature_def"].Pack(signature_map)
    as_json = formats.message_to_json(response)
    assert '"@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap"' in as_json
    back = formats.parse_json(as_json, serving_apis_pb2.GetModelMetadataResponse())
    assert back == response
    unpacked = serving_apis_pb2.SignatureDefMap()
    assert back.metadata["signature_def"].Unpack(unpacked) and unpacked == signature_map
    as_dict = formats.message_to_dict(response, preserving_proto_field_name=True)
    assert formats.parse_dict(as_dict, serving_apis_pb2.GetModelMetadataResponse()) == response
    # text format expands an Any of our pool's types
    text = formats.message_to_text(response)
    assert "[type.googleapis.com/tensorflow.serving.SignatureDefMap]" in text
    assert formats.parse_text(text, serving_apis_pb2.GetModelMetadataResponse()) == response


def test_status_json_names() -> None:
    """TF Serving's JSON names for the status messages are the field names (json_name), not camelCase."""
    response = serving_apis_pb2.GetModelStatusResponse()
    entry = response.model_version_status.add(version=1, state=serving_apis_pb2.ModelVersionStatus.AVAILABLE)
    entry.status.error_message = "x"
    assert formats.message_to_dict(response) == {
        "model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_message": "x"}}]
    }


def test_text_format_refuses_unknown_fields() -> None:
    text = "model_config_list { config { name: 'a' colour: 1 } }"
    with pytest.raises(text_format.ParseError):
        formats.parse_text(text, serving_config_pb2.ModelServerConfig())


def test_coexists_with_tensorflow_in_one_process(real: SimpleNamespace) -> None:
    # both are loaded now; each side still builds and parses its own messages
    ours = tf_core_pb2.TensorProto(dtype=tf_core_pb2.DT_FLOAT, float_val=[1.0])
    theirs = real.TensorProto(dtype=1, float_val=[1.0])
    assert type(ours) is not type(theirs)
    assert ours.SerializeToString() == theirs.SerializeToString()
    assert descriptor_pool.Default().FindMessageTypeByName("tensorflow.TensorProto") is theirs.DESCRIPTOR
    default = descriptor_pool.Default()
    assert default.FindMessageTypeByName("tensorflow.serving.PredictLog") is real.PredictLog.DESCRIPTOR


# --------------------------------------------------------------------------------------------------------------
# Messages over the wire, both directions
# --------------------------------------------------------------------------------------------------------------

TEXT: dict[str, str] = {
    "TensorProto": """
        dtype: DT_HALF tensor_shape { dim { size: 2 name: "n" } dim { size: 1 } } version_number: 1
        half_val: [15360, 16384] float_val: [1.5, -2] double_val: [3.25] int_val: [-7, 300] string_val: ["a\\001"]
        scomplex_val: [1, 2] int64_val: [-9000000000] bool_val: [true, false] dcomplex_val: [0.5, -0.5]
        uint32_val: [4000000000] uint64_val: [18000000000000000000] tensor_content: "\\000\\001\\002"
        float8_val: "\\377"
        resource_handle_val { device: "/cpu:0" container: "c" name: "v" hash_code: 7 maybe_type_name: "t"
                              dtypes_and_shapes { dtype: DT_FLOAT shape { dim { size: 3 } } } }
        variant_val { type_name: "list" metadata: "m" tensors { dtype: DT_INT32 int_val: 4 } }
    """,
    "TensorShapeProto": 'dim { size: -1 } dim { size: 640 name: "h" } unknown_rank: false',
    "SerializedDType": "datatype: DT_BFLOAT16",
    "ModelSpec": 'name: "yolo" version { value: 7 } signature_name: "serving_default"',
    "PredictRequest": """
        model_spec { name: "yolo" version_label: "stable" signature_name: "serving_default" }
        inputs { key: "images" value { dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: 0.25 } }
        inputs { key: "score" value { dtype: DT_INT64 int64_val: 3 } }
        output_filter: "output_0" output_filter: "output_1"
        predict_streamed_options { request_state: SPLIT split_dimensions { key: "images" value: 0 }
                                   return_single_response: true }
        client_id: "c1"
        request_options { client_id: "" deterministic_mode: FIXED_DECODER_SLOT
                          return_additional_arrays_from_prefill: false return_stoptokens: [1, 2] }
    """,
    "PredictResponse": """
        model_spec { name: "yolo" version { value: 1 } signature_name: "serving_default" }
        outputs { key: "output_0"
                  value { dtype: DT_FLOAT tensor_shape { dim { size: 2 } } tensor_content: "abcdefgh" } }
    """,
    "TensorInfo": 'name: "x:0" dtype: DT_UINT8 tensor_shape { dim { size: -1 } dim { size: 3 } }',
    "SignatureDef": """
        inputs { key: "images" value { name: "serving_default_images:0" dtype: DT_FLOAT
                 tensor_shape { dim { size: -1 } dim { size: 640 } } } }
        outputs { key: "output_0" value { coo_sparse { values_tensor_name: "v" indices_tensor_name: "i"
                  dense_shape_tensor_name: "s" } dtype: DT_INT32 } }
        outputs { key: "ragged" value { composite_tensor {
                  type_spec { type_spec_class: RAGGED_TENSOR_SPEC type_spec_class_name: "RaggedTensorSpec"
                              num_flat_components: 2
                              type_state { tuple_value { values { tensor_shape_value { dim { size: -1 } } }
                                                         values { tensor_dtype_value: DT_FLOAT }
                                                         values { int64_value: -1 }
                                                         values { none_value { } } } } }
                  components { name: "a:0" dtype: DT_FLOAT } components { name: "a:1" dtype: DT_INT64 } } } }
        method_name: "tensorflow/serving/predict"
        defaults { key: "iou" value { dtype: DT_FLOAT float_val: 0.45 } }
    """,
    "StructuredValue": """
        dict_value { fields { key: "k" value { list_value { values { float64_value: 1.5 }
            values { string_value: "s" } values { bool_value: true }
            values { named_tuple_value { name: "nt" values { key: "a" value { int64_value: 3 } } } }
            values { tensor_spec_value { name: "t" shape { dim { size: 2 } } dtype: DT_INT32 } }
            values { bounded_tensor_spec_value { name: "b" dtype: DT_FLOAT minimum { dtype: DT_FLOAT float_val: 0 }
                                                 maximum { dtype: DT_FLOAT float_val: 1 } } }
            values { tensor_value { dtype: DT_INT8 int_val: -1 } } values { numpy_value { dtype: DT_BOOL } } } } } }
    """,
    "SignatureDefMap": """
        signature_def { key: "serving_default" value { method_name: "tensorflow/serving/predict"
            inputs { key: "images" value { name: "x:0" dtype: DT_FLOAT } } } }
    """,
    "GetModelMetadataRequest": 'model_spec { name: "yolo" } metadata_field: "signature_def"',
    "StatusProto": 'error_code: NOT_FOUND error_message: "no such model"',
    "GetModelStatusRequest": 'model_spec { name: "yolo" version { value: 2 } }',
    "ModelVersionStatus": "version: 1 state: AVAILABLE status { error_code: OK }",
    "GetModelStatusResponse": """
        model_version_status { version: 2 state: AVAILABLE status { } }
        model_version_status { version: 1 state: END status { error_code: UNAVAILABLE error_message: "gone" } }
    """,
    "Feature": "int64_list { value: [1, -2, 3] }",
    "Features": """
        feature { key: "b" value { bytes_list { value: ["x", "yz"] } } }
        feature { key: "f" value { float_list { value: [0.5, 1.5] } } }
        feature { key: "i" value { int64_list { value: [7] } } }
    """,
    "Example": 'features { feature { key: "f" value { float_list { value: [1, 2, 3] } } } }',
    "SequenceExample": """
        context { feature { key: "c" value { bytes_list { value: "ctx" } } } }
        feature_lists { feature_list { key: "l" value { feature { int64_list { value: 1 } } feature { } } } }
    """,
    "Input": """
        example_list_with_context {
            examples { features { feature { key: "x" value { float_list { value: [1, 2] } } } } }
            examples { }
            context { features { feature { key: "k" value { bytes_list { value: "v" } } } } }
        }
    """,
    "ExampleList": 'examples { features { feature { key: "x" value { int64_list { value: 5 } } } } }',
    "ClassificationRequest": """
        model_spec { name: "clf" signature_name: "classify" }
        input { example_list { examples { features { feature { key: "x" value { float_list { value: 1 } } } } } } }
    """,
    "ClassificationResponse": """
        model_spec { name: "clf" version { value: 3 } }
        result { classifications { classes { label: "cat" score: 0.75 } classes { label: "dog" score: 0.25 } } }
    """,
    "RegressionRequest": """
        model_spec { name: "reg" }
        input { example_list { examples { features { feature { key: "x" value { float_list { value: 2 } } } } } } }
    """,
    "RegressionResponse": 'model_spec { name: "reg" } result { regressions { value: 1.5 } regressions { value: -3 } }',
    "MultiInferenceRequest": """
        tasks { model_spec { name: "m" signature_name: "classify" } method_name: "tensorflow/serving/classify" }
        tasks { model_spec { name: "m" signature_name: "regress" } method_name: "tensorflow/serving/regress" }
        input { example_list { examples { features { feature { key: "x" value { float_list { value: 2 } } } } } } }
    """,
    "MultiInferenceResponse": """
        results { model_spec { name: "m" version { value: 1 } signature_name: "classify" }
                  classification_result { classifications { classes { label: "a" score: 1 } } } }
        results { model_spec { name: "m" } regression_result { regressions { value: 2 } } }
    """,
    "ReloadConfigRequest": """
        config { model_config_list { config { name: "a" base_path: "/models/a" model_platform: "tensorflow" } } }
        metric_names: "m"
    """,
    "ReloadConfigResponse": 'status { error_code: OK } metric { name: "m" int64_value_increase: 0 }',
    "PredictionLog": """
        log_metadata { model_spec { name: "m" } sampling_config { sampling_rate: 0.5 attributes: 3 }
                       saved_model_tags: "serve" timestamp_secs: 9 dc: "dc" request_origin: "o"
                       request_criticality: "c" safe_aggregation_privacy_key: 4 }
        predict_log { request { model_spec { name: "m" } inputs { key: "x" value { dtype: DT_STRING
                      string_val: "jpeg" } } } response { outputs { key: "y" value { dtype: DT_FLOAT } } } }
    """,
    "ModelServerConfig": """
        model_config_list {
          config {
            name: "yolo" base_path: "/models/yolo" model_type: TENSORFLOW model_platform: "tensorflow"
            model_version_policy { specific { versions: [1, 2] } }
            version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 }
            logging_config { log_collector_config { type: "file" filename_prefix: "/tmp/log" }
                             sampling_config { sampling_rate: 0.1 } }
          }
          config { name: "b" base_path: "/b" model_version_policy { latest { num_versions: 2 } } }
          config { name: "c" base_path: "/c" model_version_policy { all { } } }
        }
    """,
    "FileSystemStoragePathSourceConfig": """
        servables { servable_name: "s" base_path: "/s" servable_version_policy { latest { num_versions: 1 } } }
        file_system_poll_wait_seconds: 30 fail_if_zero_versions_at_startup: true
        servable_versions_always_present: true
    """,
    "ProfileOptions": """
        version: 1 device_type: GPU include_dataset_ops: true host_tracer_level: 2 device_tracer_level: 1
        python_tracer_level: 0 enable_hlo_proto: true start_timestamp_ns: 5 duration_ms: 1000
        repository_path: "/tmp/p" trace_options { host_traceme_filter_mask: 3 }
    """,
}
PROFILER_TEXT: dict[str, str] = {
    "ProfileRequest": """
        duration_ms: 2000 max_events: 10 tools: ["trace_viewer", "op_profile"]
        tool_options { key: "trace_viewer" value { output_formats: "json" save_to_repo: true } }
        opts { version: 1 duration_ms: 2000 host_tracer_level: 2 } repository_root: "/tmp/r"
        session_id: "s" host_name: "h"
    """,
    "ProfileResponse": 'tool_data { name: "t" data: "\\001" } empty_trace: true',
    "TerminateRequest": 'session_id: "s"',
    "MonitorRequest": "duration_ms: 100 monitoring_level: 2 timestamp: true",
    "MonitorResponse": 'data: "d" monitor_result { response_type: UTIL_IDLE device_idle_time_percent: 50 }',
}


def _ours_by_short_name(name: str) -> Any:
    (cls,) = [cls for full_name, cls in OURS.items() if full_name.rsplit(".", 1)[1] == name]
    return cls


@pytest.mark.parametrize("name", sorted(TEXT))
def test_wire_round_trip(real: SimpleNamespace, name: str) -> None:
    _assert_round_trip(_ours_by_short_name(name), getattr(real, name), TEXT[name])


@pytest.mark.parametrize("name", sorted(PROFILER_TEXT))
def test_profiler_wire_round_trip(profiler_pool: Any, name: str) -> None:
    from google.protobuf import message_factory

    theirs = message_factory.GetMessageClass(profiler_pool.FindMessageTypeByName(f"tensorflow.{name}"))
    _assert_round_trip(getattr(profiler_pb2, name), theirs, PROFILER_TEXT[name])


def _assert_round_trip(ours_cls: Any, theirs_cls: Any, text: str) -> None:
    ours = formats.parse_text(text, ours_cls())
    theirs = text_format.Parse(text, theirs_cls())
    ours_bytes = ours.SerializeToString(deterministic=True)
    their_bytes = theirs.SerializeToString(deterministic=True)
    assert ours_bytes
    assert ours_bytes == their_bytes
    # ours -> TF and TF -> ours
    from_ours = theirs_cls.FromString(ours_bytes)
    assert from_ours == theirs
    from_theirs = ours_cls.FromString(their_bytes)
    assert from_theirs == ours
    assert text_format.MessageToString(from_theirs) == text_format.MessageToString(from_ours)


def test_predict_request_fields_read_back_by_tensorflow(real: SimpleNamespace) -> None:
    m = messages()
    request = m.PredictRequest()
    request.model_spec.name = "yolov5n"
    request.model_spec.version.value = 12
    request.model_spec.signature_name = "serving_default"
    request.inputs["images"].CopyFrom(ndarray_to_tensor_proto(np.zeros((1, 640, 640, 3), np.float32)))
    request.output_filter.append("output_0")
    theirs = real.PredictRequest.FromString(request.SerializeToString())
    assert theirs.model_spec.name == "yolov5n"
    assert theirs.model_spec.WhichOneof("version_choice") == "version"
    assert theirs.model_spec.version.value == 12
    assert theirs.model_spec.signature_name == "serving_default"
    assert list(theirs.output_filter) == ["output_0"]
    assert theirs.inputs["images"].dtype == 1
    assert [d.size for d in theirs.inputs["images"].tensor_shape.dim] == [1, 640, 640, 3]
    assert len(theirs.inputs["images"].tensor_content) == 640 * 640 * 3 * 4

    # the other way: a response as TF Serving builds it
    response = real.PredictResponse()
    response.model_spec.name = "yolov5n"
    response.model_spec.version.value = 12
    out = np.random.default_rng(0).random((1, 100, 85), dtype=np.float32)
    from tensorflow import make_tensor_proto

    response.outputs["output_0"].CopyFrom(make_tensor_proto(out))
    ours = m.PredictResponse.FromString(response.SerializeToString())
    assert ours.model_spec.version.value == 12
    np.testing.assert_array_equal(tensor_proto_to_ndarray(ours.outputs["output_0"]), out)


def test_model_status_fields(real: SimpleNamespace) -> None:
    theirs = real.GetModelStatusResponse()
    status = theirs.model_version_status.add(version=4, state=30)
    status.status.error_code = 5
    status.status.error_message = "missing"
    ours = messages().GetModelStatusResponse.FromString(theirs.SerializeToString())
    (version,) = ours.model_version_status
    assert version.version == 4
    assert version.state == ModelVersionState.AVAILABLE == messages().ModelVersionStatus.AVAILABLE
    assert version.status.error_code == ErrorCode.NOT_FOUND
    assert version.status.error_message == "missing"


def test_metadata_any_both_ways(real: SimpleNamespace) -> None:
    m = messages()
    signature_map = text_format.Parse(TEXT["SignatureDefMap"], m.SignatureDefMap())
    response = m.GetModelMetadataResponse()
    response.model_spec.name = "yolo"
    response.model_spec.version.value = 1
    response.metadata["signature_def"].Pack(signature_map)
    assert response.metadata["signature_def"].type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"

    theirs = real.GetModelMetadataResponse.FromString(response.SerializeToString())
    unpacked = real.SignatureDefMap()
    assert theirs.metadata["signature_def"].Unpack(unpacked)
    signature = unpacked.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    assert signature.inputs["images"].name == "x:0"

    back = m.GetModelMetadataResponse.FromString(theirs.SerializeToString())
    ours_map = m.SignatureDefMap()
    assert back.metadata["signature_def"].Unpack(ours_map)
    assert ours_map == signature_map


def test_prediction_log_records_are_tf_servings(real: SimpleNamespace, tf: Any) -> None:
    """A warm-up record written with our classes is the one TF Serving's classes write, byte for byte."""
    x = np.zeros((1, 4, 4, 3), np.float32)
    ours = serving_apis_pb2.PredictionLog()
    ours.predict_log.request.model_spec.name = "m"
    tensors.write_tensor_proto(ours.predict_log.request.inputs["images"], x)
    request = real.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(x))
    theirs = real.PredictionLog(predict_log=real.PredictLog(request=request))
    assert ours.SerializeToString() == theirs.SerializeToString()
    # a session_run_log (left out of our schema) survives a parse as an unknown field
    with_session = real.PredictionLog.FromString(b"\x2a\x00")
    assert with_session.WhichOneof("log_type") == "session_run_log"
    parsed = serving_apis_pb2.PredictionLog.FromString(b"\x2a\x00")
    assert parsed.WhichOneof("log_type") is None and parsed.SerializeToString() == b"\x2a\x00"


def test_a_tf_serving_model_config_parses() -> None:
    config = formats.parse_text(TEXT["ModelServerConfig"], serving_config_pb2.ModelServerConfig())
    assert [c.name for c in config.model_config_list.config] == ["yolo", "b", "c"]
    assert dict(config.model_config_list.config[0].version_labels) == {"stable": 1, "canary": 2}
    monitoring = formats.parse_text(
        'prometheus_config { enable: true path: "/metrics" }', serving_config_pb2.MonitoringConfig()
    )
    assert monitoring.prometheus_config.enable
    batching = formats.parse_text(
        """max_batch_size { value: 32 } batch_timeout_micros { value: 1000 } max_enqueued_batches { value: 100 }
           num_batch_threads { value: 4 } thread_pool_name { value: "p" } enable_large_batch_splitting { value: true }
           max_execution_batch_size { value: 16 } allowed_batch_sizes: [8, 16, 32] pad_variable_length_inputs: true""",
        serving_config_pb2.BatchingParameters(),
    )
    assert batching.max_batch_size.value == 32 and list(batching.allowed_batch_sizes) == [8, 16, 32]
    ssl = formats.parse_text(
        'server_key: "k" server_cert: "c" custom_ca: "ca" client_verify: true', serving_config_pb2.SSLConfig()
    )
    assert ssl.client_verify
    platforms = formats.parse_text(
        """platform_configs { key: "tensorflow" value { source_adapter_config {
               [type.googleapis.com/tensorflow.serving.SSLConfig] { server_key: "x" } } } }""",
        serving_config_pb2.PlatformConfigMap(),
    )
    unpacked = serving_config_pb2.SSLConfig()
    assert platforms.platform_configs["tensorflow"].source_adapter_config.Unpack(unpacked)
    assert unpacked.server_key == "x"


# --------------------------------------------------------------------------------------------------------------
# numpy <-> TensorProto against tf.make_tensor_proto / tf.make_ndarray / tf.io.serialize_tensor
# --------------------------------------------------------------------------------------------------------------

DTYPES = [
    np.float32,
    np.float64,
    np.float16,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
    np.complex64,
    np.complex128,
]
SHAPES = [(2, 3), (5,), (), (1,), (1, 1), (0, 3), (2, 0, 4)]


def _sample(dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(sum(shape) + 7)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    return (rng.standard_normal(shape) * 100).astype(dt)


def _to_tf(real: SimpleNamespace, proto: Any) -> Any:
    return real.TensorProto.FromString(proto.SerializeToString())


def _to_ours(proto: Any) -> Any:
    return tf_core_pb2.TensorProto.FromString(proto.SerializeToString())


def _assert_same_array(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def _typed_reference(array: np.ndarray) -> Any:
    """AsProtoField the slow, obvious way: every element appended to the typed field (the encoder must give this
    message, and so these bytes)."""
    code = tensors.numpy_to_datatype(array.dtype)
    proto = tf_core_pb2.TensorProto(dtype=int(code))
    proto.tensor_shape.SetInParent()
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    flat = array.ravel()
    if code == DataType.DT_STRING:
        values: Any = [v if isinstance(v, bytes) else v.encode() for v in flat.tolist()]
    elif code == DataType.DT_HALF:
        values = flat.view(np.uint16).tolist()
    elif flat.dtype.kind == "c":
        values = np.stack([flat.real, flat.imag], axis=-1).ravel().tolist()
    else:
        values = flat.tolist()
    getattr(proto, tensors.field_name(code)).extend(values)
    return proto


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_ndarray_to_tensor_proto_is_tf_make_tensor_proto(
    tf: Any, real: SimpleNamespace, dtype: Any, shape: tuple[int, ...]
) -> None:
    array = _sample(dtype, shape)
    ours = ndarray_to_tensor_proto(array)
    expected = tf.make_tensor_proto(array)
    assert ours.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)
    _assert_same_array(tf.make_ndarray(_to_tf(real, ours)), array)
    _assert_same_array(tensor_proto_to_ndarray(ours), array)
    _assert_same_array(tensor_proto_to_ndarray(_to_ours(expected)), tf.make_ndarray(expected))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_typed_fields(tf: Any, real: SimpleNamespace, dtype: Any, shape: tuple[int, ...]) -> None:
    array = _sample(dtype, shape)
    ours = ndarray_to_tensor_proto(array, encoding="typed_fields")
    assert not ours.tensor_content
    field = tensors.field_name(int(ours.dtype))
    assert len(getattr(ours, field)) == array.size * (2 if array.dtype.kind == "c" else 1)
    reference = _typed_reference(array)
    assert ours == reference
    assert ours.SerializeToString() == reference.SerializeToString()
    _assert_same_array(tf.make_ndarray(_to_tf(real, ours)), array)
    _assert_same_array(tensor_proto_to_ndarray(ours), array)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_tensor_content_is_tf_as_proto_tensor_content(
    tf: Any, real: SimpleNamespace, dtype: Any, shape: tuple[int, ...]
) -> None:
    """tf.io.serialize_tensor writes Tensor::AsProtoTensorContent: ours is the same bytes, for every dtype."""
    array = _sample(dtype, shape)
    ours = ndarray_to_tensor_proto(array, encoding="tensor_content")
    assert ours.SerializeToString() == tf.io.serialize_tensor(tf.constant(array)).numpy()
    _assert_same_array(tensor_proto_to_ndarray(ours), array)
    _assert_same_array(tf.make_ndarray(_to_tf(real, ours)), array)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_encoding_decodes_the_same(dtype: Any) -> None:
    array = _sample(dtype, (3, 5))
    for encoding in ENCODINGS:
        _assert_same_array(tensor_proto_to_ndarray(ndarray_to_tensor_proto(array, encoding=encoding)), array)


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 1, 127, 128, 16383, 16384, 2**21, 2**28 - 1, 2**28, 2**31 - 1, -1, -(2**31), -128], np.int32),
        np.array([0, 2**35, 2**49, 2**56, 2**63 - 1, -(2**63), -1, 300], np.int64),
        np.array([0, 2**32 - 1, 2**31, 128], np.uint32),
        np.array([0, 2**64 - 1, 2**63, 2**56, 1], np.uint64),
        np.array([0, 255, 128, 127], np.uint8),
        np.array([-128, 127, -1, 0], np.int8),
        np.array([0, 65535, 32768], np.uint16),
        np.array([np.inf, -np.inf, np.nan, -0.0, 65504, 6e-8], np.float16),
        np.array([True, False, True], np.bool_),
    ],
    ids=lambda v: v.dtype.name,
)
def test_varint_edges(values: np.ndarray) -> None:
    """Every varint length, sign extension of negative 32-bit values, the extremes of each dtype."""
    big = np.tile(values, 3000)  # mixed lengths at scale
    for array in (values, big, np.full(4000, values[-1])):  # one length everywhere too
        ours = ndarray_to_tensor_proto(array, encoding="typed_fields")
        assert ours.SerializeToString() == _typed_reference(array).SerializeToString()
        _assert_same_array(tensor_proto_to_ndarray(ours), array)
        _assert_same_array(tensor_proto_to_ndarray(_to_ours(_typed_reference(array))), array)


def test_typed_field_decoding_wraps_like_tf_cpp() -> None:
    # int_val holds int32; a narrower dtype takes the low bits, as TensorFlow's C++ cast
    proto = tf_core_pb2.TensorProto(dtype=DataType.DT_UINT8, int_val=[257, -1])
    proto.tensor_shape.dim.add(size=2)
    _assert_same_array(tensor_proto_to_ndarray(proto), np.array([1, 255], np.uint8))


def test_detection_head_sized_typed_fields_round_trip() -> None:
    """A 25200 x 85 float32 output in the typed field (its speed: bench/codec_speed.py)."""
    array = np.random.default_rng(0).random((1, 25200, 85), dtype=np.float32)
    proto = ndarray_to_tensor_proto(array, encoding="typed_fields")
    _assert_same_array(tensor_proto_to_ndarray(proto), array)
    assert len(proto.float_val) == array.size


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_tensor_content_for_every_dtype(tf: Any, real: SimpleNamespace, dtype: Any) -> None:
    # TF's make_tensor_proto never writes bool/complex to tensor_content, but a server may: both decode it the same
    array = _sample(dtype, (3, 4))
    proto = ndarray_to_tensor_proto(array, encoding="typed_fields")
    proto.ClearField(tensors.field_name(int(proto.dtype)))  # type: ignore[arg-type]
    proto.tensor_content = array.astype(array.dtype.newbyteorder("<")).tobytes()
    _assert_same_array(tensor_proto_to_ndarray(proto), array)
    _assert_same_array(tf.make_ndarray(_to_tf(real, proto)), array)


def test_tensor_content_is_little_endian_and_writable() -> None:
    array = np.arange(12, dtype=">f4").reshape(3, 4)
    proto = ndarray_to_tensor_proto(array)
    assert proto.tensor_content == np.arange(12, dtype="<f4").tobytes()
    back = tensor_proto_to_ndarray(proto)
    assert back.dtype == np.float32 and back.flags.writeable
    back[0, 0] = 99
    np.testing.assert_array_equal(tensor_proto_to_ndarray(proto).ravel(), np.arange(12))
    typed = ndarray_to_tensor_proto(np.arange(12, dtype=">i8"), encoding="typed_fields")
    assert list(typed.int64_val) == list(range(12))
    decoded = tensor_proto_to_ndarray(typed)
    assert decoded.flags.writeable and decoded.dtype == np.int64


def test_non_contiguous_input() -> None:
    array = np.arange(24, dtype=np.int32).reshape(4, 6)[::2, ::3]
    for encoding in ENCODINGS:
        back = tensor_proto_to_ndarray(ndarray_to_tensor_proto(array, encoding=encoding))
        _assert_same_array(back, np.ascontiguousarray(array))


def test_write_tensor_proto_in_place() -> None:
    response = serving_apis_pb2.PredictResponse()
    response.outputs["y"].float_val.append(9.0)  # cleared first
    tensors.write_tensor_proto(response.outputs["y"], np.arange(3, dtype=np.float32), encoding="tensor_content")
    assert not response.outputs["y"].float_val
    _assert_same_array(tensor_proto_to_ndarray(response.outputs["y"]), np.arange(3, dtype=np.float32))
    with pytest.raises(ValueError, match="unknown tensor encoding"):
        ndarray_to_tensor_proto(np.ones(2), encoding="packed")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "array",
    [
        np.array([b"abc", b"\x00\xff", b""], dtype=object),
        np.array([["un", "deux"], ["trois", "quatre é"]]),
        np.array([b"x", b"yz"]),
        np.array(b"scalar", dtype=object),
        np.empty((0,), dtype=object),
    ],
    ids=["bytes-object", "unicode", "bytes-S", "scalar", "empty"],
)
def test_strings(tf: Any, real: SimpleNamespace, array: np.ndarray) -> None:
    ours = ndarray_to_tensor_proto(array)
    assert ours.dtype == DataType.DT_STRING and not ours.tensor_content
    expected = tf.make_tensor_proto(array)
    assert ours.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)
    for encoding in ENCODINGS:  # strings are string_val in every encoding
        assert ndarray_to_tensor_proto(array, encoding=encoding) == ours
    back = tensor_proto_to_ndarray(ours)
    _assert_same_array(back, tf.make_ndarray(_to_tf(real, ours)))
    assert back.dtype == object
    assert [v if isinstance(v, bytes) else v.encode() for v in array.ravel().tolist()] == back.ravel().tolist()


BROADCAST = [
    ("float_val", DataType.DT_FLOAT, [2.5], (2, 3)),
    ("double_val", DataType.DT_DOUBLE, [-1.0], (4,)),
    ("int_val", DataType.DT_INT8, [-3], (2, 2)),
    ("int_val", DataType.DT_UINT8, [255], (3,)),
    ("int_val", DataType.DT_INT32, [1, 2], (5,)),
    ("int_val", DataType.DT_UINT16, [65535], (2, 1)),
    ("int64_val", DataType.DT_INT64, [-(2**40)], (3, 3)),
    ("uint32_val", DataType.DT_UINT32, [4_000_000_000], (2,)),
    ("uint64_val", DataType.DT_UINT64, [2**63 + 5], (2,)),
    ("bool_val", DataType.DT_BOOL, [True], (2, 2)),
    ("half_val", DataType.DT_HALF, [int(np.float16(1.5).view(np.uint16))], (3,)),
    ("scomplex_val", DataType.DT_COMPLEX64, [1.0, -2.0], (2,)),
    ("string_val", DataType.DT_STRING, [b"same"], (2, 3)),
    ("string_val", DataType.DT_STRING, [b"a", b"b"], (4,)),
    ("float_val", DataType.DT_FLOAT, [], (2, 2)),
    ("string_val", DataType.DT_STRING, [], (2,)),
    ("float_val", DataType.DT_FLOAT, [7.0], ()),
]


@pytest.mark.parametrize(("field", "dtype", "values", "shape"), BROADCAST, ids=lambda v: str(v))
def test_short_typed_field_is_filled_like_tf(
    tf: Any, real: SimpleNamespace, field: str, dtype: int, values: list[Any], shape: tuple[int, ...]
) -> None:
    proto = tf_core_pb2.TensorProto(dtype=int(dtype))
    proto.tensor_shape.SetInParent()
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(values)
    expected = tf.make_ndarray(_to_tf(real, proto))
    if dtype == DataType.DT_STRING and not values:
        expected = np.full(shape, b"", dtype=object)  # tf.make_ndarray pads with str "" here; we keep bytes
    actual = tensor_proto_to_ndarray(proto)
    _assert_same_array(actual, expected)
    if len(values) == 1:
        assert (actual == actual.ravel()[0]).all()


def test_tensorflow_tensor_protos_of_tf_tensors(tf: Any) -> None:
    # protos made from tf.Tensors (not numpy) as a SavedModel or TF Serving would hold them
    for tensor in (
        tf.constant([[1.0, 2.0]], dtype=tf.bfloat16),
        tf.constant(3, dtype=tf.int16),
        tf.fill([2, 3], 0.5),
        tf.constant(["a", "bc"]),
    ):
        proto = tf.make_tensor_proto(tensor)
        actual = tensor_proto_to_ndarray(_to_ours(proto))
        expected = tf.make_ndarray(proto)
        if tensor.dtype == tf.bfloat16:  # decoded to float32, exactly
            expected = expected.astype(np.float32)
        _assert_same_array(actual, expected)
        # TensorFlow's own class decodes too
        _assert_same_array(tensor_proto_to_ndarray(proto), actual)


def test_bfloat16_bits() -> None:
    proto = tf_core_pb2.TensorProto(dtype=DataType.DT_BFLOAT16, half_val=[0x3FC0, 0xC000])
    proto.tensor_shape.dim.add(size=2)
    _assert_same_array(tensor_proto_to_ndarray(proto), np.array([1.5, -2.0], np.float32))
    proto.ClearField("half_val")
    proto.tensor_content = np.array([0x3FC0, 0xC000], "<u2").tobytes()
    _assert_same_array(tensor_proto_to_ndarray(proto), np.array([1.5, -2.0], np.float32))


def test_bad_tensors() -> None:
    proto = tf_core_pb2.TensorProto(dtype=DataType.DT_FLOAT, tensor_content=b"\x00" * 7)
    proto.tensor_shape.dim.add(size=2)
    with pytest.raises(ValueError, match="tensor_content"):
        tensor_proto_to_ndarray(proto)
    with pytest.raises(ValueError, match="values for shape"):
        tensor_proto_to_ndarray(tf_core_pb2.TensorProto(dtype=DataType.DT_FLOAT, float_val=[1, 2]))
    with pytest.raises(ValueError, match="odd number"):
        tensor_proto_to_ndarray(tf_core_pb2.TensorProto(dtype=DataType.DT_COMPLEX64, scomplex_val=[1, 2, 3]))
    with pytest.raises(TypeError, match="DT_RESOURCE"):
        tensor_proto_to_ndarray(tf_core_pb2.TensorProto(dtype=DataType.DT_RESOURCE))
    unknown = tf_core_pb2.TensorProto(dtype=DataType.DT_FLOAT)
    unknown.tensor_shape.unknown_rank = True
    with pytest.raises(ValueError, match="unknown rank"):
        tensor_proto_to_ndarray(unknown)
    with pytest.raises(TypeError, match="no TensorFlow DataType"):
        ndarray_to_tensor_proto(np.array(["2020-01-01"], dtype="datetime64[D]"))
    with pytest.raises(TypeError, match="bytes or str"):
        ndarray_to_tensor_proto(np.array([1, "a"], dtype=object))


def test_dtype_maps() -> None:
    assert tensors.numpy_to_datatype(np.float32) is DataType.DT_FLOAT
    assert tensors.numpy_to_datatype("U3") is DataType.DT_STRING
    assert tensors.datatype_to_numpy(DataType.DT_HALF) == np.float16
    assert tensors.datatype_to_numpy(DataType.DT_STRING) == np.dtype(object)
    assert tensors.field_name(DataType.DT_BFLOAT16) == "half_val"


# --------------------------------------------------------------------------------------------------------------
# Stubs
# --------------------------------------------------------------------------------------------------------------


class _RecordingChannel:
    def __init__(self) -> None:
        self.calls: dict[str, tuple[Any, Any]] = {}

    def _record(self, path: str, request_serializer: Any = None, response_deserializer: Any = None, **_: Any) -> str:
        self.calls[path] = (request_serializer, response_deserializer)
        return path

    unary_unary = unary_stream = _record


def test_stub_paths() -> None:
    assert PREDICT_METHOD == "/tensorflow.serving.PredictionService/Predict"
    assert GET_MODEL_METADATA_METHOD == "/tensorflow.serving.PredictionService/GetModelMetadata"
    assert CLASSIFY_METHOD == "/tensorflow.serving.PredictionService/Classify"
    assert REGRESS_METHOD == "/tensorflow.serving.PredictionService/Regress"
    assert MULTI_INFERENCE_METHOD == "/tensorflow.serving.PredictionService/MultiInference"
    assert GET_MODEL_STATUS_METHOD == "/tensorflow.serving.ModelService/GetModelStatus"
    assert HANDLE_RELOAD_CONFIG_METHOD == "/tensorflow.serving.ModelService/HandleReloadConfigRequest"
    channel = _RecordingChannel()
    stub = prediction_stub(channel)
    assert (stub.Predict, stub.GetModelMetadata, stub.Classify, stub.Regress, stub.MultiInference) == (
        PREDICT_METHOD,
        GET_MODEL_METADATA_METHOD,
        CLASSIFY_METHOD,
        REGRESS_METHOD,
        MULTI_INFERENCE_METHOD,
    )
    model = model_stub(channel)
    assert (model.GetModelStatus, model.HandleReloadConfigRequest) == (
        GET_MODEL_STATUS_METHOD,
        HANDLE_RELOAD_CONFIG_METHOD,
    )
    m = messages()
    serialize, deserialize = channel.calls[PREDICT_METHOD]
    response = m.PredictResponse()
    response.model_spec.name = "x"
    assert deserialize(response.SerializeToString()) == response
    assert serialize(m.PredictRequest(output_filter=["a"])) == m.PredictRequest(output_filter=["a"]).SerializeToString()
    assert channel.calls[GET_MODEL_STATUS_METHOD][1] == m.GetModelStatusResponse.FromString
    assert services.profiler_stub(channel).Profile == services.PROFILER_PROFILE_METHOD
    assert services.health_stub(channel).Watch == services.HEALTH_WATCH_METHOD


def test_stubs_against_a_grpc_server_speaking_tf_classes(real: SimpleNamespace, tf: Any) -> None:
    grpc = pytest.importorskip("grpc")

    def predict(request: Any, _context: Any) -> Any:
        response = real.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        doubled = tf.make_ndarray(request.inputs["x"]) * 2
        response.outputs["y"].CopyFrom(tf.make_tensor_proto(doubled))
        return response

    def metadata(request: Any, _context: Any) -> Any:
        response = real.GetModelMetadataResponse(model_spec=request.model_spec)
        response.metadata["signature_def"].Pack(text_format.Parse(TEXT["SignatureDefMap"], real.SignatureDefMap()))
        return response

    def classify(request: Any, _context: Any) -> Any:
        n = len(request.input.example_list.examples)
        return text_format.Parse(
            "result { " + "classifications { classes { label: 'a' score: 1 } } " * n + "}",
            real.ClassificationResponse(),
        )

    def regress(request: Any, _context: Any) -> Any:
        values = [e.features.feature["x"].float_list.value[0] for e in request.input.example_list.examples]
        response = real.RegressionResponse()
        for v in values:
            response.result.regressions.add(value=v + 1)
        return response

    def multi_inference(request: Any, _context: Any) -> Any:
        response = real.MultiInferenceResponse()
        for task in request.tasks:
            response.results.add(model_spec=task.model_spec).regression_result.regressions.add(value=1)
        return response

    def status(request: Any, _context: Any) -> Any:
        response = real.GetModelStatusResponse()
        response.model_version_status.add(version=request.model_spec.version.value, state=30)
        return response

    def reload_config(request: Any, _context: Any) -> Any:
        response = real.ReloadConfigResponse()
        response.metric.add(name=request.config.model_config_list.config[0].name)
        return response

    def handler(service: str, methods: dict[str, tuple[Any, Any, Any]]) -> Any:
        return grpc.method_handlers_generic_handler(
            service,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    fn, request_deserializer=req.FromString, response_serializer=resp.SerializeToString
                )
                for name, (fn, req, resp) in methods.items()
            },
        )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            handler(
                "tensorflow.serving.PredictionService",
                {
                    "Predict": (predict, real.PredictRequest, real.PredictResponse),
                    "GetModelMetadata": (metadata, real.GetModelMetadataRequest, real.GetModelMetadataResponse),
                    "Classify": (classify, real.ClassificationRequest, real.ClassificationResponse),
                    "Regress": (regress, real.RegressionRequest, real.RegressionResponse),
                    "MultiInference": (multi_inference, real.MultiInferenceRequest, real.MultiInferenceResponse),
                },
            ),
            handler(
                "tensorflow.serving.ModelService",
                {
                    "GetModelStatus": (status, real.GetModelStatusRequest, real.GetModelStatusResponse),
                    "HandleReloadConfigRequest": (reload_config, real.ReloadConfigRequest, real.ReloadConfigResponse),
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        m = messages()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_stub(channel)
            request = m.PredictRequest()
            request.model_spec.name = "yolo"
            x = np.arange(6, dtype=np.float32).reshape(2, 3)
            request.inputs["x"].CopyFrom(ndarray_to_tensor_proto(x))
            response = stub.Predict(request, timeout=10)
            assert response.model_spec.name == "yolo"
            _assert_same_array(tensor_proto_to_ndarray(response.outputs["y"]), x * 2)

            meta = stub.GetModelMetadata(
                m.GetModelMetadataRequest(model_spec=m.ModelSpec(name="yolo"), metadata_field=["signature_def"]),
                timeout=10,
            )
            signature_map = m.SignatureDefMap()
            assert meta.metadata["signature_def"].Unpack(signature_map)
            assert signature_map.signature_def["serving_default"].inputs["images"].name == "x:0"

            examples = text_format.Parse(TEXT["ClassificationRequest"], m.ClassificationRequest())
            classes = stub.Classify(examples, timeout=10)
            assert [c.label for c in classes.result.classifications[0].classes] == ["a"]

            regression = stub.Regress(text_format.Parse(TEXT["RegressionRequest"], m.RegressionRequest()), timeout=10)
            assert [r.value for r in regression.result.regressions] == [3.0]

            multi = stub.MultiInference(
                text_format.Parse(TEXT["MultiInferenceRequest"], m.MultiInferenceRequest()), timeout=10
            )
            assert [r.model_spec.signature_name for r in multi.results] == ["classify", "regress"]

            spec = m.ModelSpec(name="yolo")
            spec.version.value = 5
            model_status = model_stub(channel).GetModelStatus(m.GetModelStatusRequest(model_spec=spec), timeout=10)
            assert [(s.version, s.state) for s in model_status.model_version_status] == [(5, 30)]
            reloaded = model_stub(channel).HandleReloadConfigRequest(
                text_format.Parse(TEXT["ReloadConfigRequest"], m.ReloadConfigRequest()), timeout=10
            )
            assert [metric.name for metric in reloaded.metric] == ["a"]
    finally:
        server.stop(None)


def test_generated_servicer_and_health_over_grpc() -> None:
    """The generated servicer base and add_*_to_server work with our classes (a health service here)."""
    grpc = pytest.importorskip("grpc")
    from yolo_tfserving._wire import health_pb2_grpc

    class Health(health_pb2_grpc.HealthServicer):
        def Check(self, request: Any, context: Any) -> Any:  # noqa: ARG002 - HealthServicer.Check
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

        def Watch(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: ARG002 - HealthServicer.Watch
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = services.health_stub(channel)
            assert stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == ServingStatus.SERVING
            statuses = [r.status for r in stub.Watch(health_pb2.HealthCheckRequest(), timeout=10)]
            assert statuses == [ServingStatus.NOT_SERVING, ServingStatus.SERVING]
    finally:
        server.stop(None)


# --------------------------------------------------------------------------------------------------------------
# No TensorFlow, no PyTorch
# --------------------------------------------------------------------------------------------------------------

TF_FREE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = {"tensorflow", "tensorflow_serving", "torch", "keras", "tf_keras"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name}", name=name)
            return None

    sys.meta_path.insert(0, Block())
    for name in BLOCKED:
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            raise SystemExit(f"{name} was importable")

    import numpy as np
    from yolo_tfserving._wire import formats, serving_apis_pb2, serving_config_pb2, services, tensors

    request = serving_apis_pb2.PredictRequest()
    request.model_spec.name = "yolo"
    request.model_spec.version.value = 2
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    request.inputs["images"].CopyFrom(tensors.ndarray_to_tensor_proto(x))
    parsed = serving_apis_pb2.PredictRequest.FromString(request.SerializeToString())
    y = tensors.tensor_proto_to_ndarray(parsed.inputs["images"])
    assert y.dtype == x.dtype and (y == x).all(), y
    for encoding in tensors.ENCODINGS:
        z = tensors.tensor_proto_to_ndarray(tensors.ndarray_to_tensor_proto(x, encoding=encoding))
        assert (z == x).all(), encoding
    s = tensors.tensor_proto_to_ndarray(tensors.ndarray_to_tensor_proto(np.array(["a", "b"]), encoding="typed_fields"))
    assert s.tolist() == [b"a", b"b"], s
    config = formats.parse_text("model_config_list { config { name: 'a' } }", serving_config_pb2.ModelServerConfig())
    assert config.model_config_list.config[0].name == "a"
    services.prediction_stub(type("C", (), {"unary_unary": lambda self, *a, **k: None})())
    from yolo_tfserving.client import Client  # the light client's import path
    loaded = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("TF-FREE-OK", parsed.model_spec.version.value)
    """
)


def test_imports_and_works_without_tensorflow_or_torch() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", TF_FREE_SCRIPT], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TF-FREE-OK 2" in result.stdout


@pytest.mark.parametrize("backend", ["python", "upb"])
def test_never_in_the_default_pool_whatever_the_backend(backend: str) -> None:
    """Our files never enter protobuf's default pool (nor its symbol database), even under the pure-Python
    backend, where protobuf's own builder would index every class there."""
    script = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error")
        from google.protobuf import descriptor_pool, symbol_database
        from google.protobuf.internal import api_implementation
        from yolo_tfserving._wire import (health_pb2, profiler_pb2, serving_apis_pb2, serving_config_pb2,
                                          serving_service_pb2, tf_core_pb2, formats)
        for name in ("tensorflow.TensorProto", "tensorflow.serving.PredictRequest", "tensorflow.ProfileRequest",
                     "grpc.health.v1.HealthCheckRequest", "tensorflow.serving.ModelServerConfig"):
            try:
                descriptor_pool.Default().FindMessageTypeByName(name)
            except KeyError:
                pass
            else:
                raise SystemExit(f"{name} is in the default pool")
        response = serving_apis_pb2.GetModelMetadataResponse()
        response.metadata["signature_def"].Pack(serving_apis_pb2.SignatureDefMap())
        back = formats.parse_json(formats.message_to_json(response), serving_apis_pb2.GetModelMetadataResponse())
        # (bytes, not ==: the pure-Python backend's == unpacks an Any through the default pool)
        assert back.SerializeToString() == response.SerializeToString()
        print("POOL-OK", api_implementation.Type())
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": backend,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"POOL-OK {backend}" in result.stdout
