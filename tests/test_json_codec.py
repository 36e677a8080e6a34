"""The TF Serving REST JSON codec: TF Serving's rules (json_tensor.cc, api_rest.md) and messages."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from yolo_tfserving.serving.json_codec import (
    STRING,
    InputSpec,
    format_classify_response,
    format_predict_response,
    format_regress_response,
    parse_classify_regress_request,
    parse_predict_request,
)
from yolo_tfserving.serving.json_codec._numbers import _decimal_text
from yolo_tfserving.serving.status import Code, ServingStatusError


def spec(dtype: Any, shape: tuple[int | None, ...] | None = None, name: str = "default") -> dict[str, InputSpec]:
    return {name: InputSpec(name, dtype, shape)}


INT32 = spec(np.int32)
FLOAT = spec(np.float32)
DOUBLE = spec(np.float64)
STR = spec(STRING)
MULTI = {
    "int_tensor": InputSpec("int_tensor", np.int32),
    "str_tensor": InputSpec("str_tensor", STRING),
    "float_tensor": InputSpec("float_tensor", np.float32),
    "dbl_tensor": InputSpec("dbl_tensor", np.float64),
}
TWO = {"int_tensor": InputSpec("int_tensor", np.int32), "str_tensor": InputSpec("str_tensor", STRING)}


def predict_error(body: str | bytes, inputs: dict[str, InputSpec], code: Code = Code.INVALID_ARGUMENT) -> str:
    with pytest.raises(ServingStatusError) as info:
        parse_predict_request(body, inputs)
    assert info.value.code == code, info.value.message
    return info.value.message


def classify_error(body: str | bytes) -> str:
    with pytest.raises(ServingStatusError) as info:
        parse_classify_regress_request(body)
    assert info.value.code == Code.INVALID_ARGUMENT, info.value.message
    return info.value.message


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ----------------------------------------------------------------------------------------------
# Predict requests: row format


def test_row_single_unnamed_tensor() -> None:
    data = parse_predict_request('{"instances": [[1,2],[3,4],[5,6]]}', INT32)
    assert data.row_format is True
    assert data.signature_name is None
    assert list(data.inputs) == ["default"]
    assert same_bits(data.inputs["default"], np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32))


def test_row_with_signature_name_and_bytes_body() -> None:
    data = parse_predict_request(b'{"signature_name": "predict_images", "instances": [[1,2]]}', INT32)
    assert data.signature_name == "predict_images"
    assert data.inputs["default"].shape == (1, 2)


def test_mixed_ints_and_decimals_for_float_and_double() -> None:
    floats = parse_predict_request('{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}', FLOAT).inputs["default"]
    assert same_bits(floats, np.array([1, 2.0, 3, 4, 5.003, 0.007, 0.0], dtype=np.float32))
    doubles = parse_predict_request('{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}', DOUBLE).inputs["default"]
    assert same_bits(doubles, np.array([1.0, 2, 3, 4, 0.662, 0, 0.0], dtype=np.float64))


def test_row_single_named_object_instances() -> None:
    data = parse_predict_request('{"instances": [{"default": [1, 2]}, {"default": [3, 4]}]}', INT32)
    assert same_bits(data.inputs["default"], np.array([[1, 2], [3, 4]], dtype=np.int32))


def test_row_base64_scalars_lists_and_named() -> None:
    scalars = parse_predict_request('{"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]}', STR)
    assert scalars.inputs["default"].dtype == object
    assert scalars.inputs["default"].tolist() == [b"hello", b"world"]
    lists = parse_predict_request('{"instances": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}', STR)
    assert lists.inputs["default"].shape == (2, 1)
    named = parse_predict_request('{"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]}', STR)
    assert named.inputs["default"].shape == (1, 2, 1)
    assert named.inputs["default"].ravel().tolist() == [b"hello", b"world"]


def test_row_multiple_named_tensors_with_nan_and_infinity() -> None:
    body = """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"], "float_tensor": [1.0, NaN],
         "dbl_tensor": [NaN]},
        {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"], "float_tensor": [2.0, Infinity],
         "dbl_tensor": [2.0]}
    ]}"""
    data = parse_predict_request(body, MULTI)
    assert data.row_format
    assert same_bits(
        data.inputs["int_tensor"], np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32)
    )
    assert data.inputs["str_tensor"].tolist() == [[b"foo", b"bar"], [b"baz", b"bat"]]
    floats = data.inputs["float_tensor"]
    assert floats.dtype == np.float32 and floats.shape == (2, 2)
    assert floats[0, 0] == 1.0 and np.isnan(floats[0, 1]) and floats[1, 0] == 2.0 and floats[1, 1] == np.inf
    doubles = data.inputs["dbl_tensor"]
    assert doubles.dtype == np.float64 and doubles.shape == (2, 1) and np.isnan(doubles[0, 0]) and doubles[1, 0] == 2


def test_strings_are_utf8_bytes_and_raw_bytes_pass_through() -> None:
    data = parse_predict_request('{"instances": ["h\\u00e9", "\u20ac"]}', STR)
    assert data.inputs["default"].tolist() == ["hé".encode(), "€".encode()]
    raw = parse_predict_request(b'{"instances": ["\xff\xfe", "ok"]}', STR)  # not UTF-8: kept as is
    assert raw.inputs["default"].tolist() == [b"\xff\xfe", b"ok"]


def test_empty_lists_and_scalars() -> None:
    assert parse_predict_request('{"instances": [[], []]}', FLOAT).inputs["default"].shape == (2, 0)
    assert parse_predict_request('{"inputs": []}', INT32).inputs["default"].shape == (0,)
    scalar = parse_predict_request('{"inputs": 7}', INT32).inputs["default"]
    assert scalar.shape == () and scalar.dtype == np.int32 and int(scalar) == 7


def test_every_dtype_in_range() -> None:
    for dtype, values in [
        (np.int8, [-128, 127]),
        (np.int16, [-32768, 32767]),
        (np.int32, [-(2**31), 2**31 - 1]),
        (np.int64, [-(2**63), 2**63 - 1]),
        (np.uint8, [0, 255]),
        (np.uint32, [0, 2**32 - 1]),
        (np.uint64, [0, 2**64 - 1]),
    ]:
        array = parse_predict_request(json.dumps({"instances": values}), spec(dtype)).inputs["default"]
        assert array.dtype == dtype and array.tolist() == values
    flags = parse_predict_request('{"instances": [true, false]}', spec(np.bool_)).inputs["default"]
    assert flags.dtype == np.bool_ and flags.tolist() == [True, False]


def test_float_limits_are_tf_servings() -> None:
    # Integer tokens up to 2**24-1 (float) / 2**53-1 (double) convert without loss; decimal tokens
    # up to the type's maximum are fine whatever they round to.
    assert parse_predict_request('{"instances": [16777215, -16777215]}', FLOAT).inputs["default"].tolist() == [
        16777215.0,
        -16777215.0,
    ]
    assert parse_predict_request('{"instances": [16777217.0, 1e38]}', FLOAT).inputs["default"][0] == 16777216.0
    assert parse_predict_request('{"instances": [9007199254740991]}', DOUBLE).inputs["default"][0] == 2**53 - 1
    huge = parse_predict_request('{"instances": [100000000000000000000000]}', DOUBLE).inputs["default"]
    assert huge[0] == 1e23  # beyond 64 bits RapidJSON reads an integer token as a double


def test_nan_and_infinity_tokens_as_rapidjson_reads_them() -> None:
    body = '{"instances": [NaN, Infinity, -Infinity, Inf, -Inf, -NaN, 1]}'
    values = parse_predict_request(body, FLOAT).inputs["default"]
    assert np.isnan(values[0]) and np.isnan(values[5])
    assert values[1:5].tolist() == [np.inf, -np.inf, np.inf, -np.inf]
    assert values[6] == 1
    # A "NaN" *string* is a string, not a number.
    message = predict_error('{"instances": ["NaN"]}', FLOAT)
    assert 'JSON Value: "NaN" Type: String is not of expected type: float' in message


def test_bool_tokens_elsewhere_do_not_leak_into_numbers() -> None:
    inputs = {"x": InputSpec("x", np.float32), "flag": InputSpec("flag", np.bool_)}
    data = parse_predict_request('{"instances": [{"x": [1.5, 2], "flag": true}]}', inputs)
    assert data.inputs["x"].tolist() == [[1.5, 2.0]] and data.inputs["flag"].tolist() == [True]
    message = predict_error('{"instances": [{"x": [1.5, true], "flag": true}]}', inputs)
    assert "JSON Value: true Type: True is not of expected type: float" in message


def test_bom_and_str_body() -> None:
    assert parse_predict_request(b'\xef\xbb\xbf{"inputs": [1]}', INT32).inputs["default"].tolist() == [1]
    assert parse_predict_request('{"inputs": [1]}', INT32).row_format is False


def test_large_float_body_is_parsed_exactly() -> None:
    image = np.random.default_rng(0).random((1, 64, 64, 3), dtype=np.float32)
    body = json.dumps({"instances": image.tolist()})
    assert same_bits(parse_predict_request(body, FLOAT).inputs["default"], image)
    columnar = json.dumps({"inputs": {"default": image.tolist()}})
    assert same_bits(parse_predict_request(columnar, FLOAT).inputs["default"], image)


# ----------------------------------------------------------------------------------------------
# Predict requests: columnar format


def test_columnar_single_tensor_named_and_unnamed() -> None:
    named = parse_predict_request(
        '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}', spec(np.int32, name="int_tensor")
    )
    unnamed = parse_predict_request('{"inputs": [[[1,2],[3,4],[5,6]]]}', spec(np.int32, name="int_tensor"))
    for data in (named, unnamed):
        assert data.row_format is False
        assert same_bits(data.inputs["int_tensor"], np.array([[[1, 2], [3, 4], [5, 6]]], np.int32))


def test_columnar_multiple_tensors_no_batch_stacking() -> None:
    inputs = {
        "int_tensor": InputSpec("int_tensor", np.int32),
        "str_tensor": InputSpec("str_tensor", STRING),
        "bin_tensor": InputSpec("bin_tensor", STRING),
    }
    body = """{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],
                          "bin_tensor": {"b64": "aGVsbG8="}, "ignored": 1}}"""
    data = parse_predict_request(body, inputs)
    assert data.inputs["int_tensor"].shape == (1, 3, 2)
    assert data.inputs["str_tensor"].tolist() == [b"foo", b"bar"]
    assert data.inputs["bin_tensor"].shape == () and data.inputs["bin_tensor"].item() == b"hello"


def test_columnar_single_b64_value() -> None:
    data = parse_predict_request('{"inputs": {"b64": "aGk="}}', STR)
    assert data.inputs["default"].item() == b"hi"


# ----------------------------------------------------------------------------------------------
# Predict request errors (TF Serving's messages)


def test_document_errors() -> None:
    assert predict_error("", INT32) == "JSON Parse error: The document is empty"
    assert predict_error(b"   ", INT32) == "JSON Parse error: The document is empty. at offset: 3"
    assert predict_error("[1, 2]", INT32) == "JSON Value: [\n    1,\n    2\n] Is not object"
    message = predict_error('{"signature_name": 5, "instances": [[1,2]]}', INT32)
    assert message.endswith("not formatted correctly. 'signature_name' key must be a string value.")
    assert predict_error("{}", {}) == "Failed to get input map for signature: DEFAULT"
    assert predict_error('{"signature_name": "s"}', {}) == "Failed to get input map for signature: s"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"instances": [1, 2', "JSON Parse error: Missing a comma or ']' after an array element. at offset: 19"),
        ('{"instances": [1, 2 3]}', "JSON Parse error: Missing a comma or ']' after an array element. at offset: 20"),
        ('{"a": 1 "b": 2}', "JSON Parse error: Missing a comma or '}' after an object member. at offset: 8"),
        ('{"a" 1}', "JSON Parse error: Missing a colon after a name of object member. at offset: 5"),
        ("{1: 2}", "JSON Parse error: Missing a name for object member. at offset: 1"),
        ('{"a": 1,}', "JSON Parse error: Missing a name for object member. at offset: 8"),
        ('{"a": "abc', "JSON Parse error: Missing a closing quotation mark in string. at offset: 10"),
        ('{"a": "\\q"}', "JSON Parse error: Invalid escape character in string. at offset: 7"),
        ('{"a": "\\u12x4"}', "JSON Parse error: Incorrect hex digit after \\u escape in string. at offset: "),
        ('{"a": "x\ty"}', "JSON Parse error: Invalid encoding in string. at offset: 8"),
        ('{"a": 1.}', "JSON Parse error: Miss fraction part in number. at offset: 8"),
        ('{"a": 1e+}', "JSON Parse error: Miss exponent in number. at offset: 9"),
        ('{"a": tru}', "JSON Parse error: Invalid value."),
        ('{"a": nan}', "JSON Parse error: Invalid value."),
        ('{"a": 1} x', "JSON Parse error: The document root must not be followed by other values."),
        ('{"a": Infx}', "JSON Parse error:"),
        ('{"inputs": [1e400]}', "JSON Parse error: Number too big to be stored in double. at offset: 12"),
    ],
)
def test_malformed_json(body: str, expected: str) -> None:
    assert predict_error(body, FLOAT).startswith(expected)


@pytest.mark.parametrize(
    "body", ['{"inputs": 1' + "0" * 5000 + "}", '{"instances": 1' + "0" * 400 + "}", "[1" + "0" * 400 + "]"]
)
def test_numbers_too_big_for_a_double(body: str) -> None:
    assert predict_error(body, FLOAT).startswith("JSON Parse error: Number too big to be stored in double. at offset: ")


def test_deeply_nested_json_is_an_invalid_argument() -> None:
    assert "nested too deeply" in predict_error("[" * 100_000 + "]" * 100_000, INT32)
    message = predict_error('{"inputs": ' + "[" * 40 + "1" + "]" * 40 + "}", INT32)
    assert "rank 40 is not supported" in message


def test_instances_and_inputs_keys() -> None:
    both = predict_error('{"instances": [1], "inputs": [1]}', INT32)
    assert both.startswith("JSON Value: {")
    assert both.endswith("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")
    assert predict_error('{"signature_name": "x"}', INT32) == "Missing 'inputs' or 'instances' key"
    assert predict_error('{"instances": 5}', INT32).endswith("Excepting 'instances' to be an list/array")
    assert predict_error('{"instances": []}', INT32).endswith("No values in 'instances' array")


def test_long_values_are_truncated_in_messages() -> None:
    message = predict_error(json.dumps({"instances": list(range(10_000)), "inputs": 1}), INT32)
    assert len(message) < 5000 and "..." in message


def test_ragged_instances() -> None:
    size = predict_error('{"instances": [[1,2],[3,4],[5,6,7]]}', INT32)
    assert size == (
        "Failed to process element: 2 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 2 but got: 3"
    )
    shape = predict_error('{"instances": [[1,2],[3,4],[[5,6]]]}', INT32)
    assert shape.endswith("Expecting shape [2] but got: [1,2]")
    scalar_then_list = predict_error('{"instances": [1, [1]]}', INT32)
    assert scalar_then_list.endswith("Expecting shape [] but got: [1]")


def test_ragged_inside_one_tensor() -> None:
    size = predict_error('{"inputs": [[1, 2], [3]]}', INT32)
    assert size == "Encountered list at unexpected size: 1 at level: 1 expected size: 2"
    deeper = predict_error('{"inputs": [[1, 2], [3, [4]]]}', INT32)
    assert deeper == "Encountered list at unexpected level: 2 expected < 2"
    shallower = predict_error('{"inputs": [[1, 2], 3]}', INT32)
    assert shallower == "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"


def test_type_errors_for_every_kind() -> None:
    assert predict_error('{"instances": [[1,2],["a", "b"]]}', INT32).endswith(
        'JSON Value: "a" Type: String is not of expected type: int32'
    )
    assert predict_error('{"instances": [1.5]}', INT32).endswith(
        "JSON Value: 1.5 Type: Number is not of expected type: int32"
    )
    assert predict_error('{"instances": [1.0]}', INT32).endswith("Type: Number is not of expected type: int32")
    assert predict_error('{"instances": [true]}', FLOAT).endswith(
        "JSON Value: true Type: True is not of expected type: float"
    )
    assert predict_error('{"instances": [null]}', DOUBLE).endswith(
        "JSON Value: null Type: Null is not of expected type: double"
    )
    assert predict_error('{"instances": [1]}', spec(np.bool_)).endswith(
        "JSON Value: 1 Type: Number is not of expected type: bool"
    )
    assert predict_error('{"instances": [1]}', STR).endswith(
        "JSON Value: 1 Type: Number is not of expected type: string"
    )
    obj = predict_error('{"inputs": [{"b64": "aGk="}]}', FLOAT)
    assert obj == 'JSON Value: {\n    "b64": "aGk="\n} Type: Object is not of expected type: float'


def test_integers_out_of_range() -> None:
    assert predict_error('{"instances": [2147483648]}', INT32).endswith(
        "JSON Value: 2147483648 Type: Number is not of expected type: int32"
    )
    # TF Serving lets these wrap; we refuse them with the same kind of message.
    assert predict_error('{"instances": [300]}', spec(np.uint8)).endswith("Type: Number is not of expected type: uint8")
    assert predict_error('{"instances": [-1]}', spec(np.uint32)).endswith("is not of expected type: uint32")
    assert (
        predict_error('{"inputs": [128]}', spec(np.int8))
        == "JSON Value: 128 Type: Number is not of expected type: int8"
    )
    assert predict_error('{"inputs": [18446744073709551616]}', spec(np.uint64)).endswith("expected type: uint64")


def test_loss_of_precision() -> None:
    big = predict_error('{"instances": [1.7976931348623157e308]}', FLOAT)
    assert big.endswith("Cannot convert JSON value: 1.7976931348623157e+308 to float without loss of precision.")
    assert predict_error('{"instances": [16777217]}', FLOAT).endswith(
        "Cannot convert JSON value: 16777217 to float without loss of precision."
    )
    assert predict_error('{"instances": [9007199254740993]}', DOUBLE).endswith(
        "Cannot convert JSON value: 9007199254740993 to double without loss of precision."
    )
    assert "to float without loss of precision" in predict_error('{"inputs": [1, 3.5e38]}', FLOAT)


def test_base64_errors() -> None:
    bad = predict_error('{"instances": [{"b64": "aGVsbG8="}, {"b64": "a"}]}', STR)
    assert bad == "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Unable to base64 decode"
    extra = predict_error('{"inputs": [{"b64": "aGk=", "x": 1}]}', STR)
    assert extra == 'JSON Value: {\n    "b64": "aGk=",\n    "x": 1\n} not formatted correctly for base64 data'
    assert predict_error('{"inputs": [{"b64": "aGk=YQ=="}]}', STR) == "Unable to base64 decode"
    # absl's decoder: whitespace ignored, padding optional.
    lenient = parse_predict_request('{"inputs": [{"b64": "aGVs\\nbG8"}, {"b64": "aGk"}]}', STR)
    assert lenient.inputs["default"].tolist() == [b"hello", b"hi"]


def test_unsupported_dtype_is_unimplemented() -> None:
    assert (
        predict_error('{"inputs": [3]}', spec(np.uint16), Code.UNIMPLEMENTED)
        == "Conversion of JSON Value: 3 to type: uint16"
    )
    wrapped = predict_error('{"instances": [3]}', spec(np.float16))
    assert wrapped == (
        "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: "
        "Conversion of JSON Value: 3 to type: half"
    )


def test_mixed_object_and_list_instances() -> None:
    body = """{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]}, [1, 20, 30],
                             {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}"""
    assert predict_error(body, TWO) == "Expecting object but got list at item 1 of input list"
    single = '{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}'
    assert (
        predict_error(single, spec(STRING, name="str_tensor"))
        == "Expecting value/list but got object at item 1 of input list"
    )


def test_multi_input_instance_errors() -> None:
    shapes = """{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
                               {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}"""
    assert predict_error(shapes, TWO) == (
        "Failed to process element: 1 key: int_tensor of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting shape [3,2] but got: [1,3,2]"
    )
    sizes = """{"instances": [{"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
                              {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]}"""
    assert "Expecting tensor size: 8 but got: 6" in predict_error(sizes, TWO)
    plain = predict_error('{"instances": [[1, 2]]}', TWO)
    assert plain == (
        "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
        "tensorinfo_map"
    )
    assert "instances is a plain list" in predict_error('{"instances": [{"b64": "aGk="}]}', TWO)


def test_unknown_and_missing_aliases() -> None:
    unknown = predict_error('{"instances": [{"int_tensor": 1, "str_tensor": "a", "zzz": 3}]}', TWO)
    assert unknown == (
        "Failed to process element: 0 key: zzz of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: zzz"
    )
    missing = predict_error('{"instances": [{"int_tensor": 1}]}', TWO)
    assert missing == (
        "Failed to process element: 0 of 'instances' list. JSON object: {\n    \"int_tensor\": 1\n} "
        "must only have keys: int_tensor,str_tensor"
    )
    assert predict_error('{"inputs": {"int_tensor": 1}}', TWO) == "Missing named input: str_tensor in 'inputs' object."
    assert predict_error('{"inputs": {"other": [1]}}', INT32) == "Missing named input: default in 'inputs' object."
    assert predict_error('{"inputs": [1]}', TWO) == (
        "inputs is a plain value/list, but expecting an object as multiple input tensors required as per tensorinfo_map"
    )


def test_signature_shape_is_not_checked() -> None:
    """TF Serving's JSON layer leaves shapes to TensorFlow: a tensor whose shape differs from the signature's
    static shape parses as it is (issue 9: REST instances of shape [3] for a [?,1] signature were refused)."""
    images = spec(np.float32, (None, 2, 2, 3), name="images")
    good = parse_predict_request(json.dumps({"instances": np.zeros((2, 2, 2, 3)).tolist()}), images)
    assert good.inputs["images"].shape == (2, 2, 2, 3)
    row = parse_predict_request(json.dumps({"instances": np.zeros((1, 2, 2)).tolist()}), images)
    assert row.inputs["images"].shape == (1, 2, 2)
    columnar = parse_predict_request(json.dumps({"inputs": np.zeros((1, 2, 3, 3)).tolist()}), images)
    assert columnar.inputs["images"].shape == (1, 2, 3, 3)
    x = spec(np.float32, (None, 1), name="x")
    assert parse_predict_request('{"instances": [1.0, 2.0, 5.0]}', x).inputs["x"].shape == (3,)
    assert parse_predict_request('{"inputs": [[[1]]]}', spec(np.float32, None)).inputs["default"].shape == (1, 1, 1)


def test_error_messages_are_printable_for_non_utf8_bodies() -> None:
    message = predict_error(b'{"instances": ["\xff"]}', INT32)
    assert message.endswith('JSON Value: "\ufffd" Type: String is not of expected type: int32')
    message.encode("utf-8")  # no lone surrogates


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=JSON_VALUES,
    dtype=st.sampled_from(
        [np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_, STRING, np.uint16]
    ),
    key=st.sampled_from(["instances", "inputs"]),
)
def test_any_json_gives_tensors_or_a_status_error(value: Any, dtype: Any, key: str) -> None:
    for inputs in (spec(dtype), {"a": InputSpec("a", dtype), "b": InputSpec("b", np.float32)}):
        try:
            data = parse_predict_request(json.dumps({key: value}), inputs)
        except ServingStatusError as err:
            assert err.code in (Code.INVALID_ARGUMENT, Code.UNIMPLEMENTED) and err.message
        else:
            assert all(isinstance(array, np.ndarray) for array in data.inputs.values())


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=40) | st.text(max_size=40).map(lambda s: '{"inputs": ' + s))
def test_any_bytes_give_tensors_or_a_status_error(body: bytes | str) -> None:
    try:
        parse_predict_request(body, FLOAT)
    except ServingStatusError as err:
        assert err.code == Code.INVALID_ARGUMENT and err.message


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.floats(width=32)))
def test_fast_and_exact_paths_agree(array: np.ndarray) -> None:
    body = json.dumps({"inputs": array.tolist()})
    parsed = parse_predict_request(body, FLOAT).inputs["default"]
    assert same_bits(parsed, array) or (np.isnan(parsed) == np.isnan(array)).all()
    nested = json.dumps({"instances": [{"default": array.tolist()}]})
    assert parse_predict_request(nested, FLOAT).inputs["default"].shape == (1, *array.shape)


# ----------------------------------------------------------------------------------------------
# Predict responses


def parsed(body: bytes) -> Any:
    return json.loads(body)


def test_row_and_columnar_single_tensor() -> None:
    tensor = np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], dtype=np.int32)
    assert parsed(format_predict_response({"int_tensor": tensor}, row_format=True)) == {"predictions": tensor.tolist()}
    assert parsed(format_predict_response({"int_tensor": tensor}, row_format=False)) == {"outputs": tensor.tolist()}
    scalars = np.array([1, 2, 3, 4, 5], dtype=np.int32)
    assert parsed(format_predict_response({"int_tensor": scalars}, row_format=True)) == {"predictions": [1, 2, 3, 4, 5]}
    assert parsed(format_predict_response({"x": np.array(3.5, np.float32)}, row_format=False)) == {"outputs": 3.5}


def test_bytes_tensor_is_base64() -> None:
    tensor = np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object)
    assert parsed(format_predict_response({"str_tensor_bytes": tensor}, row_format=True)) == {
        "predictions": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}], [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]
    }
    # The suffix only matters for strings.
    assert parsed(format_predict_response({"x_bytes": np.array([1], np.int32)}, row_format=True)) == {
        "predictions": [1]
    }


def test_strings_are_written_raw() -> None:
    tensor = np.array([b"caf\xc3\xa9", b"\xff\x01", 'quote"%s'], dtype=object)
    body = format_predict_response({"s": tensor}, row_format=False)
    assert body == b'{"outputs": [' + '"café"'.encode() + b',"\xff\\u0001","quote\\"%s"]}'


def test_six_digit_precision_like_tf_serving() -> None:
    tensor = np.array([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]], dtype=np.float32)
    body = format_predict_response({"float_tensor": tensor}, row_format=True)
    assert body == b'{"predictions": [[9e+06,999999.0,0.5],[0.0003,3e-05,555557.5]]}'


def test_float_texts_like_write_decimal() -> None:
    values = np.array([0.1, 0.2, 16777216, 1.0, -0.0, 0, 1e-40, 3.4e38, 123456.7, 1 / 3, 2.5e-7], np.float32)
    body = format_predict_response({"f": values}, row_format=False)
    assert body == (
        b'{"outputs": [0.1,0.2,16777216.0,1.0,-0.0,0.0,9.99995e-41,3.4e+38,123456.703,0.333333343,2.5e-07]}'
    )
    doubles = np.array([0.1, 1 / 3, 1e6, 123456789.0, 1e300, 5e-324, 0.2], np.float64)
    body = format_predict_response({"d": doubles}, row_format=False)
    assert body == b'{"outputs": [0.1,0.33333333333333331,1e+06,123456789.0,1e+300,4.94066e-324,0.2]}'


def test_non_finite_floats() -> None:
    tensor = np.array([[np.nan, np.inf], [3, -np.inf]], dtype=np.float32)
    body = format_predict_response({"float_tensor": tensor}, row_format=True)
    assert body == b'{"predictions": [[NaN,Infinity],[3.0,-Infinity]]}'
    decoded = json.loads(body)["predictions"]  # Python's json reads these tokens
    assert math.isnan(decoded[0][0]) and decoded[0][1] == math.inf and decoded[1][1] == -math.inf


def test_multiple_named_tensors() -> None:
    outputs = {
        "int_tensor": np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32),
        "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], dtype=object),
        "float_tensor": np.array([[1.0], [2.0]], np.float32),
        "double_scalar_tensor": np.array([8.0, 9.0], np.float64),
        "str_tensor_bytes": np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object),
        "flags": np.array([True, False]),
    }
    assert parsed(format_predict_response(outputs, row_format=True)) == {
        "predictions": [
            {
                "int_tensor": [[1, 2], [3, 4], [5, 6]],
                "str_tensor": ["foo", "bar"],
                "float_tensor": [1.0],
                "double_scalar_tensor": 8.0,
                "str_tensor_bytes": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
                "flags": True,
            },
            {
                "int_tensor": [[7, 8], [9, 0], [1, 2]],
                "str_tensor": ["baz", "bat"],
                "float_tensor": [2.0],
                "double_scalar_tensor": 9.0,
                "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
                "flags": False,
            },
        ]
    }
    assert parsed(format_predict_response(outputs, row_format=False)) == {
        "outputs": {
            "int_tensor": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]],
            "str_tensor": [["foo", "bar"], ["baz", "bat"]],
            "float_tensor": [[1.0], [2.0]],
            "double_scalar_tensor": [8.0, 9.0],
            "str_tensor_bytes": [
                [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
                [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
            ],
            "flags": [True, False],
        }
    }


def test_member_names_are_escaped() -> None:
    outputs = {'a"%s': np.array([1], np.int32), "b%d": np.array([2.5], np.float32)}
    assert parsed(format_predict_response(outputs, row_format=True)) == {"predictions": [{'a"%s': 1, "b%d": 2.5}]}
    assert parsed(format_predict_response(outputs, row_format=False)) == {"outputs": {'a"%s': [1], "b%d": [2.5]}}


def test_empty_and_zero_sized_tensors() -> None:
    assert parsed(format_predict_response({"x": np.zeros((2, 0, 3), np.float32)}, row_format=True)) == {
        "predictions": [[], []]
    }
    assert parsed(format_predict_response({"x": np.zeros((0, 3), np.int64)}, row_format=False)) == {"outputs": []}
    assert parsed(format_predict_response({"x": np.zeros((0,), np.float16)}, row_format=False)) == {"outputs": []}


def response_error(outputs: dict[str, np.ndarray], row_format: bool = True) -> str:
    with pytest.raises(ServingStatusError) as info:
        format_predict_response(outputs, row_format=row_format)
    assert info.value.code == Code.INVALID_ARGUMENT
    return info.value.message


def test_response_errors() -> None:
    assert response_error({}) == "Cannot convert empty tensor map to JSON"
    inconsistent = {
        "int_tensor": np.zeros((2, 3), np.int32),
        "str_tensor": np.array([[b"a", b"b", b"c"]], dtype=object),
    }
    assert response_error(inconsistent) == "Tensor name: str_tensor has inconsistent batch size: 1 expecting: 2"
    assert parsed(format_predict_response(inconsistent, row_format=False))["outputs"]["str_tensor"] == [["a", "b", "c"]]
    assert response_error({"tensor": np.array(1, np.int32)}) == "Tensor name: tensor has no shape information "
    assert response_error({"tensor": np.zeros((0, 2), np.int32)}) == "Tensor name: tensor has invalid batch size: 0"
    assert (
        response_error({"tensor": np.ones(2, np.complex64)}) == "Failed to write JSON value for tensor type: complex64"
    )
    assert (
        response_error({"tensor": np.ones(2, np.float16)}, False) == "Failed to write JSON value for tensor type: half"
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_float32_round_trips_bit_for_bit(values: list[float]) -> None:
    array = np.array(values, dtype=np.float32)
    decoded = np.array(json.loads(format_predict_response({"x": array}, row_format=False))["outputs"], np.float64)
    assert same_bits(decoded.astype(np.float32), array)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_float64_round_trips_bit_for_bit(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    decoded = np.array(json.loads(format_predict_response({"x": array}, row_format=False))["outputs"], np.float64)
    assert same_bits(decoded, array)


SPECIAL_FLOATS = st.sampled_from([0.5, 555557.5, 999999.5, 9.999995, 1e-14, 9.9999e-15, 1e27, 1e6, 16777216.0, 0.0])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(width=32) | SPECIAL_FLOATS | st.integers(-(10**9), 10**9).map(float), min_size=1, max_size=40),
    st.booleans(),
)
def test_vectorised_text_equals_write_decimal(values: list[float], single: bool) -> None:
    """Every number is written exactly as TF Serving's WriteDecimal writes it, one by one."""
    array = np.array(values, dtype=np.float32 if single else np.float64)
    body = format_predict_response({"x": array}, row_format=False).decode()
    texts = body[len('{"outputs": [') : -2].split(",")
    assert texts == [_decimal_text(float(v), single=single) for v in array.tolist()]


def test_write_decimal_rules() -> None:
    text = _decimal_text
    assert text(float(np.float32(0.1)), single=True) == "0.1"
    assert text(float(np.float32(1 / 3)), single=True) == "0.333333343"
    assert text(1 / 3, single=False) == "0.33333333333333331"
    assert text(9e6, single=True) == "9e+06"
    assert text(999999.0, single=True) == "999999.0"
    assert text(-0.0, single=True) == "-0.0"
    assert text(math.nan, single=False) == "NaN"
    assert text(-math.inf, single=True) == "-Infinity"


def test_big_output_round_trips_bit_for_bit() -> None:
    """A detection head's output (its speed: bench/codec_speed.py)."""
    output = np.random.default_rng(1).random((1, 25200, 85), dtype=np.float32) * 640
    body = format_predict_response({"output0": output}, row_format=True)
    decoded = np.array(json.loads(body)["predictions"], np.float64).astype(np.float32)
    assert same_bits(decoded, output)


# ----------------------------------------------------------------------------------------------
# Classify / regress


def test_classify_request_without_context() -> None:
    body = """{"examples": [{"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20},
                            {"names": ["baz"], "ratings": 6.0}]}"""
    data = parse_classify_regress_request(body)
    assert data.signature_name is None and data.context is None
    assert data.examples == [
        {"names": [b"foo", b"bar"], "ratings": [8.0, 9.0], "age": [20]},
        {"names": [b"baz"], "ratings": [6.0]},
    ]


def test_classify_request_with_context_and_signature() -> None:
    body = """{"signature_name": "custom_signture", "context": {"query": "pizza", "location": ["sfo"]},
               "examples": [
                 {"names": ["foo", "bar"], "ratings": [8.0, 9.0, NaN, Infinity], "age": 20},
                 {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0, "intboolmix": [1, true, false]},
                 {"names": "bar", "ratings": -Infinity}]}"""
    data = parse_classify_regress_request(body)
    assert data.signature_name == "custom_signture"
    assert data.context == {"query": [b"pizza"], "location": [b"sfo"]}
    first, second, third = data.examples
    assert first["names"] == [b"foo", b"bar"] and first["age"] == [20]
    assert first["ratings"][:2] == [8.0, 9.0] and math.isnan(first["ratings"][2]) and first["ratings"][3] == math.inf
    assert second == {"names": [b"baz", b"hello"], "ratings": [6.0], "intboolmix": [1, 1, 0]}
    assert third == {"names": [b"bar"], "ratings": [-math.inf]}
    # Float features are float32 values (tf.train.FloatList).
    assert parse_classify_regress_request('{"examples": [{"x": 0.1}]}').examples[0]["x"] == [float(np.float32(0.1))]


def test_classify_request_errors() -> None:
    assert classify_error('{"signature_name": ["hello"], "examples": [{"names": ["foo"]}]}').endswith(
        "'signature_name' key must be a string value."
    )
    assert (
        classify_error('{"context": [{"names": ["foo", "bar"]}]}') == "Example must be JSON object but got JSON Array"
    )
    assert classify_error('{"examples": {"names": ["foo", "bar"]}}').endswith(
        "Expecting 'examples' value to be an list/array"
    )
    assert classify_error('{"examples": []}').endswith("'examples' value is an empty array")
    assert classify_error('{"examples": [[{"names": ["foo"]}]]}') == "Example must be JSON object but got JSON Array"
    missing = classify_error('{"context": {}}')
    assert (
        missing
        == "JSON Value: {\n    \"context\": {}\n} When method is classify, key 'examples' is expected and was not found"
    )
    assert classify_error('{"examples": [{"names": [10, null]}]}') == (
        "Feature: names has element with unexpected JSON type: Null"
    )
    assert classify_error('{"examples": [{"names": [10, 10.0]}]}') == (
        "Unexpected element type in feature: names expecting type: int64"
    )
    assert classify_error('{"examples": [{"names": [10, {"test": 10}]}]}').endswith("unexpected JSON type: Object")
    assert classify_error('{"examples": [{"names": [[10], 20]}]}').endswith("unexpected JSON type: Array")
    assert classify_error('{"examples": [{"names": [20, 18446744073709551603]}]}') == (
        "Feature: names has uint64 element. Only int64 is supported."
    )
    assert classify_error('{"examples": [{"names": 1.7976931348623157e308}]}') == (
        "Cannot convert JSON value: 1.7976931348623157e+308 to float without loss of precision."
    )
    assert classify_error('{"examples": [{"names": ["a", 1]}]}') == (
        "Unexpected element type in feature: names expecting type: bytes"
    )
    assert classify_error('{"examples": [{"x": {"b64": "a"}}]}') == "Unable to base64 decode"
    assert classify_error('{"examples": [{"x": 1e999}]}').startswith("JSON Parse error: Number too big")
    assert classify_error("[]") == "JSON Value: [] Is not object"


def test_classify_and_regress_responses() -> None:
    body = format_classify_response([[("car", 0.2), ("bike", 0.7), ("bus", 0.1)], [("car", 0.7), ("bike", 0.1)]])
    assert body == b'{"results": [[["car", 0.2], ["bike", 0.7], ["bus", 0.1]], [["car", 0.7], ["bike", 0.1]]]}'
    assert format_regress_response([0.2, 0.9, 1.0]) == b'{"results": [0.2, 0.9, 1.0]}'
    non_finite = format_regress_response([0.2, math.inf, 1.0, -math.inf, math.nan])
    assert non_finite == b'{"results": [0.2, Infinity, 1.0, -Infinity, NaN]}'
    with pytest.raises(ServingStatusError, match="Cannot convert empty ClassificationResults to JSON"):
        format_classify_response([])
    with pytest.raises(ServingStatusError, match="Cannot convert empty RegressionResults to JSON"):
        format_regress_response([])


def test_base64_round_trip_through_codec() -> None:
    payload = bytes(range(256))
    encoded = base64.b64encode(payload).decode()
    data = parse_predict_request(json.dumps({"instances": [{"b64": encoded}]}), STR)
    body = format_predict_response({"out_bytes": data.inputs["default"]}, row_format=True)
    assert base64.b64decode(json.loads(body)["predictions"][0]["b64"]) == payload
