"""The gRPC front end against a real server: TF Serving's PredictionService and ModelService contract.

Two tiny models, each with versions 1 (``y = 0.5 x + 2``) and 2 (``y = 0.5 x + 3``), labels ``stable`` -> 1
and ``canary`` -> 2:

- ``half_plus_two``: TF2 (``tf.Module`` + ``tf.function``), ``serving_default`` x float [None] ->
  y float and ``label`` string (``b"high"`` where y >= 3.5, else ``b"low"``);
- ``half_plus_two_examples``: TF1 graph (``SavedModelBuilder``), serialized tf.Example ``x`` in, signatures
  ``classify`` (classes ``["low", "high"]``, scores ``[y, y + 1]``) and ``regress`` (outputs ``y``).

Everything goes over a real ``grpc.insecure_channel`` with our TF-free stubs.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("tensorflow")

from yolo_tfserving._wire.enums import DataType, ModelVersionState  # noqa: E402
from yolo_tfserving._wire.messages import messages  # noqa: E402
from yolo_tfserving._wire.services import PREDICTION_SERVICE, model_stub, prediction_stub  # noqa: E402
from yolo_tfserving._wire.tensors import ndarray_to_tensor_proto, tensor_proto_to_ndarray  # noqa: E402

MODEL = "half_plus_two"
EXAMPLES = "half_plus_two_examples"
OFFSETS = {1: 2.0, 2: 3.0}
UNLIMITED = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


# -- models ------------------------------------------------------------------------------------


def _build_tf2(path: Path, offset: float) -> None:
    import tensorflow as tf

    class HalfPlus(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(offset)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            y = self.a * x + self.b
            return {"y": y, "label": tf.where(y >= 3.5, tf.constant(b"high"), tf.constant(b"low"))}

    module = HalfPlus()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def _build_tf1_examples(path: Path, offset: float) -> None:
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as sess:
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        x = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]  # [batch, 1]
        y = tf.add(tf.multiply(0.5, x), offset, name="y")
        classes = tf.tile(tf.constant([["low", "high"]]), [tf.shape(x)[0], 1], name="classes")
        scores = tf.concat([y, y + 1.0], axis=1, name="scores")
        signatures = {
            "classify": v1.saved_model.classification_signature_def(serialized, classes, scores),
            "regress": v1.saved_model.regression_signature_def(serialized, y),
        }
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(
            sess, [v1.saved_model.tag_constants.SERVING], signature_def_map=signatures, strip_default_attrs=True
        )
        builder.save()


@pytest.fixture(scope="session")
def model_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("grpc-models")
    for version, offset in OFFSETS.items():
        _build_tf2(base / MODEL / str(version), offset)
        _build_tf1_examples(base / EXAMPLES / str(version), offset)
    config = base / "models.config"
    blocks = [
        f'config {{ name: "{name}" base_path: "{base / name}" model_platform: "tensorflow" '
        f"model_version_policy {{ all {{}} }} "
        f'version_labels {{ key: "stable" value: 1 }} version_labels {{ key: "canary" value: 2 }} }}'
        for name in (MODEL, EXAMPLES)
    ]
    config.write_text("model_config_list {\n" + "\n".join(blocks) + "\n}\n")
    return base


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(model_base: Path) -> Iterator[Any]:
    from yolo_tfserving.serving.server import ModelServer, ServerOptions

    # ServerOptions(port=0) means "no gRPC" to ModelServer (as --rest_api_port=0 means no REST), so pick a free
    # port here; the front end turns SO_REUSEPORT off, so a port taken meanwhile fails loudly and is retried.
    last: Exception | None = None
    for _ in range(5):
        options = ServerOptions(
            port=_free_port(),
            rest_api_port=0,
            model_config_file=str(model_base / "models.config"),
            file_system_poll_wait_seconds=0,
            enable_model_warmup=False,
            # the config labels versions at start-up, before they load (TF Serving refuses that without this flag)
            allow_version_labels_for_unavailable_models=True,
        )
        try:
            srv = ModelServer(options)
            break
        except OSError as exc:
            last = exc
    else:
        raise AssertionError(f"could not bind a gRPC port: {last}")
    srv.start()
    assert srv.grpc_port
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def channel(server: Any) -> Iterator[Any]:
    with grpc.insecure_channel(f"localhost:{server.grpc_port}", options=UNLIMITED) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


@pytest.fixture(scope="session")
def stub(channel: Any) -> Any:
    return prediction_stub(channel)


@pytest.fixture(scope="session")
def mstub(channel: Any) -> Any:
    return model_stub(channel)


# -- helpers ------------------------------------------------------------------------------------

M = messages()


def _spec(
    msg: Any, name: str = MODEL, *, version: int | None = None, label: str | None = None, signature: str | None = None
) -> None:
    msg.model_spec.name = name
    if version is not None:
        msg.model_spec.version.value = version
    if label is not None:
        msg.model_spec.version_label = label
    if signature is not None:
        msg.model_spec.signature_name = signature


def _predict_request(x: Any = (1.0, 2.0, 5.0), *, typed: bool = True, **spec: Any) -> Any:
    request = M.PredictRequest()
    _spec(request, **spec)
    request.inputs["x"].CopyFrom(ndarray_to_tensor_proto(np.asarray(x, np.float32), encoding=_encoding(typed)))
    return request


def _encoding(typed: bool) -> Any:
    return "typed_fields" if typed else "make_tensor_proto"


def _expect(code: Any, call: Any, request: Any, contains: str = "") -> str:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    codes = code if isinstance(code, tuple) else (code,)
    assert info.value.code() in codes, (info.value.code(), info.value.details())
    details: str = info.value.details()
    assert contains in details, details
    return details


def _example(**features: float) -> Any:
    example = M.Example()
    for key, value in features.items():
        example.features.feature[key].float_list.value.append(value)
    return example


def _fill_input(request_input: Any, xs: list[float | None], context: Any) -> None:
    """An ``Input``: one Example per x (``None``: an Example without ``x``), with ``context`` if given."""
    examples = [_example(x=x) if x is not None else M.Example() for x in xs]
    if context is None:
        request_input.example_list.examples.extend(examples)
    else:
        request_input.example_list_with_context.context.CopyFrom(context)
        request_input.example_list_with_context.examples.extend(examples)


def _classify_request(xs: list[float | None], *, context: Any = None, version: int | None = None) -> Any:
    request = M.ClassificationRequest()
    _spec(request, EXAMPLES, version=version, signature="classify")
    _fill_input(request.input, xs, context)
    return request


def _regress_request(
    xs: list[float | None], *, context: Any = None, version: int | None = None, label: str | None = None
) -> Any:
    request = M.RegressionRequest()
    _spec(request, EXAMPLES, version=version, label=label, signature="regress")
    _fill_input(request.input, xs, context)
    return request


# -- Predict ------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [True, False], ids=["float_val", "tensor_content"])
def test_predict_latest(stub: Any, typed: bool) -> None:
    response = stub.Predict(_predict_request(typed=typed), timeout=30)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    y = response.outputs["y"]
    assert y.dtype == DataType.DT_FLOAT
    assert [d.size for d in y.tensor_shape.dim] == [3]
    assert list(y.float_val) == [3.5, 4.0, 5.5] and not y.tensor_content  # AsProtoField: typed values
    np.testing.assert_allclose(tensor_proto_to_ndarray(y), [3.5, 4.0, 5.5])
    label = response.outputs["label"]
    assert label.dtype == DataType.DT_STRING
    assert list(label.string_val) == [b"high", b"high", b"high"]
    assert not label.tensor_content


def test_predict_single_element_output(stub: Any) -> None:
    response = stub.Predict(_predict_request([0.0], version=1), timeout=30)
    np.testing.assert_allclose(tensor_proto_to_ndarray(response.outputs["y"]), [2.0])
    assert list(response.outputs["label"].string_val) == [b"low"]


@pytest.mark.parametrize(
    ("spec", "version", "offset"),
    [
        ({"version": 1}, 1, 2.0),
        ({"version": 2}, 2, 3.0),
        ({"label": "stable"}, 1, 2.0),
        ({"label": "canary"}, 2, 3.0),
    ],
)
def test_predict_version_and_label(stub: Any, spec: dict[str, Any], version: int, offset: float) -> None:
    response = stub.Predict(_predict_request([4.0], **spec), timeout=30)
    assert response.model_spec.version.value == version
    np.testing.assert_allclose(tensor_proto_to_ndarray(response.outputs["y"]), [2.0 + offset])


def test_predict_output_filter(stub: Any) -> None:
    request = _predict_request([1.0, 3.0], version=1)
    request.output_filter.append("label")
    response = stub.Predict(request, timeout=30)
    assert set(response.outputs) == {"label"}
    assert list(response.outputs["label"].string_val) == [b"low", b"high"]


def test_predict_large_tensor_over_default_grpc_limit(stub: Any) -> None:
    # 8 MB, twice gRPC's default 4 MB limit (a batch of 4: the signature's [?] x takes any shape)
    x = np.arange(2_000_000, dtype=np.float32).reshape(4, 500_000)
    request = _predict_request(x, typed=False, version=1)
    request.output_filter.append("y")
    response = stub.Predict(request, timeout=60)
    np.testing.assert_allclose(tensor_proto_to_ndarray(response.outputs["y"]), 0.5 * x + 2.0)


@pytest.mark.parametrize(
    ("request_kwargs", "code", "message"),
    [
        ({"name": "nope"}, "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        ({"version": 9}, "NOT_FOUND", f"Servable not found for request: Specific({MODEL}, 9)"),
        ({"label": "nope"}, "INVALID_ARGUMENT", "Unrecognized servable version label: nope"),
        # TF Serving 2.19's predict_util.cc answers FAILED_PRECONDITION 'Serving signature key "nope" not found.';
        # the core answers INVALID_ARGUMENT (TF Serving's older wording): either is a client error naming the key
        ({"signature": "nope"}, "INVALID_ARGUMENT|FAILED_PRECONDITION", '"nope"'),
        ({"name": ""}, "INVALID_ARGUMENT", "ModelSpec has no name specified."),
    ],
)
def test_predict_bad_model_spec(stub: Any, request_kwargs: dict[str, Any], code: str, message: str) -> None:
    codes = tuple(grpc.StatusCode[c] for c in code.split("|"))
    _expect(codes, stub.Predict, _predict_request(**request_kwargs), message)


def test_predict_missing_model_spec(stub: Any) -> None:
    request = M.PredictRequest()
    request.inputs["x"].CopyFrom(ndarray_to_tensor_proto(np.ones(2, np.float32)))
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, "Missing ModelSpec")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.ones(3, np.float64), "Expects arg[x] to be float but double is provided"),
        (np.ones(3, np.int32), "Expects arg[x] to be float but int32 is provided"),
        (np.asarray([b"a", b"b"], dtype=object), "Expects arg[x] to be float but string is provided"),
    ],
)
def test_predict_wrong_dtype(stub: Any, value: np.ndarray, message: str) -> None:
    request = M.PredictRequest()
    _spec(request)
    request.inputs["x"].CopyFrom(ndarray_to_tensor_proto(value))
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, message)


def test_predict_wrong_alias(stub: Any) -> None:
    request = M.PredictRequest()
    _spec(request)
    request.inputs["z"].CopyFrom(ndarray_to_tensor_proto(np.ones(3, np.float32)))
    alias = "Signature input alias: x(feed name: serving_default_x:0)"
    details = _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, alias)
    assert details.endswith(
        "not found in request and no default value provided. Inputs expected to be in the request {z}, or default "
        "input alias set: "
    )


def test_predict_extra_alias(stub: Any) -> None:
    request = _predict_request()
    request.inputs["z"].CopyFrom(ndarray_to_tensor_proto(np.ones(3, np.float32)))
    details = _expect(
        grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, "input size does not match signature: 2!=1"
    )
    assert "Sent extra: {z}" in details


def test_predict_missing_input(stub: Any) -> None:
    request = M.PredictRequest()
    _spec(request)
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, "input size does not match signature: 0!=1")


def test_predict_unknown_output_filter(stub: Any) -> None:
    request = _predict_request()
    request.output_filter.append("nope")
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, "output tensor alias not found in signature: nope")


@pytest.mark.parametrize("corrupt", ["short_content", "too_many_values", "string_content", "bad_dtype", "neg_dim"])
def test_predict_malformed_tensor(stub: Any, corrupt: str) -> None:
    request = M.PredictRequest()
    _spec(request)
    proto = request.inputs["x"]
    proto.dtype = DataType.DT_FLOAT
    proto.tensor_shape.dim.add(size=3)
    if corrupt == "short_content":
        proto.tensor_content = b"\x00" * 5
    elif corrupt == "too_many_values":
        proto.float_val.extend([1.0] * 4)
    elif corrupt == "string_content":
        proto.dtype = DataType.DT_STRING
        proto.tensor_content = b"abc"
    elif corrupt == "bad_dtype":
        proto.dtype = DataType.DT_RESOURCE
    else:
        proto.tensor_shape.dim[0].size = -1
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, "tensor parsing error: x")


def test_predict_shape_is_left_to_tensorflow(stub: Any) -> None:
    """As TF Serving, no check against the signature's static shape: a [2,2] x for a [?] signature is computed
    (issue 9: it was refused), and what the graph cannot compute is TensorFlow's INVALID_ARGUMENT."""
    response = stub.Predict(_predict_request(np.ones((2, 2), np.float32)), timeout=30)
    y = tensor_proto_to_ndarray(response.outputs["y"])
    assert y.shape == (2, 2)
    np.testing.assert_allclose(y, 3.5)
    request = M.PredictRequest()
    _spec(request, EXAMPLES, version=1, signature="regress")
    request.inputs["inputs"].CopyFrom(ndarray_to_tensor_proto(np.array([[b"a", b"b"], [b"c", b"d"]], dtype=object)))
    # shape inference refuses it first (a shape the signature does not declare: serving/shape_guard.py)
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Predict, request, "Shape must be at most rank 1 but is rank 2")


