"""TF Serving's config files, read the way ``tensorflow_model_server`` reads them.

Every file (``--model_config_file``, ``--batching_parameters_file``, ``--monitoring_config_file``,
``--ssl_config_file``) is a text-format protobuf parsed with protobuf's ``text_format`` into our wire
messages (:mod:`yolo_tfserving._wire`): unknown fields are refused, and a file that does not parse gives
TF Serving's words (``Error parsing text-format tensorflow.serving.ModelServerConfig: 1:1: ...`` and
``Invalid protobuf file: '<path>'``). A ModelServerConfig becomes :class:`ModelConfig` s after
ServerCore's checks (unique names, absolute base paths, the ``tensorflow`` platform).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message

from .status import Code, ServingStatusError, failed_precondition, invalid_argument

_M = TypeVar("_M", bound=Message)


class ConfigFileError(ServingStatusError):
    """A config file that cannot be read or parsed; ``detail`` is the parser's line (what TF Serving logs)."""

    def __init__(self, code: Code, message: str, detail: str = "") -> None:
        super().__init__(code, message)
        self.detail = detail


def read_text_proto(path: Path, message_type: type[_M]) -> _M:
    """A text-format file into a new ``message_type`` message (ParseProtoTextFile)."""
    from google.protobuf import text_format

    from .._wire._pool import POOL

    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise ConfigFileError(Code.NOT_FOUND, f"{path}; No such file or directory") from None
    except OSError as exc:
        raise ConfigFileError(Code.FAILED_PRECONDITION, f"{path}; {exc.strerror or exc}") from None
    message = message_type()
    try:
        text_format.Parse(text, message, descriptor_pool=POOL)
    except text_format.ParseError as exc:
        full_name = message.DESCRIPTOR.full_name
        reason = str(exc).split(" : ", 1)[-1]
        detail = f"Error parsing text-format {full_name}: {exc.GetLine()}:{exc.GetColumn()}: {reason}"
        raise ConfigFileError(Code.INVALID_ARGUMENT, f"Invalid protobuf file: '{path}'", detail) from None
    return message


@dataclass(frozen=True)
class VersionPolicy:
    kind: str = "latest"  # latest | all | specific
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        available = sorted(available)
        if self.kind == "all":
            return available
        if self.kind == "specific":
            return [v for v in available if v in self.versions]
        return available[-max(self.num_versions, 1) :]  # TF Serving serves at least one


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: dict[str, int] = field(default_factory=dict)
    platform: str = "tensorflow"


def model_configs(message: Any) -> list[ModelConfig]:
    """A ``ModelServerConfig`` message -> model configs, after ServerCore's checks (TF Serving's messages)."""
    kind = message.WhichOneof("config")
    if kind is None:
        return []
    if kind != "model_config_list":
        raise failed_precondition("custom_model_config is not supported: only a model_config_list can be served")
    out = []
    seen: set[str] = set()
    for config in message.model_config_list.config:
        if config.name in seen:
            raise invalid_argument(f"Illegal to list model {config.name} multiple times in config list")
        seen.add(config.name)
        base = config.base_path
        if not base.startswith("/") and "://" not in base:
            raise invalid_argument(
                f"Expected model {config.name} to have an absolute path or URI; got base_path()={base}"
            )
        if "://" in base and not base.startswith("file://"):
            raise invalid_argument(f"Model {config.name}: only local base paths are served here, got {base}")
        out.append(
            ModelConfig(
                name=config.name,
                base_path=Path(base.removeprefix("file://")),
                policy=_policy(config.model_version_policy),
                labels={str(k): int(v) for k, v in config.version_labels.items()},
                platform=_platform(config),
            )
        )
    return out


def _platform(config: Any) -> str:
    """ServerCore's GetPlatform: the deprecated model_type or model_platform, never both, never neither."""
    name = config.name
    if config.model_type and config.model_platform:
        raise invalid_argument(
            "Illegal setting both ModelServerConfig::model_type (deprecated) and "
            f"ModelServerConfig::model_platform, model name is {name}"
        )
    if config.model_type:
        if config.model_type != 1:  # TENSORFLOW
            raise invalid_argument(f"ModelServerConfig::model_type choice {config.model_type} not supported.")
        return "tensorflow"
    if not config.model_platform:
        raise invalid_argument(
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            f"ModelServerConfig::model_platform, model name is {name}"
        )
    if config.model_platform != "tensorflow":
        raise invalid_argument(f"Model {name} requests unsupported platform {config.model_platform}")
    return "tensorflow"


def _policy(message: Any) -> VersionPolicy:
    kind = message.WhichOneof("policy_choice")
    if kind == "all":
        return VersionPolicy(kind="all")
    if kind == "specific":
        return VersionPolicy(kind="specific", versions=tuple(int(v) for v in message.specific.versions))
    if kind == "latest":
        return VersionPolicy(kind="latest", num_versions=int(message.latest.num_versions))
    return VersionPolicy()


def read_model_config_file(path: Path) -> list[ModelConfig]:
    from .._wire import serving_config_pb2

    return model_configs(read_text_proto(path, serving_config_pb2.ModelServerConfig))


def single_model_config(name: str, base_path: str) -> list[ModelConfig]:
    """``--model_name`` / ``--model_base_path``: one model on the tensorflow platform (a relative path is
    taken from the working directory, as TF Serving's file system does)."""
    return [ModelConfig(name=name or "default", base_path=Path(base_path).resolve())]
