"""The server's options: every flag of TF Serving 2.19's ``tensorflow_model_server``, same names and defaults.

:class:`ServerOptions` has one field per flag (``model_servers/main.cc`` and the defaults of
``server.h``'s ``Options``), plus two of ours (``rest_api_host``, ``grpc_host``: the bind
addresses, which TF Serving fixes to ``0.0.0.0``). A field's metadata says what the flag means
here: ``help`` (its usage line) and, for flags that cannot apply to an embedded CPU server of
SavedModels (TPU, GPU, TFLite, ALTS), ``ignored`` with the reason; such a flag is accepted and
logged once when set. Known differences from TF Serving's binary are stated in ``difference``.

:func:`parse_flags` reads a command line the way ``tensorflow::Flags`` does (``--name=value``,
``--flag`` / ``--flag=true|false|1|0`` for booleans) and also takes ``--name value`` and
``--noflag``. An argument it does not know is reported (TF Serving prints ``unknown argument``
and starts anyway); a value that does not parse is an error.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import InputError


def _flag(default: Any, help: str, *, ignored: str = "", difference: str = "", ours: bool = False) -> Any:  # noqa: A002
    meta = {"help": help, "ignored": ignored, "difference": difference, "ours": ours}
    return field(default=default, metadata=meta)


def schedulable_cpus() -> int:
    """TensorFlow's NumSchedulableCPUs: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_thread_count() -> int:
    """TF Serving's default for --grpc_max_threads and --rest_api_num_threads: 4 x schedulable CPUs."""
    return 4 * schedulable_cpus()


