"""TF Serving's gRPC messages <-> what the core takes and gives: model specs, input tensors and
tf.Examples decoded from requests; model specs and output tensors written into responses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._wire.enums import DataType
from .._wire.tensors import numpy_to_datatype, tensor_proto_to_ndarray
from .core import ModelRef
from .status import invalid_argument

# -- request parsing ------------------------------------------------------------------------


def spec_version(spec: Any) -> int | None:
    return int(spec.version.value) if spec.HasField("version") else None


def model_ref(request: Any) -> ModelRef:
    """The model a request names (server_core.cc ServableRequestFromModelSpec's checks)."""
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    spec = request.model_spec
    if not spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    return ModelRef(name=spec.name, version=spec_version(spec), label=spec.version_label or None)


def decode_inputs(protos: Any) -> dict[str, np.ndarray]:
    """Request TensorProtos -> numpy (a proto that does not parse is INVALID_ARGUMENT, as Tensor::FromProto
    failing is in TF Serving). Aliases and dtypes are the core's to check, against the signature it runs."""
    inputs: dict[str, np.ndarray] = {}
    for alias, proto in protos.items():
        try:
            inputs[alias] = tensor_proto_to_ndarray(proto)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise invalid_argument(f"tensor parsing error: {alias}: {exc}") from None
    return inputs


def serialized_examples(request_input: Any) -> list[bytes]:
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


def serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data


def fill_model_spec(spec: Any, name: str, version: int, signature_name: str | None) -> None:
    spec.name = name
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name


def encode_tensor(proto: Any, value: np.ndarray) -> None:
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
