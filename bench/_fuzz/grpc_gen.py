"""gRPC cases: the project's own messages (valid, mutated, lying about their sizes) and raw garbage.

Every call is serialized here, so valid messages, mutated ones and random bytes all go through the same
``unary_unary`` path with no serializer. ``HandleReloadConfigRequest`` is never called: a request that
parses could replace the served models and end the soak.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

from yolo_tfserving._wire import services, tf_core_pb2, tf_example_pb2
from yolo_tfserving._wire import serving_apis_pb2 as apis

from . import images
from .cases import Case, GrpcCall
from .documents import max_valid_batch, wrong_shapes
from .models import Target

KINDS = (
    ("predict", 28),
    ("classify_regress", 14),
    ("multi", 8),
    ("metadata", 6),
    ("status", 6),
    ("claims", 10),
    ("shape", 4),
    ("garbage", 18),
    ("slow", 3),
    ("valid", 7),
)
METHODS = {
    "Predict": services.PREDICT_METHOD,
    "Classify": services.CLASSIFY_METHOD,
    "Regress": services.REGRESS_METHOD,
    "MultiInference": services.MULTI_INFERENCE_METHOD,
    "GetModelMetadata": services.GET_MODEL_METADATA_METHOD,
    "GetModelStatus": services.GET_MODEL_STATUS_METHOD,
}
DT_FLOAT, DT_STRING, DT_INT32 = tf_core_pb2.DT_FLOAT, tf_core_pb2.DT_STRING, tf_core_pb2.DT_INT32
HUGE_NAME = "m" * (1 << 20)


def generate(rng: random.Random, index: int, target: Target) -> Case:
    kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    method, message, label, call_extra = _BUILDERS[kind](rng, target)
    data = message if isinstance(message, bytes) else message.SerializeToString()
    call = GrpcCall(METHODS.get(method, method), data, **call_extra)
    return Case(index, "grpc", f"grpc/{kind}", f"{method} [{len(data)} B] {label}", grpc=call)


# -- messages -------------------------------------------------------------------------------------
def tensor(dtype: int, shape: list[int], **fields: Any) -> Any:
    proto = tf_core_pb2.TensorProto(dtype=dtype, **fields)  # type: ignore[arg-type]
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def example(rng: random.Random, *, hostile: bool = False) -> Any:
    ex = tf_example_pb2.Example()
    if not hostile:
        ex.features.feature["x"].float_list.value.append(round(rng.uniform(-10, 10), 2))
        return ex
    key = rng.choice(["x", "x", "x2", "", "nope", "x" * 1000])
    feature = ex.features.feature[key]
    choice = rng.randrange(5)
    if choice == 0:
        feature.bytes_list.value.append(rng.randbytes(rng.randint(0, 32)))
    elif choice == 1:
        feature.int64_list.value.extend([rng.randint(-(2**63), 2**63 - 1) for _ in range(rng.randint(0, 4))])
    elif choice == 2:
        feature.float_list.value.extend([float("nan"), float("inf"), 1.0][: rng.randint(0, 3)])
    elif choice == 3:
        feature.float_list.value.extend([1.0] * rng.choice([2, 1000]))
    return ex


def spec(rng: random.Random, name: str, version: int, *, mutate: bool) -> Any:
    s = apis.ModelSpec(name=name)
    if rng.random() < 0.3:
        s.version.value = version
    if not mutate:
        return s
    roll = rng.randrange(8)
    if roll == 0:
        s.name = rng.choice(["", "nope", HUGE_NAME, "\x00", f"{name}/..", name.upper(), "y\u00f6lo"])
    elif roll == 1:
        s.version.value = rng.choice([0, -1, 2, 122, 2**62, -(2**63)])
    elif roll == 2:
        s.version_label = rng.choice(["stable", "", "l" * 10_000])
    elif roll == 3:
        s.signature_name = rng.choice(["nope", "", "detect", "raw", "classify_x_to_y", "regress_x_to_y", HUGE_NAME])
    return s


def yolo_images(rng: random.Random, target: Target, *, hostile: bool) -> Any:
    n = rng.randint(1, 3 if not hostile else max_valid_batch(target))
    pics = [images.pick(rng)[1] if hostile else images.valid_image(rng) for _ in range(n)]
    return tensor(DT_STRING, [n], string_val=pics)


def half_x(rng: random.Random) -> Any:
    n = rng.randint(1, 8)
    xs = [rng.uniform(-100, 100) for _ in range(n)]
    if rng.random() < 0.5:
        return tensor(DT_FLOAT, [n, 1], tensor_content=struct.pack(f"<{n}f", *xs))
    return tensor(DT_FLOAT, [n, 1], float_val=xs)


def yolo_tensor_input(rng: random.Random, target: Target) -> tuple[str, str, Any]:
    """(signature, input name, tensor) for the raw / raw_bytes / predict_nchw / class_names signatures."""
    s, n = target.imgsz, 1
    which = rng.choice(["raw", "predict_nchw", "raw_bytes", "class_names"])
    if which == "class_names":
        ids = [rng.choice([0, target.num_classes - 1, target.num_classes, -1, 2**31 - 1]) for _ in range(3)]
        return which, "class_ids", tensor(DT_INT32, [3], int_val=ids)
    if which == "raw_bytes":
        return which, "images", tensor(DT_STRING, [n], string_val=[rng.randbytes(s * s * 3)])
    shape = [n, s, s, 3] if which == "raw" else [n, 3, s, s]
    content = struct.pack("<f", rng.random()) * (s * s * 3)
    return which, "images" if which == "raw" else "input", tensor(DT_FLOAT, shape, tensor_content=content)


def predict_request(rng: random.Random, target: Target, *, mutate: bool) -> Any:
    request = apis.PredictRequest()
    if rng.random() < 0.2:
        request.model_spec.CopyFrom(spec(rng, target.yolo, target.yolo_version, mutate=mutate))
        signature, name, proto = yolo_tensor_input(rng, target)
        if not request.model_spec.signature_name:
            request.model_spec.signature_name = signature
        request.inputs[name].CopyFrom(proto)
    elif rng.random() < 0.55:
        request.model_spec.CopyFrom(spec(rng, target.yolo, target.yolo_version, mutate=mutate))
        request.inputs["images"].CopyFrom(yolo_images(rng, target, hostile=mutate and rng.random() < 0.3))
    else:
        request.model_spec.CopyFrom(spec(rng, target.half, target.half_version, mutate=mutate))
        request.inputs["x"].CopyFrom(half_x(rng))
    return request


def mutate_tensor(rng: random.Random, proto: Any) -> str:
    roll = rng.randrange(9)
    if roll == 0:
        proto.dtype = rng.choice([*range(24), 101, 107, 999, 2**31 - 1])
        return f"dtype={proto.dtype}"
    if roll == 1:
        dims = [rng.choice([-5, -1, 0, 1, 3, 2**31, 2**62]) for _ in range(rng.choice([0, 1, 2, 3, 40]))]
        del proto.tensor_shape.dim[:]
        for d in dims:
            proto.tensor_shape.dim.add(size=d)
        return f"shape={dims[:6]}{'...' if len(dims) > 6 else ''}"
    if roll == 2:
        proto.tensor_content = rng.randbytes(rng.choice([1, 3, 5, 7, 1001]))
        return f"tensor_content of {len(proto.tensor_content)} bytes"
    if roll == 3:
        proto.string_val.append(rng.randbytes(8))
        return "string_val on a numeric tensor"
    if roll == 4:
        proto.float_val.extend([float("nan"), float("inf"), -float("inf")])
        return "NaN/inf float_val"
    if roll == 5:
        proto.tensor_shape.unknown_rank = True
        return "unknown_rank"
    if roll == 6:
        proto.version_number = rng.randint(-(2**31), 2**31 - 1)
        return "version_number"
    if roll == 7:
        proto.int64_val.extend([2**63 - 1, -(2**63)])
        return "int64_val extremes"
    proto.Clear()
    return "empty tensor"


# -- case builders: (method, message or bytes, label, GrpcCall extras) --------------------------------
Built = tuple[str, Any, str, dict[str, Any]]


def predict_case(rng: random.Random, target: Target) -> Built:
    request = predict_request(rng, target, mutate=True)
    notes = []
    for _ in range(rng.randint(0, 2)):
        if not request.inputs:
            break
        key = rng.choice(sorted(request.inputs))
        if rng.random() < 0.2:
            new_key = rng.choice(["nope", "", "x", "images", "k" * 10_000])
            request.inputs[new_key].CopyFrom(request.inputs[key])
            if rng.random() < 0.5 and new_key != key:
                del request.inputs[key]
            notes.append(f"input renamed {key}->{new_key[:12]}")
        else:
            notes.append(mutate_tensor(rng, request.inputs[key]))
    if rng.random() < 0.2:
        request.output_filter.extend(rng.choice([["nope"], ["boxes", "boxes"], ["y"], [""], ["scores", "y"]]))
        notes.append(f"output_filter={list(request.output_filter)[:3]}")
    return "Predict", request, _spec_label(request.model_spec) + " " + "; ".join(notes), {}


def _spec_label(s: Any) -> str:
    name = s.name if len(s.name) <= 24 else f"<{len(s.name)}-char name>"
    version = s.version.value if s.HasField("version") else (f"label={s.version_label[:12]}" if s.version_label else "")
    sig = s.signature_name if len(s.signature_name) <= 24 else f"<{len(s.signature_name)}-char sig>"
    return f"model={name!r} {version} sig={sig!r}"


def _input(rng: random.Random, *, hostile: bool) -> Any:
    n = rng.choice([0, 1, 2, 5]) if hostile else rng.randint(1, 5)
    examples = [example(rng, hostile=hostile and rng.random() < 0.5) for _ in range(n)]
    if hostile and rng.random() < 0.1:
        examples = [example(rng) for _ in range(rng.choice([10_000, 50_000]))]
    proto = apis.Input()
    if rng.random() < 0.3:
        proto.example_list_with_context.examples.extend(examples)
        proto.example_list_with_context.context.CopyFrom(example(rng, hostile=hostile))
    elif not (hostile and rng.random() < 0.1):  # else: no input at all
        proto.example_list.examples.extend(examples)
    return proto


def classify_regress_case(rng: random.Random, target: Target) -> Built:
    method = rng.choice(["Classify", "Regress"])
    request = apis.ClassificationRequest() if method == "Classify" else apis.RegressionRequest()
    name, version = (target.half, target.half_version) if rng.random() < 0.85 else (target.yolo, target.yolo_version)
    request.model_spec.CopyFrom(spec(rng, name, version, mutate=rng.random() < 0.5))
    if not request.model_spec.signature_name and rng.random() < 0.7:
        request.model_spec.signature_name = "classify_x_to_y" if method == "Classify" else "regress_x_to_y"
    request.input.CopyFrom(_input(rng, hostile=rng.random() < 0.6))
    return method, request, f"{_spec_label(request.model_spec)} examples={_count(request.input)}", {}


def _count(proto: Any) -> int:
    return len(proto.example_list.examples) + len(proto.example_list_with_context.examples)


def multi_case(rng: random.Random, target: Target) -> Built:
    request = apis.MultiInferenceRequest()
    for _ in range(rng.choice([0, 1, 2, 2, 3, 100])):
        task = request.tasks.add()
        task.model_spec.name = target.half if rng.random() < 0.85 else rng.choice([target.yolo, "nope", ""])
        task.model_spec.signature_name = rng.choice(["classify_x_to_y", "regress_x_to_y", "regress_x_to_y2", "", "x"])
        task.method_name = rng.choice(
            ["tensorflow/serving/classify", "tensorflow/serving/regress", "tensorflow/serving/predict", "", "nope"]
        )
    request.input.CopyFrom(_input(rng, hostile=rng.random() < 0.5))
    return "MultiInference", request, f"{len(request.tasks)} tasks examples={_count(request.input)}", {}


def metadata_case(rng: random.Random, target: Target) -> Built:
    request = apis.GetModelMetadataRequest()
    name, version = rng.choice([(target.yolo, target.yolo_version), (target.half, target.half_version)])
    request.model_spec.CopyFrom(spec(rng, name, version, mutate=rng.random() < 0.6))
    request.metadata_field.extend(
        rng.choice([["signature_def"], [], ["nope"], ["signature_def"] * 3, ["", "x" * 1000]])
    )
    return (
        "GetModelMetadata",
        request,
        f"{_spec_label(request.model_spec)} fields={list(request.metadata_field)[:2]}",
        {},
    )


def status_case(rng: random.Random, target: Target) -> Built:
    request = apis.GetModelStatusRequest()
    name, version = rng.choice([(target.yolo, target.yolo_version), (target.half, target.half_version)])
    request.model_spec.CopyFrom(spec(rng, name, version, mutate=rng.random() < 0.7))
    return "GetModelStatus", request, _spec_label(request.model_spec), {}


def claims_case(rng: random.Random, target: Target) -> Built:
    """Tensors whose shape claims far more elements than they carry."""
    request = apis.PredictRequest()
    claim = rng.choice([1_000_000, 10**7, 2**40, 2**62])
    if rng.random() < 0.5:
        request.model_spec.name = target.yolo
        proto = tensor(DT_STRING, [claim], string_val=[images.valid_jpeg(rng, 16)])
        request.inputs["images"].CopyFrom(proto)
        what = f"DT_STRING [{claim}] with one string_val"
    else:
        request.model_spec.name = target.half
        fill = rng.random() < 0.5  # one float_val fills the shape (TF): at most 40 MB, or more than any server can hold
        claim = rng.choice([10**6, 10**7, 2**40, 2**62] if fill else [10**6, 10**9, 2**40, 2**62])
        shape = rng.choice([[claim, 1], [claim], [2**32, 2**32], [claim, claim]])
        proto = tensor(DT_FLOAT, shape)
        if fill:
            proto.float_val.append(1.0)
        else:
            proto.tensor_content = b"\x00\x00\x80\x3f" * rng.choice([1, 2])
        request.inputs["x"].CopyFrom(proto)
        what = f"DT_FLOAT {shape} with {'one float_val' if proto.float_val else 'short tensor_content'}"
    return "Predict", request, what, {}


def shape_case(rng: random.Random, target: Target) -> Built:
    """The float signatures with an input of the wrong rank or size (a valid DT_FLOAT tensor_content)."""
    request = apis.PredictRequest()
    request.model_spec.name = target.yolo
    which = rng.choice(["raw", "predict_nchw"])
    request.model_spec.signature_name = which
    shape = list(rng.choice(wrong_shapes(target.imgsz)))
    count = 1
    for d in shape:
        count *= d
    proto = tensor(DT_FLOAT, shape, tensor_content=struct.pack("<f", rng.random()) * count)
    request.inputs["images" if which == "raw" else "input"].CopyFrom(proto)
    return "Predict", request, f"{which} DT_FLOAT {shape}", {}


def garbage_case(rng: random.Random, target: Target) -> Built:
    method = rng.choice([*sorted(METHODS), "/tensorflow.serving.PredictionService/Nope", "/nope.Service/Predict"])
    roll = rng.randrange(4)
    if roll == 0:
        data = rng.randbytes(rng.randint(0, 4096))
        what = "random bytes"
    else:
        valid = predict_request(rng, target, mutate=False).SerializeToString()
        if roll == 1:
            data = valid[: rng.randint(0, max(0, len(valid) - 1))]
            what = "truncated Predict message"
        elif roll == 2:
            buf = bytearray(valid)
            for _ in range(rng.randint(1, 16)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
            data = bytes(buf)
            what = "bit-flipped Predict message"
        else:
            data = rng.choice(
                [b"\x0a\xff\xff\xff\xff\x0f", b"\x12" + b"\xff" * 10, b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"]
            )
            what = "length prefix claiming more than sent"
    return method, data, what, {}


def slow_case(rng: random.Random, target: Target) -> Built:
    """A valid Predict with a deadline too short on purpose: DEADLINE_EXCEEDED (or OK) is right."""
    request = predict_request(rng, target, mutate=False)
    timeout = rng.choice([0.001, 0.005, 0.02])
    return (
        "Predict",
        request,
        f"{_spec_label(request.model_spec)} deadline {timeout * 1000:.0f} ms",
        {
            "timeout_s": timeout,
            "slow": True,
        },
    )


def valid_case(rng: random.Random, target: Target) -> Built:
    roll = rng.randrange(4)
    if roll == 0:
        return metadata_or_status(rng, target)
    if roll == 1:
        method = rng.choice(["Classify", "Regress"])
        request = apis.ClassificationRequest() if method == "Classify" else apis.RegressionRequest()
        request.model_spec.name = target.half
        request.model_spec.signature_name = "classify_x_to_y" if method == "Classify" else "regress_x_to_y"
        request.input.CopyFrom(_input(rng, hostile=False))
        return method, request, f"valid {method.lower()}", {}
    request = predict_request(rng, target, mutate=False)
    return "Predict", request, f"valid {_spec_label(request.model_spec)}", {}


def metadata_or_status(rng: random.Random, target: Target) -> Built:
    name = rng.choice([target.yolo, target.half])
    if rng.random() < 0.5:
        status = apis.GetModelStatusRequest()
        status.model_spec.name = name
        return "GetModelStatus", status, f"valid status {name}", {}
    meta = apis.GetModelMetadataRequest()
    meta.model_spec.name = name
    meta.metadata_field.append("signature_def")
    return "GetModelMetadata", meta, f"valid metadata {name}", {}


_BUILDERS: dict[str, Callable[[random.Random, Target], Built]] = {
    "predict": predict_case,
    "classify_regress": classify_regress_case,
    "multi": multi_case,
    "metadata": metadata_case,
    "status": status_case,
    "claims": claims_case,
    "shape": shape_case,
    "garbage": garbage_case,
    "slow": slow_case,
    "valid": valid_case,
}