# -- GetModelMetadata ---------------------------------------------------------------------------


def _metadata_request(name: str = MODEL, fields: tuple[str, ...] = ("signature_def",), **spec: Any) -> Any:
    request = M.GetModelMetadataRequest()
    _spec(request, name, **spec)
    request.metadata_field.extend(fields)
    return request


def test_metadata(stub: Any) -> None:
    response = stub.GetModelMetadata(_metadata_request(), timeout=30)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == ""
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    sig_map = M.SignatureDefMap.FromString(packed.value)
    sig = sig_map.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert sig.inputs["x"].dtype == DataType.DT_FLOAT
    assert [d.size for d in sig.inputs["x"].tensor_shape.dim] == [-1]
    assert sig.outputs["y"].dtype == DataType.DT_FLOAT
    assert [d.size for d in sig.outputs["y"].tensor_shape.dim] == [-1]
    assert sig.outputs["label"].dtype == DataType.DT_STRING


def test_metadata_classify_regress_signatures(stub: Any) -> None:
    response = stub.GetModelMetadata(_metadata_request(EXAMPLES, label="stable"), timeout=30)
    assert response.model_spec.version.value == 1
    sigs = M.SignatureDefMap.FromString(response.metadata["signature_def"].value).signature_def
    assert sigs["classify"].method_name == "tensorflow/serving/classify"
    assert set(sigs["classify"].outputs) == {"classes", "scores"}
    assert sigs["classify"].outputs["classes"].dtype == DataType.DT_STRING
    assert sigs["regress"].method_name == "tensorflow/serving/regress"
    assert sigs["regress"].inputs["inputs"].dtype == DataType.DT_STRING
    assert [d.size for d in sigs["regress"].outputs["outputs"].tensor_shape.dim] == [-1, 1]


