"""Our TensorFlow-free TF Serving messages (yolo_tfserving.client._protos) against TensorFlow's own.

Wire compatibility is checked three ways: descriptor by descriptor (every field of ours has the same number,
name, type, label, oneof and referenced type as TensorFlow 2.19 / TF Serving 2.19's), byte for byte (the
same message built with both class sets serializes identically) and by round trips in both directions. The
numpy helpers are checked against tf.make_tensor_proto / tf.make_ndarray, the stubs against a real gRPC
server that speaks TF Serving's own classes, and the import against a process where TensorFlow and PyTorch
cannot be imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent import futures
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from google.protobuf import descriptor_pool, text_format

from yolo_tfserving.client import _protos
from yolo_tfserving.client._protos import (
    CLASSIFY_METHOD,
    GET_MODEL_METADATA_METHOD,
    GET_MODEL_STATUS_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    DataType,
    ErrorCode,
    ModelVersionState,
    messages,
    model_stub,
    ndarray_to_tensor_proto,
    prediction_stub,
    tensor_proto_to_ndarray,
)

SRC = Path(__file__).resolve().parent.parent / "src"


# --------------------------------------------------------------------------------------------------------------
# TensorFlow's classes (only where installed)
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def real(tf: Any) -> SimpleNamespace:
    """TensorFlow / TF Serving message classes by short name (prediction_service_pb2 is not imported: the
    generated file in tensorflow-serving-api 2.19 does not load under protobuf 4.25's upb backend)."""
    pytest.importorskip("tensorflow_serving")
    from tensorflow.core.example import example_pb2, feature_pb2
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        input_pb2,
        model_pb2,
        predict_pb2,
        regression_pb2,
        status_pb2,
    )

    ns = SimpleNamespace()
    for module in (
        tensor_pb2,
        tensor_shape_pb2,
        meta_graph_pb2,
        feature_pb2,
        example_pb2,
        model_pb2,
        predict_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        status_pb2,
        input_pb2,
        classification_pb2,
        regression_pb2,
    ):
        for name in module.DESCRIPTOR.message_types_by_name:
            setattr(ns, name, getattr(module, name))
    return ns


OUR_MESSAGES = [name for name in _protos.Messages.__dataclass_fields__ if name not in ("pool", "AnyMessage")]
OUR_MESSAGES.remove("Int64Value")


# --------------------------------------------------------------------------------------------------------------
# Descriptors
# --------------------------------------------------------------------------------------------------------------


def _type_full_name(field: Any) -> str | None:
    if field.message_type is not None:
        return str(field.message_type.full_name)
    if field.enum_type is not None:
        return str(field.enum_type.full_name)
    return None


def _assert_same_fields(ours: Any, theirs: Any, seen: set[str]) -> None:
    if ours.full_name in seen:
        return
    seen.add(ours.full_name)
    assert ours.full_name == theirs.full_name
    for field in ours.fields:
        other = theirs.fields_by_number.get(field.number)
        assert other is not None, f"{ours.full_name}: TF has no field number {field.number} ({field.name})"
        where = f"{ours.full_name}.{field.name}"
        assert field.name == other.name, where
        assert field.type == other.type, where
        assert field.label == other.label, where
        assert _type_full_name(field) == _type_full_name(other), where
        assert (field.containing_oneof and field.containing_oneof.name) == (
            other.containing_oneof and other.containing_oneof.name
        ), where
        assert field.message_type is None or (
            field.message_type.GetOptions().map_entry == other.message_type.GetOptions().map_entry
        ), where
        if field.message_type is not None and not field.message_type.full_name.startswith("google.protobuf."):
            _assert_same_fields(field.message_type, other.message_type, seen)
        if field.enum_type is not None:
            ours_values = {(v.name, v.number) for v in field.enum_type.values}
            their_values = {(v.name, v.number) for v in other.enum_type.values}
            assert ours_values == their_values, where


