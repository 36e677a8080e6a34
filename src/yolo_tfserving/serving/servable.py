"""One loaded SavedModel version: its signatures (as TF Serving describes them) and calls.

Loaded the way TF Serving loads every SavedModel (TF1 or TF2): the tagged MetaGraphDef is
restored into a session; its signatures are what TF Serving reports as metadata, and each call
runs the signature's feed and fetch tensors through a session callable.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .json_codec import InputSpec
from .shape_guard import ShapeGuard
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
        from .._wire.tensors import datatype_to_numpy

        if self.dtype_enum == 7:  # DT_STRING
            return "string"
        return np.dtype(datatype_to_numpy(self.dtype_enum))


@dataclass(frozen=True)
class SignatureInfo:
    name: str
    method_name: str
    inputs: dict[str, TensorSpecInfo]
    outputs: dict[str, TensorSpecInfo]
    #: SignatureDef.defaults: values for inputs a request may leave out
    defaults: dict[str, np.ndarray] = field(default_factory=dict)

    def input_specs(self) -> dict[str, InputSpec]:
        return {a: InputSpec(name=a, dtype=s.numpy_dtype, shape=s.shape) for a, s in self.inputs.items()}


@dataclass(frozen=True)
class LoadOptions:
    """How versions are loaded (TF Serving's ``--saved_model_tags`` and session flags)."""

    tags: tuple[str, ...] = ("serve",)
    intra_op_threads: int = 0  # 0: TensorFlow picks (--tensorflow_intra_op_parallelism)
    inter_op_threads: int = 0  # --tensorflow_inter_op_parallelism
    session_config_file: str = ""  # --tensorflow_session_config_file: a text-format ConfigProto (flags win)
    mixed_precision: str = ""  # --mixed_precision: "bfloat16" turns on oneDNN's bfloat16 graph rewrite


class Servable:
    """A loaded version of one model. Thread-safe to call.

    Loaded as TF Serving loads every SavedModel, TF1 or TF2: the MetaGraphDef tagged with
    ``options.tags`` is imported into a graph, restored in a session (``saved_model.loader``),
    and each call runs the signature's tensors through a session callable. So a TF1 graph
    (``ParseExample`` with rank-0 features, queues, ...) serves like a TF2 one, and inputs go to
    the graph as they are: a shape the signature does not declare is TensorFlow's to refuse.
    """

    def __init__(self, name: str, version: int, path: Path, options: LoadOptions | None = None) -> None:
        self.name = name
        self.version = version
        self.path = path
        options = options or LoadOptions()
        tf = require("tensorflow")
        load_op_libraries()
        _require_saved_model(path)
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph, config=_session_config(tf, options))
        try:
            with self._graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(self._session, list(options.tags), str(path))
        except (RuntimeError, OSError, ValueError, tf.errors.OpError) as exc:
            self._session.close()
            message = getattr(exc, "message", None) or str(exc)
            raise failed_precondition(
                f"Loading servable: {{name: {name} version: {version}}} failed: {message}"
            ) from exc
        self._meta_graph_bytes = meta_graph.SerializeToString()
        self.signatures = _signatures(meta_graph)
        self._shapes = ShapeGuard(meta_graph.graph_def)
        self._callables: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the session (the manager calls this once no request holds the version)."""
        with self._lock:
            self._callables.clear()
        self._session.close()

    def signature(self, name: str | None) -> SignatureInfo:
        key = name or DEFAULT_SIGNATURE
        info = self.signatures.get(key)
        if info is None or key == INIT_OP_SIGNATURE:
            raise failed_precondition(f'Serving signature key "{key}" not found.')
        return info

    def run(
        self, signature: SignatureInfo, inputs: Mapping[str, np.ndarray], output_filter: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Check ``inputs`` against the signature's aliases and dtypes (as TF Serving does) and run it."""
        values = _resolve_inputs(signature, inputs)
        outputs = _output_aliases(signature, output_filter)
        aliases = sorted(signature.inputs)
        feeds = {signature.inputs[a].tensor_name: _feed_value(a, values[a], signature.inputs[a]) for a in aliases}
        fetches = [signature.outputs[a].tensor_name for a in outputs]
        self._shapes.check(signature, feeds, fetches)
        fetched = self.run_tensors(feeds, fetches)
        return dict(zip(outputs, fetched, strict=True))

    def run_tensors(self, feeds: Mapping[str, np.ndarray], fetches: list[str]) -> list[np.ndarray]:
        """One session run: graph tensors by name in, the fetched tensors' values out (TensorFlow's errors
        as statuses)."""
        tf = require("tensorflow")
        names = tuple(feeds)
        runner = self._callable(names, tuple(fetches))
        try:
            values: list[np.ndarray] = runner(*(feeds[n] for n in names))
        except tf.errors.InvalidArgumentError as exc:
            raise invalid_argument(clean_tf_message(exc.message)) from exc
        except tf.errors.OpError as exc:
            raise ServingStatusError(_op_error_code(exc), clean_tf_message(exc.message)) from exc
        return values

    def _callable(self, feeds: tuple[str, ...], fetches: tuple[str, ...]) -> Any:
        key = (feeds, fetches)
        runner = self._callables.get(key)
        if runner is None:
            config_pb2 = require("tensorflow.core.protobuf.config_pb2")
            options = config_pb2.CallableOptions(feed=list(feeds), fetch=list(fetches))
            with self._lock:
                runner = self._callables.get(key)
                if runner is None:
                    runner = self._session._make_callable_from_options(options)  # noqa: SLF001 - TF 1.x Session API, no public twin
                    self._callables[key] = runner
        return runner

    def signature_def_map(self) -> Any:
        """TF Serving's ``SignatureDefMap`` message (our TF-free classes) for GetModelMetadata."""
        from .._wire.messages import messages

        msgs = messages()
        meta_graph = require("tensorflow.core.protobuf.meta_graph_pb2").MetaGraphDef.FromString(self._meta_graph_bytes)
        out = msgs.SignatureDefMap()
        for key, sig in meta_graph.signature_def.items():  # TF Serving lists the init op too
            out.signature_def[key].ParseFromString(sig.SerializeToString())
        return out


