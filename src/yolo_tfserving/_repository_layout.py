"""The model repository's layout on disk, in one place: its file names, its version directories and the
per-version metadata ``export`` writes beside each SavedModel.

::

    <base>/models.config, batching_parameters.txt, monitoring.config
    <base>/<name>/<version>/saved_model.pb
    <base>/<name>/<version>/assets/class_names.txt
    <base>/<name>/<version>/assets.extra/tf_serving_warmup_requests
    <base>/<name>/<version>/assets.extra/yolo_tfserving.json   (:class:`ExportMetadata`)
    <base>/<name>/<version>/assets.extra/model.onnx            (absent with --no-onnx)
    <base>/<name>/<version>/assets.extra/parity.json

Light on purpose (no TensorFlow, torch or protobuf): export, serve, deploy, eval and the CLI all read it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ._errors import InputError
from ._limits import DEFAULT_MAX_PIXELS
from .ops.nms import NMSConfig

log = logging.getLogger("yolo_tfserving.repository")

# --------------------------------------------------------------------------- file names

MODELS_CONFIG = "models.config"
BATCHING_CONFIG = "batching_parameters.txt"
MONITORING_CONFIG = "monitoring.config"
SAVED_MODEL = "saved_model.pb"
ASSETS_EXTRA = Path("assets.extra")
CLASS_NAMES_ASSET = "class_names.txt"  # in the SavedModel's assets/
CLASS_NAMES_FILE = Path("assets") / CLASS_NAMES_ASSET
WARMUP_FILE = ASSETS_EXTRA / "tf_serving_warmup_requests"
METADATA_ASSET = ASSETS_EXTRA / "yolo_tfserving.json"
ONNX_ASSET = ASSETS_EXTRA / "model.onnx"
PARITY_ASSET = ASSETS_EXTRA / "parity.json"

# --------------------------------------------------------------------------- version directories

_VERSION_DIR = re.compile(r"\s*[+-]?[0-9]+\s*")
_INT64_MAX = (1 << 63) - 1


def parse_version_dir(name: str) -> int | None:
    """The version a directory name stands for, as TF Serving parses it (``absl::SimpleAtoi`` into an int64:
    ``"00000123"`` is version 123); ``None`` for names that are not versions."""
    if not _VERSION_DIR.fullmatch(name):
        return None
    version = int(name)
    return version if 0 <= version <= _INT64_MAX else None


def list_version_dirs(base: Path) -> dict[int, str]:
    """``{version: directory name}`` under a model's base path, as TF Serving's file-system source lists it
    (files and names that are not versions ignored); raises OSError when ``base`` cannot be listed.

    Two names for one version (``1`` and ``001``): the later name in sorted order wins, with a warning,
    as TF Serving keeps one of them.
    """
    found: dict[int, str] = {}
    for child in sorted(base.iterdir(), key=lambda p: p.name):
        version = parse_version_dir(child.name)
        if version is None or not child.is_dir():
            continue
        if version in found:
            log.warning(
                "Duplicate version directories detected. Version %d will be loaded from %s, %s will be ignored.",
                version,
                child.name,
                found[version],
            )
        found[version] = child.name
    return found


def saved_model_versions(model_dir: Path) -> dict[int, Path]:
    """``{version: directory}`` of the versions under ``model_dir`` that hold a ``saved_model.pb``, oldest
    first; empty when ``model_dir`` is not a directory."""
    if not model_dir.is_dir():
        return {}
    listed = list_version_dirs(model_dir)
    dirs = {v: model_dir / listed[v] for v in sorted(listed)}
    return {v: d for v, d in dirs.items() if (d / SAVED_MODEL).is_file()}


def resolve_version_dir(path: Path) -> Path:
    """A version directory, or the newest version under a model directory (the one TF Serving's default
    ``latest`` policy serves)."""
    if (path / SAVED_MODEL).is_file():
        return path
    if path.is_dir():
        try:
            listed = list_version_dirs(path)
        except OSError as exc:
            raise InputError(f"cannot list {path}: {exc.strerror or exc}") from exc
        if listed:
            newest = path / listed[max(listed)]
            if (newest / SAVED_MODEL).is_file():
                return newest
    raise InputError(f"{path} is neither a SavedModel version directory nor a model directory with versions")


# --------------------------------------------------------------------------- per-version metadata


@dataclass(frozen=True, kw_only=True)
class ExportMetadata:
    """What ``export`` stores beside the SavedModel in ``assets.extra/yolo_tfserving.json``.

    The file's keys are the field names, in this order, with ``nms`` written flat as the export-time NMS
    settings (``conf_threshold``, ``iou_threshold``, ``max_det``, ``agnostic``, ``multi_label``, the file's
    keys since the first release). Files written before a field existed read as its
    default: ``max_pixels`` (our default limit), ``rect`` (False), ``onnx_asset`` (the ONNX copy's path;
    ``None`` means exported with ``--no-onnx``), ``tensorflow_version`` (None: unknown), ``task`` (``"detect"``:
    one of :data:`TASKS`, what the model's head does).
    """

    size_hw: tuple[int, int]
    class_names: tuple[str, ...]
    stride: int
    nms: NMSConfig
    max_pixels: int = DEFAULT_MAX_PIXELS
    rect: bool = False
    signatures: tuple[str, ...]
    onnx_asset: str | None = str(ONNX_ASSET)
    source: str
    tensorflow_version: str | None = None
    task: str = "detect"

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object (tuples as lists, the NMS settings flat)."""
        data: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "nms":
                data.update((k, value[k]) for k in _NMS_KEYS)
            else:
                data[key] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str = "export metadata") -> ExportMetadata:
        """Parse the file's JSON object (unknown keys ignored); a missing or mistyped key is an InputError
        naming ``where``."""
        size_hw = _get(data, "size_hw", where)
        if not (isinstance(size_hw, list) and len(size_hw) == 2 and all(_is_int(s) for s in size_hw)):
            raise InputError(f"{where}: size_hw must be [height, width], got {size_hw!r}")
        optional: dict[str, Any] = {}
        if "max_pixels" in data:
            optional["max_pixels"] = _int(data, "max_pixels", where)
        if "rect" in data:
            optional["rect"] = _bool(data, "rect", where)
        if "onnx_asset" in data:
            onnx_asset = data["onnx_asset"]
            if onnx_asset is not None and not isinstance(onnx_asset, str):
                raise InputError(f"{where}: onnx_asset must be a path or null, got {onnx_asset!r}")
            optional["onnx_asset"] = onnx_asset
        if "task" in data:
            task = data["task"]
            if task not in TASKS:
                raise InputError(f"{where}: task must be one of {', '.join(TASKS)}, got {task!r}")
            optional["task"] = task
        return cls(
            size_hw=(size_hw[0], size_hw[1]),
            class_names=_strings(data, "class_names", where),
            stride=_int(data, "stride", where),
            nms=_nms(data, where),
            signatures=_strings(data, "signatures", where),
            source=_str(data, "source", where),
            tensorflow_version=_tensorflow_version(data, where),
            **optional,
        )

    @classmethod
    def read(cls, version_dir: Path) -> ExportMetadata:
        """The metadata of ``version_dir``; an InputError when it was not written by ``export``."""
        data = _read_json(version_dir)
        if data is None:
            raise InputError(f"{version_dir} was not written by yolo-tfserving export (no {METADATA_ASSET})")
        return cls.from_json(data, where=str(version_dir / METADATA_ASSET))

    def write(self, version_dir: Path) -> Path:
        path = version_dir / METADATA_ASSET
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))
        return path


