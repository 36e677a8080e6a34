"""One loaded SavedModel version: its signatures (as TF Serving describes them) and calls.

Signature facts (input/output dtypes and shapes, method names) are read from
``saved_model.pb``'s MetaGraphDef, exactly what TF Serving reports as metadata; calls go
through ``tf.saved_model.load(...).signatures``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .json_codec import InputSpec
from .status import ServingStatusError, failed_precondition, invalid_argument

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"


@dataclass(frozen=True)
class TensorSpecInfo:
    """A signature input or output: alias, graph tensor name, dtype enum and shape."""

    alias: str
    tensor_name: str
    dtype_enum: int
    shape: tuple[int | None, ...] | None

    @property
    def numpy_dtype(self) -> np.dtype[Any] | str:
        from ..client._protos import datatype_to_numpy

        if self.dtype_enum == 7:  # DT_STRING
            return "string"
        return np.dtype(datatype_to_numpy(self.dtype_enum))


@dataclass(frozen=True)
class SignatureInfo:
    name: str
    method_name: str
    inputs: dict[str, TensorSpecInfo]
    outputs: dict[str, TensorSpecInfo]

    def input_specs(self) -> dict[str, InputSpec]:
        return {a: InputSpec(name=a, dtype=s.numpy_dtype, shape=s.shape) for a, s in self.inputs.items()}


class Servable:
    """A loaded version of one model. Thread-safe to call."""

    def __init__(self, name: str, version: int, path: Path) -> None:
        self.name = name
        self.version = version
        self.path = path
        tf = require("tensorflow")
        self._meta_graph_bytes, self.signatures = _read_signatures(path)
        self._loaded = tf.saved_model.load(str(path))
        self._functions = dict(self._loaded.signatures)
        self._lock = threading.Lock()

    def signature(self, name: str | None) -> SignatureInfo:
        key = name or DEFAULT_SIGNATURE
        info = self.signatures.get(key)
        if info is None or key == INIT_OP_SIGNATURE:
            raise failed_precondition(f'Serving signature key "{key}" not found.')
        return info

    def run(
        self, signature: SignatureInfo, inputs: Mapping[str, np.ndarray], output_filter: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Validate ``inputs`` against the signature and run it."""
        tf = require("tensorflow")
        missing = set(signature.inputs) - set(inputs)
        extra = set(inputs) - set(signature.inputs)
        if len(inputs) == len(signature.inputs) and extra:
            raise invalid_argument(
                f"input tensor alias not found in signature: {', '.join(sorted(extra))}. "
                f"Inputs expected to be in the set {{{','.join(sorted(signature.inputs))}}}."
            )
        if missing or extra:
            raise invalid_argument(
                f"input size does not match signature: {len(inputs)}!={len(signature.inputs)} "
                f"len({{{','.join(sorted(inputs))}}}) != len({{{','.join(sorted(signature.inputs))}}}). "
                f"Sent extra: {{{','.join(sorted(extra))}}}. Missing but required: {{{','.join(sorted(missing))}}}."
            )
        feeds = {}
        for alias, spec in signature.inputs.items():
            feeds[alias] = _to_tensor(tf, alias, inputs[alias], spec)
        if output_filter:
            seen: set[str] = set()
            for alias in output_filter:
                if alias not in signature.outputs:
                    raise invalid_argument(
                        f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                        f"{{{','.join(sorted(signature.outputs))}}}."
                    )
                if alias in seen:
                    raise invalid_argument(f"duplicate output tensor alias: {alias}")
                seen.add(alias)
        function = self._functions[signature.name]
        try:
            result = function(**feeds)
        except tf.errors.InvalidArgumentError as exc:
            raise invalid_argument(clean_tf_message(exc.message)) from exc
        except tf.errors.OpError as exc:
            raise ServingStatusError(_op_error_code(exc), clean_tf_message(exc.message)) from exc
        outputs = {k: v.numpy() for k, v in result.items() if not output_filter or k in output_filter}
        return outputs

    def signature_def_map(self) -> Any:
        """TF Serving's ``SignatureDefMap`` message (our TF-free classes) for GetModelMetadata."""
        from ..client._protos import messages

        msgs = messages()
        meta_graph = require("tensorflow.core.protobuf.meta_graph_pb2").MetaGraphDef.FromString(self._meta_graph_bytes)
        out = msgs.SignatureDefMap()
        for key, sig in meta_graph.signature_def.items():  # TF Serving lists the init op too
            out.signature_def[key].ParseFromString(sig.SerializeToString())
        return out