# Python packages whose import registers TensorFlow ops that TF Serving's binary links in.
OP_LIBRARIES = ("tensorflow_text",)
_op_libraries_loaded = False


def load_op_libraries() -> None:
    """Register the custom ops of every installed op library (once), so models that use them load."""
    global _op_libraries_loaded
    if _op_libraries_loaded:
        return
    import importlib

    for module in OP_LIBRARIES:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    _op_libraries_loaded = True


def _require_saved_model(path: Path) -> None:
    if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
        raise failed_precondition(f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}")


def _session_config(tf: Any, options: LoadOptions) -> Any:
    config = tf.compat.v1.ConfigProto()
    if options.session_config_file:
        from google.protobuf import text_format

        text = Path(options.session_config_file).read_text()
        try:
            text_format.Parse(text, config)
        except text_format.ParseError as exc:
            raise invalid_argument(f"Invalid protobuf file: '{options.session_config_file}' ({exc})") from None
    if options.intra_op_threads:
        config.intra_op_parallelism_threads = options.intra_op_threads
    if options.inter_op_threads:
        config.inter_op_parallelism_threads = options.inter_op_threads
    if options.mixed_precision == BFLOAT16:
        # what TF Serving does for --mixed_precision=bfloat16: grappler's oneDNN auto-mixed-precision pass
        rewrite = config.graph_options.rewrite_options
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
    return config