@pytest.mark.parametrize(
    ("request_kwargs", "code", "message"),
    [
        ({"fields": ("nope",)}, "INVALID_ARGUMENT", "Metadata field nope is not supported"),
        ({"fields": ("signature_def", "nope")}, "INVALID_ARGUMENT", "Metadata field nope is not supported"),
        ({"fields": ()}, "INVALID_ARGUMENT", "GetModelMetadataRequest must specify at least one metadata_field"),
        ({"name": "nope"}, "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        ({"version": 9}, "NOT_FOUND", f"Servable not found for request: Specific({MODEL}, 9)"),
        ({"name": ""}, "INVALID_ARGUMENT", "ModelSpec has no name specified."),
    ],
)
def test_metadata_errors(stub: Any, request_kwargs: dict[str, Any], code: str, message: str) -> None:
    _expect(grpc.StatusCode[code], stub.GetModelMetadata, _metadata_request(**request_kwargs), message)


def test_metadata_missing_model_spec(stub: Any) -> None:
    request = M.GetModelMetadataRequest(metadata_field=["signature_def"])
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.GetModelMetadata, request, "Missing ModelSpec")


# -- Classify / Regress -------------------------------------------------------------------------


def test_classify(stub: Any) -> None:
    response = stub.Classify(_classify_request([0.0, 4.0], version=1), timeout=30)
    assert response.model_spec.name == EXAMPLES
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "classify"
    rows = [[(c.label, c.score) for c in cl.classes] for cl in response.result.classifications]
    assert rows == [[("low", 2.0), ("high", 3.0)], [("low", 4.0), ("high", 5.0)]]