@dataclass(frozen=True)
class ServerOptions:
    """TF Serving's flags, same names and defaults (see the module docstring)."""

    port: int = _flag(8500, "TCP port to listen on for gRPC/HTTP API. Disabled if port set to zero.")
    grpc_socket_path: str = _flag("", "If non-empty, listen to a UNIX socket for gRPC API on the given path.")
    rest_api_port: int = _flag(
        8501,
        "Port to listen on for HTTP/REST API. If set to zero HTTP/REST API will not be exported.",
        difference="TF Serving's binary defaults to 0 (REST off); its Docker image passes 8501, as we default",
    )
    rest_api_num_threads: int = _flag(0, "Number of threads for HTTP/REST API processing (0: 4 x CPUs).")
    rest_api_timeout_in_ms: int = _flag(30000, "Timeout for HTTP/REST API calls.")
    rest_api_enable_cors_support: bool = _flag(False, "Enable CORS headers in response.")
    enable_batching: bool = _flag(False, "enable batching")
    allow_version_labels_for_unavailable_models: bool = _flag(
        False, "If true, allows assigning unused version labels to models that are not available yet."
    )
    batching_parameters_file: str = _flag("", "If non-empty, read an ascii BatchingParameters protobuf from it.")
    enable_per_model_batching_parameters: bool = _flag(
        False,
        "Read per-model batching params from batching_params.pbtxt in the SavedModel dir.",
        ignored="per-model batching parameters are not implemented; the global ones apply",
    )
    model_config_file: str = _flag("", "If non-empty, read an ascii ModelServerConfig protobuf and serve its models.")
    model_config_file_poll_wait_seconds: float = _flag(
        0, "Interval in seconds between each poll of the filesystem for model_config_file (0: read once)."
    )
    model_name: str = _flag("default", "name of model (ignored if --model_config_file flag is set)")
    model_base_path: str = _flag("", "path to export (ignored if --model_config_file flag is set, otherwise required)")
    num_load_threads: int = _flag(0, "Threads used to load servables (0: loads are serial).")
    num_unload_threads: int = _flag(0, "Threads used to unload servables (0: unloads are serial).")
    max_num_load_retries: int = _flag(5, "Times a load is retried after the first failure, before giving up.")
    load_retry_interval_micros: int = _flag(60_000_000, "Interval between load retries, in microseconds.")
    file_system_poll_wait_seconds: float = _flag(
        1, "Interval in seconds between each poll of the filesystem for new model version (0: once)."
    )
    flush_filesystem_caches: bool = _flag(
        True, "Flush filesystem caches after loads.", ignored="only TF Serving's own file systems keep such caches"
    )
    tensorflow_session_parallelism: int = _flag(0, "Number of threads to use for running a Tensorflow session.")
    tensorflow_session_config_file: str = _flag("", "If non-empty, read an ascii TensorFlow Session ConfigProto.")
    tensorflow_intra_op_parallelism: int = _flag(0, "Threads to parallelize the execution of an individual op.")
    tensorflow_inter_op_parallelism: int = _flag(0, "Number of operators that can be executed simultaneously.")
    use_alts_credentials: bool = _flag(False, "Use Google ALTS credentials", ignored="ALTS runs only on Google Cloud")
    ssl_config_file: str = _flag("", "If non-empty, read an ascii SSLConfig protobuf and serve gRPC over TLS.")
    platform_config_file: str = _flag(
        "",
        "If non-empty, read an ascii PlatformConfigMap protobuf.",
        ignored="only the TensorFlow platform is served; use the session flags instead",
    )
    per_process_gpu_memory_fraction: float = _flag(0.0, "GPU memory fraction.", ignored="no GPU")
    saved_model_tags: str = _flag("", "Comma-separated set of tags of the meta graph def to load (default: serve).")
    grpc_channel_arguments: str = _flag(
        "", "A comma separated list of arguments to be passed to the grpc server (e.g. grpc.max_connection_age_ms=2000)"
    )
    grpc_max_threads: int = _flag(0, "Max grpc server threads to handle grpc messages (0: 4 x CPUs).")
    enable_model_warmup: bool = _flag(True, "Replay assets.extra/tf_serving_warmup_requests at load.")
    num_request_iterations_for_warmup: int = _flag(0, "Times each warm-up request is replayed (used only if > 0).")
    version: bool = _flag(False, "Display version")
    monitoring_config_file: str = _flag("", "If non-empty, read an ascii MonitoringConfig protobuf.")
    remove_unused_fields_from_bundle_metagraph: bool = _flag(
        True, "Removes unused fields from MetaGraphDef proto message to save memory."
    )
    prefer_tflite_model: bool = _flag(False, "Prefer model.tflite.", ignored="TensorFlow Lite models are not served")
    num_tflite_pools: int = _flag(0, "TFLite interpreter pools.", ignored="TensorFlow Lite models are not served")
    num_tflite_interpreters_per_pool: int = _flag(
        1, "TFLite interpreters per pool.", ignored="TensorFlow Lite models are not served"
    )
    enable_signature_method_name_check: bool = _flag(False, "Enable method_name check for SignatureDef.")
    xla_cpu_compilation_enabled: bool = _flag(
        False, "Enable XLA:CPU JIT.", ignored="XLA JIT is TensorFlow's own choice per function here"
    )
    xla_gpu_compilation_enabled: bool = _flag(False, "Enable XLA:GPU JIT.", ignored="no GPU")
    enable_profiler: bool = _flag(True, "Enable profiler service.")
    thread_pool_factory_config_file: str = _flag(
        "", "ThreadPoolConfig protobuf.", ignored="custom thread pool factories are TF Serving plug-ins"
    )
    mixed_precision: str = _flag("", "specify mixed_precision mode (bfloat16: oneDNN bfloat16 where the CPU has it)")
    skip_initialize_tpu: bool = _flag(False, "Whether to skip auto initializing TPU.", ignored="no TPU")
    enable_grpc_healthcheck_service: bool = _flag(False, "Enable the standard gRPC healthcheck service.")
    enable_serialization_as_tensor_content: bool = _flag(
        False, "Enable serialization of predict response as tensor content."
    )
    # ours: where to bind (TF Serving binds every address)
    rest_api_host: str = _flag("0.0.0.0", "Address the REST API binds (ours; TF Serving binds 0.0.0.0).", ours=True)
    grpc_host: str = _flag("0.0.0.0", "Address the gRPC API binds (ours; TF Serving binds 0.0.0.0).", ours=True)
    # ours: limits (what one request or client may cost; README "Limits and reliability")
    max_request_bytes: int = _flag(
        64 << 20, "Largest REST body / gRPC message, in bytes (413 / RESOURCE_EXHAUSTED beyond).", ours=True
    )
    max_request_elements: int = _flag(
        1 << 24, "Most tensor elements one request may decode to, all inputs together.", ours=True
    )
    max_request_decoded_bytes: int = _flag(
        512 << 20, "Most bytes one request's tensors may decode to (strings count 64 + their length).", ours=True
    )
    max_batch_size: int = _flag(
        0,
        "Largest batch (dim 0) of a string input (encoded images, examples) (0: the batching max_batch_size, else 64).",
        ours=True,
    )
    max_in_flight_requests_per_model: int = _flag(
        0, "Requests one model runs at once (0: 2 x CPUs); more wait in its queue.", ours=True
    )
    max_queued_requests_per_model: int = _flag(
        64, "Requests one model holds waiting; beyond it UNAVAILABLE (HTTP 503) at once.", ours=True
    )
    rest_api_max_header_bytes: int = _flag(65536, "Largest request head (431 / 414 beyond).", ours=True)
    rest_api_header_timeout_in_ms: int = _flag(30000, "Time to receive a request head once begun (408).", ours=True)
    rest_api_idle_timeout_in_ms: int = _flag(60000, "An idle keep-alive connection is closed after this.", ours=True)
    rest_api_max_large_bodies: int = _flag(
        4, "REST bodies of 1 MiB or more read at once; beyond it 503 at once.", ours=True
    )
    drain_timeout_seconds: float = _flag(
        30.0, "On SIGTERM/SIGINT: how long in-flight requests may take to finish.", ours=True
    )

    @property
    def tags(self) -> tuple[str, ...]:
        """The meta graph's tags (``--saved_model_tags``; ``serve`` when empty)."""
        tags = tuple(t.strip() for t in self.saved_model_tags.split(",") if t.strip())
        return tags or ("serve",)

    def ignored_flags(self) -> list[tuple[str, str]]:
        """``(flag, reason)`` for each flag set away from its default that has no effect here."""
        out = []
        for f in dataclasses.fields(self):
            reason = f.metadata.get("ignored", "")
            if reason and getattr(self, f.name) != f.default:
                out.append((f.name, reason))
        return out


