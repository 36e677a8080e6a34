"""The TF Serving model repository on disk: ``<base>/<name>/<version>/`` plus its configs (the file names
and the version listing are :mod:`yolo_tfserving._repository_layout`'s).

A version directory appears whole or not at all: it is built beside its final place under
a name TF Serving ignores (not an integer) and renamed into place at the end.

``models.config`` is shared by every model of the repository: an export reads it (protobuf text
format, into our ``ModelServerConfig``), adds or updates its own model's entry and writes it back,
so the other models' entries -- version policies, labels, logging -- stay as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ExportError, InputError, OutputExistsError
from .._repository_layout import BATCHING_CONFIG, MODELS_CONFIG, MONITORING_CONFIG, list_version_dirs
from .._repository_layout import WARMUP_FILE as WARMUP_FILE


@dataclass(frozen=True)
class ModelRepository:
    """Paths of one model in a repository rooted at ``base``."""

    base: Path
    name: str

    @property
    def model_dir(self) -> Path:
        return self.base / self.name

    def version_dir(self, version: int) -> Path:
        return self.model_dir / str(version)

    def versions(self) -> list[int]:
        if not self.model_dir.is_dir():
            return []
        return sorted(list_version_dirs(self.model_dir))


def validate_name(name: str) -> str:
    if not name or "/" in name or name.startswith(".") or not all(c.isalnum() or c in "-_." for c in name):
        raise InputError(f"model name {name!r} must be letters, digits, '-', '_' or '.'")
    return name


@contextlib.contextmanager
def staged_version(repo: ModelRepository, version: int, *, force: bool) -> Iterator[Path]:
    """Yield a scratch directory; on success it becomes ``<name>/<version>`` atomically.

    On any error (or Ctrl-C) the scratch directory is removed and an existing version is
    left untouched.
    """
    if version < 1:
        raise InputError(f"version must be a positive integer, got {version}")
    final = repo.version_dir(version)
    if final.exists() and not force:
        raise OutputExistsError(f"{final} already exists; pass --force to replace it or choose another --version")
    try:
        repo.model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {repo.model_dir}: {exc.strerror}") from exc
    if not os.access(repo.model_dir, os.W_OK):
        raise ExportError(f"cannot write to {repo.model_dir}: permission denied")
    staging = repo.model_dir / f".staging-{version}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
        if final.exists():
            retired = repo.model_dir / f".retired-{version}-{uuid.uuid4().hex[:8]}"
            final.rename(retired)
            staging.rename(final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def models_config_text(models: list[tuple[str, str]], *, num_versions: int = 1) -> str:
    """A ModelServerConfig text proto for ``(name, base_path)`` pairs."""
    config = _new_models_config()
    for name, base_path in models:
        merge_model(config, name, base_path, num_versions=num_versions)
    return _text(config)


def read_models_config(path: Path) -> Any:
    """The ``ModelServerConfig`` in ``path`` (an empty one when there is no file); a file that does not
    parse, or holds a ``custom_model_config``, is an :class:`InputError`: it is never overwritten."""
    from google.protobuf import text_format

    from .._wire.formats import parse_text

    config = _new_models_config()
    if not path.exists():
        return config
    try:
        parse_text(path.read_text(encoding="utf-8"), config)
    except (OSError, UnicodeDecodeError, text_format.ParseError) as exc:
        raise InputError(
            f"{path} does not parse as a ModelServerConfig ({exc}); fix it, or move it aside and export again"
        ) from exc
    if config.WhichOneof("config") == "custom_model_config":
        raise InputError(f"{path} holds a custom_model_config; export adds models to a model_config_list only")
    return config


def merge_model(config: Any, name: str, base_path: str, *, num_versions: int = 1) -> None:
    """Add ``name`` to ``config``'s model list, or point its entry at ``base_path``; an existing entry keeps
    its version policy, labels and logging config, the other entries are untouched."""
    models = config.model_config_list
    entry = next((c for c in models.config if c.name == name), None)
    if entry is None:
        entry = models.config.add(name=name)
        entry.model_version_policy.latest.num_versions = num_versions
    entry.base_path = base_path
    entry.model_platform = "tensorflow"


def _new_models_config() -> Any:
    from .._wire.serving_config_pb2 import ModelServerConfig

    return ModelServerConfig()


def _text(config: Any) -> str:
    from .._wire.formats import message_to_text

    return str(message_to_text(config))


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[None]:
    """Serialize read-merge-write of ``models.config`` between exports into the same repository."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    fd = os.open(base, os.O_RDONLY)  # a lock on the directory itself: no lock file left in the repository
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def batching_config_text(
    *,
    max_batch_size: int = 8,
    batch_timeout_micros: int = 2000,
    num_batch_threads: int = 2,
    max_enqueued_batches: int = 100,
) -> str:
    """A BatchingParameters text proto (TF Serving's --batching_parameters_file)."""
    return (
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
        f"num_batch_threads {{ value: {num_batch_threads} }}\n"
        f"max_enqueued_batches {{ value: {max_enqueued_batches} }}\n"
        "pad_variable_length_inputs: true\n"
    )


MONITORING_CONFIG_TEXT = 'prometheus_config {\n  enable: true\n  path: "/monitoring/prometheus/metrics"\n}\n'


def write_repository_configs(repo: ModelRepository) -> list[Path]:
    """Merge ``repo``'s model into ``models.config`` and write the batching parameters and the monitoring
    config at ``base``.

    ``models.config`` names ``/models/<name>``: the path the official Docker image mounts
    (``deploy`` writes matching mounts); a different base can be passed to ``serve``.
    """
    written = []
    with _locked(repo.base):
        config = read_models_config(repo.base / MODELS_CONFIG)
        merge_model(config, repo.name, f"/models/{repo.name}")
        files = {
            MODELS_CONFIG: _text(config),
            BATCHING_CONFIG: batching_config_text(),
            MONITORING_CONFIG: MONITORING_CONFIG_TEXT,
        }
        for filename, text in files.items():
            path = repo.base / filename
            tmp = path.with_name(f".{filename}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
            written.append(path)
    return written