def test_classify_with_context(stub: Any) -> None:
    context = _example(x=10.0, unused=1.0)
    response = stub.Classify(_classify_request([None, 4.0], context=context, version=2), timeout=30)
    scores = [[c.score for c in cl.classes] for cl in response.result.classifications]
    assert scores == [[8.0, 9.0], [5.0, 6.0]]  # the example's own x wins over the context's


def test_regress(stub: Any) -> None:
    response = stub.Regress(_regress_request([0.0, 2.0, 4.0]), timeout=30)
    assert response.model_spec.name == EXAMPLES
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "regress"
    assert [r.value for r in response.result.regressions] == [3.0, 4.0, 5.0]


def test_regress_with_context_and_label(stub: Any) -> None:
    response = stub.Regress(_regress_request([None, 2.0], context=_example(x=6.0), label="stable"), timeout=30)
    assert response.model_spec.version.value == 1
    assert [r.value for r in response.result.regressions] == [5.0, 3.0]


def test_classify_regress_errors(stub: Any) -> None:
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Regress, _regress_request([]), "Input is empty.")
    empty = M.RegressionRequest()
    _spec(empty, EXAMPLES, signature="regress")
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Regress, empty, "Input is empty.")
    # a regression signature is not a classification one, and the other way round: without
    # --enable_signature_method_name_check the signatures' structure decides, in classifier.cc's words
    wrong = _classify_request([1.0])
    wrong.model_spec.signature_name = "regress"
    _expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.Classify,
        wrong,
        'Expected classification signature outputs to contain at least one of "classes" or "scores".',
    )
    wrong = _regress_request([1.0])
    wrong.model_spec.signature_name = "classify"
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Regress, wrong, "Expected one output Tensor.")
    _expect(
        grpc.StatusCode.NOT_FOUND,
        stub.Classify,
        _classify_request([1.0], version=9),
        f"Servable not found for request: Specific({EXAMPLES}, 9)",
    )
    _expect(grpc.StatusCode.INVALID_ARGUMENT, stub.Regress, M.RegressionRequest(), "Missing ModelSpec")
    # an Example without the feature the graph parses fails in the model run: INVALID_ARGUMENT from TF
    _expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        stub.Regress,
        _regress_request([None]),
        "Feature: x (data type: float) is required but could not be found.",
    )