TASKS = ("detect", "segment", "classify")
"""What an exported model's head does: YOLOv5's ``DetectionModel``, ``SegmentationModel``, ``ClassificationModel``."""

_NMS_KEYS = ("conf_threshold", "iou_threshold", "max_det", "agnostic", "multi_label")


def _nms(data: Mapping[str, Any], where: str) -> NMSConfig:
    try:
        return NMSConfig(
            conf_threshold=_float(data, "conf_threshold", where),
            iou_threshold=_float(data, "iou_threshold", where),
            max_det=_int(data, "max_det", where),
            agnostic=_bool(data, "agnostic", where),
            multi_label=_bool(data, "multi_label", where),
        )
    except InputError as exc:
        if str(exc).startswith(where):
            raise
        raise InputError(f"{where}: {exc}") from None


def read_export_metadata(version_dir: Path) -> ExportMetadata:
    """The facts ``export`` stored beside the SavedModel (size, class names, thresholds)."""
    return ExportMetadata.read(version_dir)


def exported_tensorflow_version(version_dir: Path) -> str | None:
    """The TensorFlow version ``export`` recorded for ``version_dir`` (None when it has no metadata or the
    metadata predates the key); only that key is read, so deploy does not depend on the others."""
    data = _read_json(version_dir)
    return None if data is None else _tensorflow_version(data, str(version_dir / METADATA_ASSET))


def missing_onnx_message(version_dir: Path, remedy: str) -> str:
    """Why ``version_dir`` holds no ONNX file, and ``remedy`` ("pass --weights model.pt") for the command."""
    try:
        no_onnx = ExportMetadata.read(version_dir).onnx_asset is None
    except InputError:  # no metadata, or metadata we cannot read: the plain message
        no_onnx = False
    if no_onnx:
        return f"{version_dir} has no ONNX (exported with --no-onnx); {remedy}, or re-export without --no-onnx"
    return f"{version_dir} has no {ONNX_ASSET}; {remedy}"


def _read_json(version_dir: Path) -> dict[str, Any] | None:
    """The metadata file's JSON object; None when there is no file."""
    path = version_dir / METADATA_ASSET
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not readable JSON ({exc}); fix it or remove it") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path} holds {type(data).__name__}, not a JSON object; fix it or remove it")
    return data


def _get(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise InputError(f"{where} has no {key!r}; re-export the model with yolo-tfserving export")
    return data[key]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(data: Mapping[str, Any], key: str, where: str) -> int:
    value = _get(data, key, where)
    if not _is_int(value):
        raise InputError(f"{where}: {key} must be an integer, got {value!r}")
    return int(value)


def _float(data: Mapping[str, Any], key: str, where: str) -> float:
    value = _get(data, key, where)
    if not (_is_int(value) or isinstance(value, float)):
        raise InputError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def _bool(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = _get(data, key, where)
    if not isinstance(value, bool):
        raise InputError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = _get(data, key, where)
    if not isinstance(value, str):
        raise InputError(f"{where}: {key} must be a string, got {value!r}")
    return value


def _strings(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = _get(data, key, where)
    if not (isinstance(value, list) and all(isinstance(s, str) for s in value)):
        raise InputError(f"{where}: {key} must be a list of strings, got {value!r}")
    return tuple(value)


def _tensorflow_version(data: Mapping[str, Any], where: str) -> str | None:
    value = data.get("tensorflow_version")
    if value is not None and not isinstance(value, str):
        raise InputError(f'{where}: tensorflow_version must be a string like "2.19.0", got {value!r}')
    return value