@dataclass(frozen=True)
class ParsedFlags:
    options: ServerOptions
    unknown: list[str]


_TRUE = ("true", "1")
_FALSE = ("false", "0")
_FIELDS = {f.name: f for f in dataclasses.fields(ServerOptions)}


def _field_type(name: str) -> type:
    return type(_FIELDS[name].default)


def _convert(name: str, raw: str) -> Any:
    kind = _field_type(name)
    if kind is bool:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InputError(f"Illegal value for flag --{name}: {raw!r} (want true, false, 1 or 0)")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise InputError(f"Illegal value for flag --{name}: {raw!r} (want an integer)") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise InputError(f"Illegal value for flag --{name}: {raw!r} (want a number)") from None
    return raw


def parse_flags(argv: Sequence[str]) -> ParsedFlags:
    """A ``tensorflow_model_server`` command line -> :class:`ServerOptions` (and the arguments it did not know)."""
    values: dict[str, Any] = {}
    unknown: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            unknown.append(arg)
            continue
        name, has_value, raw = arg.lstrip("-").partition("=")
        if name == "host":  # ours: both bind addresses
            if not has_value:
                if i >= len(args):
                    raise InputError("flag --host needs a value")
                raw, i = args[i], i + 1
            values["rest_api_host"] = values["grpc_host"] = raw
            continue
        if name not in _FIELDS and name.startswith("no") and name[2:] in _FIELDS and not has_value:
            if _field_type(name[2:]) is bool:
                values[name[2:]] = False
                continue
        if name not in _FIELDS:
            unknown.append(arg)
            continue
        if has_value:
            values[name] = _convert(name, raw)
        elif _field_type(name) is bool:
            values[name] = True
        elif i < len(args):
            values[name] = _convert(name, args[i])
            i += 1
        else:
            raise InputError(f"flag --{name} needs a value (--{name}=VALUE)")
    return ParsedFlags(options=ServerOptions(**values), unknown=unknown)


def usage(program: str = "yolo-tfserving serve") -> str:
    """The flag list, in the layout of TF Serving's usage text."""
    lines = [f"usage: {program}", "Flags:"]
    for f in dataclasses.fields(ServerOptions):
        default = f.default
        shown = _shown(default)
        kind = {bool: "bool", int: "int32", float: "float", str: "string"}[type(default)]
        note = f" [ignored: {f.metadata['ignored']}]" if f.metadata["ignored"] else ""
        lines.append(f"\t--{f.name}={shown}\t{kind}\t{f.metadata['help']}{note}")
    return "\n".join(lines) + "\n"


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, str):
        return f'"{default}"'
    return str(default)