BFLOAT16 = "bfloat16"
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX), which the rewrite needs to pay."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # pragma: no cover - not Linux
        return False
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def _resolve_inputs(signature: SignatureInfo, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every signature input's value, from the request or the signature's defaults: predict_util.cc's
    VerifyRequestInputsSize, then TensorFlow's GetInputValues, in their words."""
    sent, wanted, defaults = set(inputs), set(signature.inputs), signature.defaults
    if len(sent) > len(wanted) or (len(sent) < len(wanted) and not defaults):
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{_joined(sent)}}}) != len({{{_joined(wanted)}}}). "
            f"Sent extra: {{{_joined(sent - wanted)}}}. Missing but required: {{{_joined(wanted - sent)}}}."
        )
    values: dict[str, np.ndarray] = {}
    for alias, spec in signature.inputs.items():
        if alias in inputs:
            values[alias] = inputs[alias]
        elif alias in defaults:
            values[alias] = defaults[alias]
        else:
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {spec.tensor_name}) not found in request and no "
                f"default value provided. Inputs expected to be in the request {{{_joined(sent)}}}, or default "
                f"input alias set: {_joined(set(defaults))}"
            )
    used = sent & wanted
    if sent and len(used) != len(sent):
        raise invalid_argument(
            f"Inputs contains invalid name. Used request inputs: {_joined(used)}, request input: {_joined(sent)}"
        )
    return values


def _joined(names: set[str]) -> str:
    return ",".join(sorted(names))


def _output_aliases(signature: SignatureInfo, output_filter: list[str] | None) -> tuple[str, ...]:
    """The outputs to fetch: the filter's (each known, none twice) or all of the signature's."""
    if not output_filter:
        return tuple(sorted(signature.outputs))
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
    return tuple(output_filter)


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


def _feed_value(alias: str, value: np.ndarray, spec: TensorSpecInfo) -> np.ndarray:
    """The value as the session takes it. The dtype must be the signature's (TensorFlow refuses a feed of
    another type; we say so in the session's words, naming the alias); the shape is not checked: the graph
    refuses what it cannot compute, as under TF Serving."""
    want = spec.numpy_dtype
    if want == "string":
        if value.dtype.kind not in "OSU":
            raise invalid_argument(f"Expects arg[{alias}] to be string but {_tf_name(value.dtype)} is provided")
        return value if value.dtype.kind == "O" else np.asarray(value, dtype=object)
    assert isinstance(want, np.dtype)
    if value.dtype != want:
        raise invalid_argument(f"Expects arg[{alias}] to be {_tf_name(want)} but {_tf_name(value.dtype)} is provided")
    return value


_TF_NAMES = {"f4": "float", "f8": "double", "f2": "half", "b1": "bool", "c8": "complex64", "c16": "complex128"}


def _tf_name(dtype: np.dtype[Any]) -> str:
    """TensorFlow's DataTypeString for a numpy dtype (``float32`` -> ``float``)."""
    if dtype.kind in "OSU":
        return "string"
    return _TF_NAMES.get(f"{dtype.kind}{dtype.itemsize}", dtype.name)


def _signatures(meta_graph: Any) -> dict[str, SignatureInfo]:
    signatures = {}
    for key, sig in meta_graph.signature_def.items():
        if key == INIT_OP_SIGNATURE:
            continue
        signatures[key] = SignatureInfo(
            name=key,
            method_name=sig.method_name,
            inputs={a: _tensor_info(a, t) for a, t in sig.inputs.items()},
            outputs={a: _tensor_info(a, t) for a, t in sig.outputs.items()},
            defaults={a: _default_value(t) for a, t in sig.defaults.items()},
        )
    return signatures


def _default_value(proto: Any) -> np.ndarray:
    tf = require("tensorflow")
    value: np.ndarray = tf.make_ndarray(proto)
    return value


def _tensor_info(alias: str, info: Any) -> TensorSpecInfo:
    shape: tuple[int | None, ...] | None
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return TensorSpecInfo(alias=alias, tensor_name=info.name, dtype_enum=int(info.dtype), shape=shape)