@pytest.mark.parametrize("name", OUR_MESSAGES)
def test_descriptor_matches_tensorflow(real: SimpleNamespace, name: str) -> None:
    ours = getattr(messages(), name).DESCRIPTOR
    theirs = getattr(real, name).DESCRIPTOR
    _assert_same_fields(ours, theirs, set())


def test_fields_left_out_are_only_the_documented_ones(real: SimpleNamespace) -> None:
    m = messages()
    missing = {}
    for name in OUR_MESSAGES:
        ours, theirs = getattr(m, name).DESCRIPTOR, getattr(real, name).DESCRIPTOR
        gone = sorted(f.name for f in theirs.fields if f.number not in ours.fields_by_number)
        if gone:
            missing[name] = gone
    assert missing == {
        "TensorProto": ["resource_handle_val", "variant_val"],
        "TensorInfo": ["composite_tensor"],
        "PredictRequest": ["client_id", "predict_streamed_options", "request_options"],
    }


def test_enums_match_tensorflow(real: SimpleNamespace) -> None:
    data_type = real.TensorProto.DESCRIPTOR.fields_by_name["dtype"].enum_type
    assert {v.name: v.number for v in data_type.values} == {e.name: int(e) for e in DataType}
    code = real.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type
    assert code.full_name == "tensorflow.error.Code"
    assert {v.name: v.number for v in code.values} == {e.name: int(e) for e in ErrorCode}
    state = real.ModelVersionStatus.DESCRIPTOR.enum_types_by_name["State"]
    assert {v.name: v.number for v in state.values} == {e.name: int(e) for e in ModelVersionState}
    assert DataType.DT_HALF == 19 and DataType.DT_UINT64 == 23


def test_private_pool() -> None:
    m = messages()
    assert m is messages()
    assert m.pool is not descriptor_pool.Default()
    assert m.TensorProto.DESCRIPTOR.file.pool is m.pool
    assert m.PredictRequest.DESCRIPTOR.file.name.startswith("yolo_tfserving/")
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindFileByName(m.PredictRequest.DESCRIPTOR.file.name)


def test_coexists_with_tensorflow_in_one_process(real: SimpleNamespace) -> None:
    # both are loaded now; each side still builds and parses its own messages
    ours = messages().TensorProto(dtype=DataType.DT_FLOAT, float_val=[1.0])
    theirs = real.TensorProto(dtype=1, float_val=[1.0])
    assert type(ours) is not type(theirs)
    assert ours.SerializeToString() == theirs.SerializeToString()
    assert descriptor_pool.Default().FindMessageTypeByName("tensorflow.TensorProto") is theirs.DESCRIPTOR


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
    """,
    "TensorShapeProto": 'dim { size: -1 } dim { size: 640 name: "h" } unknown_rank: false',
    "ModelSpec": 'name: "yolo" version { value: 7 } signature_name: "serving_default"',
    "PredictRequest": """
        model_spec { name: "yolo" version_label: "stable" signature_name: "serving_default" }
        inputs { key: "images" value { dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: 0.25 } }
        inputs { key: "score" value { dtype: DT_INT64 int64_val: 3 } }
        output_filter: "output_0" output_filter: "output_1"
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
        method_name: "tensorflow/serving/predict"
        defaults { key: "iou" value { dtype: DT_FLOAT float_val: 0.45 } }
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
}


@pytest.mark.parametrize("name", sorted(TEXT))
def test_wire_round_trip(real: SimpleNamespace, name: str) -> None:
    ours = text_format.Parse(TEXT[name], getattr(messages(), name)())
    theirs = text_format.Parse(TEXT[name], getattr(real, name)())
    ours_bytes = ours.SerializeToString(deterministic=True)
    their_bytes = theirs.SerializeToString(deterministic=True)
    assert ours_bytes, name
    assert ours_bytes == their_bytes
    # ours -> TF and TF -> ours
    from_ours = getattr(real, name).FromString(ours_bytes)
    assert from_ours == theirs
    from_theirs = getattr(messages(), name).FromString(their_bytes)
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


# --------------------------------------------------------------------------------------------------------------
# numpy <-> TensorProto against tf.make_tensor_proto / tf.make_ndarray
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
    return messages().TensorProto.FromString(proto.SerializeToString())


