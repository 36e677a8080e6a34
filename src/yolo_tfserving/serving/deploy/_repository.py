"""Reading the model repository ``export`` wrote: the model, its versions, its TensorFlow version, its configs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ..._errors import InputError
from ..._repository_layout import (
    BATCHING_CONFIG,
    METADATA_ASSET,
    MODELS_CONFIG,
    MONITORING_CONFIG,
    exported_tensorflow_version,
    saved_model_versions,
)
from ._common import _k8s_name
from ._image import _release, installed_tensorflow_version, serving_version_for

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class _Model:
    repo: Path
    name: str
    versions: tuple[int, ...]
    tf_version: Version
    configs: dict[str, str]

    @property
    def k8s_name(self) -> str:
        return _k8s_name(self.name)

    @property
    def serving_version(self) -> str:
        return _release(self.tf_version)


def _find_model(repo: Path, model_name: str | None) -> tuple[str, dict[int, Path]]:
    if not repo.exists():
        raise InputError(f"model repository {repo} does not exist; pass the directory `yolo-tfserving export` wrote")
    if not repo.is_dir():
        raise InputError(f"model repository {repo} is not a directory; pass the directory holding models.config")
    if saved_model_versions(repo):
        raise InputError(
            f"{repo} is a model directory (it holds version directories); pass its parent, the repository "
            f"that holds models.config, i.e. {repo.parent}"
        )
    candidates = sorted(
        p.name for p in repo.iterdir() if p.is_dir() and not p.name.startswith(".") and saved_model_versions(p)
    )
    if model_name is None:
        if not candidates:
            raise InputError(
                f"no model in {repo}: expected {repo}/<model_name>/<version>/saved_model.pb; "
                "export one first with `yolo-tfserving export`"
            )
        if len(candidates) > 1:
            raise InputError(f"{repo} holds several models ({', '.join(candidates)}); choose one with model_name=")
        model_name = candidates[0]
    if not _MODEL_NAME.fullmatch(model_name):
        raise InputError(
            f"model name {model_name!r} must be letters, digits, '.', '_' or '-' (it appears in URLs and shell "
            "commands); rename the model directory and its entry in models.config"
        )
    model_dir = repo / model_name
    if not model_dir.is_dir():
        known = f"models found: {', '.join(candidates)}" if candidates else "no model found there"
        raise InputError(f"model {model_name!r} is not in {repo} ({known}); pass one of them as model_name=")
    versions = saved_model_versions(model_dir)
    if not versions:
        raise InputError(
            f"{model_dir} has no version directory with a saved_model.pb (expected "
            f"{model_dir}/<version>/saved_model.pb with an integer version); export the model again"
        )
    return model_name, versions


def _parse_version(text: str, where: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise InputError(f"{where}: {text!r} is not a version number like 2.19.0; fix it or remove the key") from None


def _model_tf_version(version_dir: Path) -> Version:
    value = exported_tensorflow_version(version_dir)
    if value is not None:
        return _parse_version(value, f"{version_dir / METADATA_ASSET}: tensorflow_version")
    return _parse_version(installed_tensorflow_version(), "installed tensorflow version")


def _read_configs(repo: Path, name: str, *, enable_batching: bool) -> dict[str, str]:
    needed = [MODELS_CONFIG, MONITORING_CONFIG] + ([BATCHING_CONFIG] if enable_batching else [])
    configs: dict[str, str] = {}
    for filename in needed:
        path = repo / filename
        if not path.is_file():
            hint = " or pass enable_batching=False" if filename == BATCHING_CONFIG else ""
            raise InputError(
                f"{path} is missing; re-run `yolo-tfserving export` into {repo} (it writes {MODELS_CONFIG}, "
                f"{BATCHING_CONFIG} and {MONITORING_CONFIG}){hint}"
            )
        configs[filename] = path.read_text()
    configs[MODELS_CONFIG] = _one_model_config(repo / MODELS_CONFIG, name)
    return configs


def _one_model_config(path: Path, name: str) -> str:
    """``models.config`` cut to the deployed model's entry (its policy and labels kept): a server whose
    config lists a model it cannot find waits for it, and only this model's versions are shipped where
    the config is shipped apart from the repository (the k8s ConfigMap)."""
    from ..._wire.formats import message_to_text
    from ...export.repository import read_models_config

    config = read_models_config(path)
    entries = {c.name: c for c in config.model_config_list.config}
    if name not in entries:
        raise InputError(
            f"{path} does not list model {name!r} (it lists: {', '.join(entries) or 'none'}); "
            f'add a config {{ name: "{name}" base_path: "/models/{name}" model_platform: "tensorflow" }}'
        )
    base_path = entries[name].base_path
    if base_path.rstrip("/") != f"/models/{name}":
        raise InputError(
            f"{path} gives base_path {base_path!r} for {name!r}, but the image mounts the "
            f'repository at /models; set base_path: "/models/{name}"'
        )
    if len(entries) == 1:
        return path.read_text()
    config.model_config_list.ClearField("config")
    config.model_config_list.config.add().CopyFrom(entries[name])
    return str(message_to_text(config))


def _load_model(repo: Path, model_name: str | None, *, enable_batching: bool) -> _Model:
    repo = repo.expanduser().resolve()
    name, version_dirs = _find_model(repo, model_name)
    configs = _read_configs(repo, name, enable_batching=enable_batching)
    tf_version = serving_version_for([_model_tf_version(d) for d in version_dirs.values()])
    return _Model(repo, name, tuple(version_dirs), tf_version, configs)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