# -- GetModelStatus -----------------------------------------------------------------------------


def test_model_status(mstub: Any) -> None:
    request = M.GetModelStatusRequest()
    _spec(request)
    response = mstub.GetModelStatus(request, timeout=30)
    states = {s.version: s for s in response.model_version_status}
    assert set(states) == {1, 2}
    for state in states.values():
        assert state.state == ModelVersionState.AVAILABLE
        assert state.status.error_code == 0
        assert state.status.error_message == ""


def test_model_status_one_version(mstub: Any) -> None:
    request = M.GetModelStatusRequest()
    _spec(request, version=1)
    response = mstub.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state) for s in response.model_version_status] == [(1, ModelVersionState.AVAILABLE)]
    request = M.GetModelStatusRequest()
    _spec(request, label="canary")
    response = mstub.GetModelStatus(request, timeout=30)
    # get_model_status_impl.cc ignores a label: every version, newest first
    assert [s.version for s in response.model_version_status] == [2, 1]


def test_model_status_errors(mstub: Any) -> None:
    request = M.GetModelStatusRequest()
    _spec(request, "nope")
    _expect(grpc.StatusCode.NOT_FOUND, mstub.GetModelStatus, request, "Could not find any versions of model nope")
    request = M.GetModelStatusRequest()
    _spec(request, version=9)
    _expect(grpc.StatusCode.NOT_FOUND, mstub.GetModelStatus, request, f"Could not find version 9 of model {MODEL}")
    _expect(grpc.StatusCode.INVALID_ARGUMENT, mstub.GetModelStatus, M.GetModelStatusRequest(), "Missing ModelSpec")