def _assert_same_array(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


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
    ours = ndarray_to_tensor_proto(array, use_tensor_content=False)
    assert not ours.tensor_content
    field = _protos._VAL_FIELD[int(ours.dtype)]
    assert len(getattr(ours, field)) == array.size * (2 if array.dtype.kind == "c" else 1)
    _assert_same_array(tf.make_ndarray(_to_tf(real, ours)), array)
    _assert_same_array(tensor_proto_to_ndarray(ours), array)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_tensor_content_for_every_dtype(tf: Any, real: SimpleNamespace, dtype: Any) -> None:
    # TF never writes bool/complex to tensor_content, but the server may: both must decode it the same
    array = _sample(dtype, (3, 4))
    proto = ndarray_to_tensor_proto(array, use_tensor_content=False)
    proto.ClearField(_protos._VAL_FIELD[int(proto.dtype)])
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


def test_non_contiguous_input() -> None:
    array = np.arange(24, dtype=np.int32).reshape(4, 6)[::2, ::3]
    _assert_same_array(tensor_proto_to_ndarray(ndarray_to_tensor_proto(array)), np.ascontiguousarray(array))


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
    proto = messages().TensorProto(dtype=int(dtype))
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


def test_bfloat16_bits() -> None:
    proto = messages().TensorProto(dtype=DataType.DT_BFLOAT16, half_val=[0x3FC0, 0xC000])
    proto.tensor_shape.dim.add(size=2)
    _assert_same_array(tensor_proto_to_ndarray(proto), np.array([1.5, -2.0], np.float32))
    proto.ClearField("half_val")
    proto.tensor_content = np.array([0x3FC0, 0xC000], "<u2").tobytes()
    _assert_same_array(tensor_proto_to_ndarray(proto), np.array([1.5, -2.0], np.float32))


def test_bad_tensors() -> None:
    m = messages()
    proto = m.TensorProto(dtype=DataType.DT_FLOAT, tensor_content=b"\x00" * 7)
    proto.tensor_shape.dim.add(size=2)
    with pytest.raises(ValueError, match="tensor_content"):
        tensor_proto_to_ndarray(proto)
    with pytest.raises(ValueError, match="values for shape"):
        tensor_proto_to_ndarray(m.TensorProto(dtype=DataType.DT_FLOAT, float_val=[1, 2]))
    with pytest.raises(TypeError, match="DT_RESOURCE"):
        tensor_proto_to_ndarray(m.TensorProto(dtype=DataType.DT_RESOURCE))
    unknown = m.TensorProto(dtype=DataType.DT_FLOAT)
    unknown.tensor_shape.unknown_rank = True
    with pytest.raises(ValueError, match="unknown rank"):
        tensor_proto_to_ndarray(unknown)
    with pytest.raises(TypeError, match="no TensorFlow DataType"):
        ndarray_to_tensor_proto(np.array(["2020-01-01"], dtype="datetime64[D]"))
    with pytest.raises(TypeError, match="bytes or str"):
        ndarray_to_tensor_proto(np.array([1, "a"], dtype=object))


def test_dtype_maps() -> None:
    assert _protos.numpy_to_datatype(np.float32) is DataType.DT_FLOAT
    assert _protos.numpy_to_datatype("U3") is DataType.DT_STRING
    assert _protos.datatype_to_numpy(DataType.DT_HALF) == np.float16
    assert _protos.datatype_to_numpy(DataType.DT_STRING) == np.dtype(object)


# --------------------------------------------------------------------------------------------------------------
# Stubs
# --------------------------------------------------------------------------------------------------------------


class _RecordingChannel:
    def __init__(self) -> None:
        self.calls: dict[str, tuple[Any, Any]] = {}

    def unary_unary(self, path: str, request_serializer: Any = None, response_deserializer: Any = None) -> str:
        self.calls[path] = (request_serializer, response_deserializer)
        return path


def test_stub_paths() -> None:
    assert PREDICT_METHOD == "/tensorflow.serving.PredictionService/Predict"
    assert GET_MODEL_METADATA_METHOD == "/tensorflow.serving.PredictionService/GetModelMetadata"
    assert CLASSIFY_METHOD == "/tensorflow.serving.PredictionService/Classify"
    assert REGRESS_METHOD == "/tensorflow.serving.PredictionService/Regress"
    assert GET_MODEL_STATUS_METHOD == "/tensorflow.serving.ModelService/GetModelStatus"
    channel = _RecordingChannel()
    stub = prediction_stub(channel)
    assert (stub.Predict, stub.GetModelMetadata, stub.Classify, stub.Regress) == (
        PREDICT_METHOD,
        GET_MODEL_METADATA_METHOD,
        CLASSIFY_METHOD,
        REGRESS_METHOD,
    )
    assert model_stub(channel).GetModelStatus == GET_MODEL_STATUS_METHOD
    m = messages()
    serialize, deserialize = channel.calls[PREDICT_METHOD]
    response = m.PredictResponse()
    response.model_spec.name = "x"
    assert deserialize(response.SerializeToString()) == response
    assert serialize(m.PredictRequest(output_filter=["a"])) == m.PredictRequest(output_filter=["a"]).SerializeToString()
    assert channel.calls[GET_MODEL_STATUS_METHOD][1] == m.GetModelStatusResponse.FromString


def test_stubs_against_a_grpc_server_speaking_tf_classes(real: SimpleNamespace, tf: Any) -> None:
    grpc = pytest.importorskip("grpc")

    def predict(request: Any, context: Any) -> Any:
        response = real.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        doubled = tf.make_ndarray(request.inputs["x"]) * 2
        response.outputs["y"].CopyFrom(tf.make_tensor_proto(doubled))
        return response

    def metadata(request: Any, context: Any) -> Any:
        response = real.GetModelMetadataResponse(model_spec=request.model_spec)
        response.metadata["signature_def"].Pack(text_format.Parse(TEXT["SignatureDefMap"], real.SignatureDefMap()))
        return response

    def classify(request: Any, context: Any) -> Any:
        n = len(request.input.example_list.examples)
        return text_format.Parse(
            "result { " + "classifications { classes { label: 'a' score: 1 } } " * n + "}",
            real.ClassificationResponse(),
        )

    def regress(request: Any, context: Any) -> Any:
        values = [e.features.feature["x"].float_list.value[0] for e in request.input.example_list.examples]
        response = real.RegressionResponse()
        for v in values:
            response.result.regressions.add(value=v + 1)
        return response

    def status(request: Any, context: Any) -> Any:
        response = real.GetModelStatusResponse()
        response.model_version_status.add(version=request.model_spec.version.value, state=30)
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
                },
            ),
            handler(
                "tensorflow.serving.ModelService",
                {"GetModelStatus": (status, real.GetModelStatusRequest, real.GetModelStatusResponse)},
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

            spec = m.ModelSpec(name="yolo")
            spec.version.value = 5
            model_status = model_stub(channel).GetModelStatus(m.GetModelStatusRequest(model_spec=spec), timeout=10)
            assert [(s.version, s.state) for s in model_status.model_version_status] == [(5, 30)]
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
    from yolo_tfserving.client import _protos

    m = _protos.messages()
    request = m.PredictRequest()
    request.model_spec.name = "yolo"
    request.model_spec.version.value = 2
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    request.inputs["images"].CopyFrom(_protos.ndarray_to_tensor_proto(x))
    parsed = m.PredictRequest.FromString(request.SerializeToString())
    y = _protos.tensor_proto_to_ndarray(parsed.inputs["images"])
    assert y.dtype == x.dtype and (y == x).all(), y
    s = _protos.tensor_proto_to_ndarray(_protos.ndarray_to_tensor_proto(np.array(["a", "b"]), use_tensor_content=False))
    assert s.tolist() == [b"a", b"b"], s
    _protos.prediction_stub(type("C", (), {"unary_unary": lambda self, *a, **k: None})())
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