def clean_tf_message(message: str) -> str:
    """TensorFlow's error text without the Python stack it appends (server paths stay private)."""
    kept = []
    skipping = False
    for line in message.splitlines():
        stripped = line.strip()
        if stripped.startswith("Detected at node") or stripped.startswith("Graph execution error"):
            skipping = "defined at" in stripped or stripped.startswith("Detected at node")
            continue
        if skipping:
            if line.startswith(" ") or not stripped:
                continue
            skipping = False
        if stripped.startswith("[[") or not stripped:
            continue
        kept.append(stripped)
    text = " ".join(kept).strip()
    if " [Op:" in text:
        text = text.split(" [Op:")[0]
    return text or message.strip().splitlines()[-1]


def _op_error_code(exc: Any) -> Any:
    from .status import Code

    try:
        return Code(int(exc.error_code))
    except ValueError:
        return Code.INTERNAL


def _to_tensor(tf: Any, alias: str, value: np.ndarray, spec: TensorSpecInfo) -> Any:
    want = spec.numpy_dtype
    if want == "string":
        if value.dtype.kind not in "OSU":
            raise invalid_argument(f"Expects arg[{alias}] to be string but {value.dtype} is provided")
        value = np.asarray(value, dtype=object)
    else:
        assert isinstance(want, np.dtype)
        if value.dtype != want:
            if value.dtype.kind in "OSU" or (value.dtype.kind == "f" and want.kind in "iub"):
                raise invalid_argument(f"Expects arg[{alias}] to be {want.name} but {value.dtype.name} is provided")
            value = value.astype(want)
    if spec.shape is not None:
        if len(spec.shape) != value.ndim or any(
            d is not None and d != v for d, v in zip(spec.shape, value.shape, strict=True)
        ):
            shown = "[" + ",".join("?" if d is None else str(d) for d in spec.shape) + "]"
            raise invalid_argument(
                f"input tensor '{alias}' has shape {list(value.shape)}, which is not compatible with the "
                f"signature's {shown}"
            )
    return tf.constant(value)


def _read_signatures(path: Path) -> tuple[bytes, dict[str, SignatureInfo]]:
    saved_model_pb2 = require("tensorflow.core.protobuf.saved_model_pb2")
    pb_path = path / "saved_model.pb"
    if not pb_path.is_file():
        raise failed_precondition(f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}")
    saved = saved_model_pb2.SavedModel.FromString(pb_path.read_bytes())
    meta_graph = next((m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags), None)
    if meta_graph is None:
        raise failed_precondition(f"SavedModel at {path} has no MetaGraphDef tagged 'serve'")
    signatures = {}
    for key, sig in meta_graph.signature_def.items():
        if key == "__saved_model_init_op":
            continue
        signatures[key] = SignatureInfo(
            name=key,
            method_name=sig.method_name,
            inputs={a: _tensor_info(a, t) for a, t in sig.inputs.items()},
            outputs={a: _tensor_info(a, t) for a, t in sig.outputs.items()},
        )
    return meta_graph.SerializeToString(), signatures


def _tensor_info(alias: str, info: Any) -> TensorSpecInfo:
    shape: tuple[int | None, ...] | None
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return TensorSpecInfo(alias=alias, tensor_name=info.name, dtype_enum=int(info.dtype), shape=shape)