# -- unimplemented, internal errors, survival ------------------------------------------------------


def test_unknown_method_is_unimplemented(channel: Any) -> None:
    call = channel.unary_unary(f"/{PREDICTION_SERVICE}/Nope", request_serializer=None, response_deserializer=None)
    _expect(grpc.StatusCode.UNIMPLEMENTED, call, b"")


def test_internal_error_is_reported_and_survived(server: Any, stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(server.grpc.plane, "regress", boom)
    _expect(grpc.StatusCode.INTERNAL, stub.Regress, _regress_request([1.0]), "RuntimeError: kaboom")
    monkeypatch.undo()
    assert [r.value for r in stub.Regress(_regress_request([1.0]), timeout=30).result.regressions] == [3.5]


def test_garbage_request_bytes(channel: Any) -> None:
    call = channel.unary_unary(f"/{PREDICTION_SERVICE}/Predict", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as info:
        call(b"\xff\xff\xff", timeout=30)
    assert info.value.code() != grpc.StatusCode.OK


def test_server_survives_errors(stub: Any) -> None:
    """After every failure above (and a burst of concurrent bad and good requests) a good request works."""
    bad = _predict_request(name="nope")
    good = _predict_request([2.0], version=1)
    errors: list[Any] = []

    def worker(i: int) -> None:
        try:
            if i % 2:
                stub.Predict(bad, timeout=30)
            else:
                out = stub.Predict(good, timeout=30)
                np.testing.assert_allclose(tensor_proto_to_ndarray(out.outputs["y"]), [3.0])
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                errors.append(exc)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    response = stub.Predict(_predict_request(), timeout=30)
    np.testing.assert_allclose(tensor_proto_to_ndarray(response.outputs["y"]), [3.5, 4.0, 5.5])


# -- front end on its own: port 0, graceful stop ------------------------------------------------


class _SlowPlane:
    """Just enough of a DataPlane for Predict: each call takes ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        from yolo_tfserving.serving.limits import RequestLimits

        self.delay_s = delay_s
        self.entered = threading.Event()
        self.limits = RequestLimits()

    def predict(self, ref: Any, _signature_name: str | None, inputs: dict[str, np.ndarray], **kwargs: Any) -> Any:
        from yolo_tfserving.serving.core import PredictResult

        assert kwargs["entrypoint"] == "GRPC"
        self.entered.set()
        time.sleep(self.delay_s)
        return PredictResult(name=ref.name, version=7, signature_name="serving_default", outputs={"y": inputs["x"] * 2})


def test_port_zero_and_graceful_stop() -> None:
    from yolo_tfserving.serving.grpc_server import GrpcFrontEnd, GrpcSettings

    plane = _SlowPlane(delay_s=1.0)
    front = GrpcFrontEnd(plane, GrpcSettings(host="localhost", port=0, max_workers=4))  # type: ignore[arg-type]
    assert front.port > 0
    front.start()
    result: dict[str, Any] = {}
    with grpc.insecure_channel(f"localhost:{front.port}") as ch:
        stub = prediction_stub(ch)

        def call() -> None:
            try:
                result["response"] = stub.Predict(_predict_request([1.0, 2.0], name="m"), timeout=30)
            except grpc.RpcError as exc:
                result["error"] = exc

        thread = threading.Thread(target=call)
        thread.start()
        assert plane.entered.wait(10)
        start = time.monotonic()
        front.stop(grace_s=10)  # returns once the in-flight call has finished
        assert time.monotonic() - start < 9
        thread.join(10)
    assert "error" not in result, result.get("error")
    response = result["response"]
    assert response.model_spec.version.value == 7
    np.testing.assert_allclose(tensor_proto_to_ndarray(response.outputs["y"]), [2.0, 4.0])


def test_busy_port_fails_loudly() -> None:
    from yolo_tfserving.serving.grpc_server import GrpcFrontEnd, GrpcSettings

    first = GrpcFrontEnd(_SlowPlane(0.0), GrpcSettings(host="localhost", port=0))  # type: ignore[arg-type]
    try:
        with pytest.raises(OSError):
            GrpcFrontEnd(_SlowPlane(0.0), GrpcSettings(host="localhost", port=first.port))  # type: ignore[arg-type]
    finally:
        first.stop(grace_s=0)
