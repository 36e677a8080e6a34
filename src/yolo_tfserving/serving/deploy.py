"""``deploy``: ready-to-apply files that run a model repository on the official ``tensorflow/serving`` image.

The repository is the one ``export`` writes::

    <repo>/models.config               ModelServerConfig, base_path "/models/<name>"
    <repo>/batching_parameters.txt     BatchingParameters
    <repo>/monitoring.config           MonitoringConfig (Prometheus)
    <repo>/<name>/<version>/saved_model.pb
    <repo>/<name>/<version>/assets.extra/yolo_tfserving.json   (may name "tensorflow_version")

Targets (one file each, plus a ``README.md`` that says how to apply what is in ``out``):

* ``docker``  -> ``run.sh``: one ``docker run``, the repository mounted read-only at ``/models``.
* ``compose`` -> ``docker-compose.yml``: the same, with a healthcheck on ``/v1/models/<name>``.
* ``k8s``     -> ``k8s.yaml``: ConfigMap, PersistentVolumeClaim, Deployment, Service, HorizontalPodAutoscaler.
* ``kserve``  -> ``kserve.yaml``: ConfigMap, PersistentVolumeClaim and a KServe ``InferenceService``.

The image tag is the TensorFlow version that built the model (TF Serving releases track TensorFlow's),
compared numerically. Only the standard library is used: the YAML is written here, not by PyYAML.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from .._errors import InputError

__all__ = [
    "TARGETS",
    "deploy",
    "image_for",
    "installed_tensorflow_version",
    "server_args",
    "serving_version_for",
    "to_yaml",
]

TARGETS = ("docker", "compose", "k8s", "kserve")
IMAGE_REPOSITORY = "tensorflow/serving"
FALLBACK_TF_VERSION = "2.19.0"
GRPC_PORT = 8500
REST_PORT = 8501
MODELS_CONFIG = "models.config"
BATCHING_CONFIG = "batching_parameters.txt"
MONITORING_CONFIG = "monitoring.config"
METADATA_ASSET = Path("assets.extra") / "yolo_tfserving.json"
DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"
CPU_TARGET_UTILIZATION = 70

_FILE_OF = {"docker": "run.sh", "compose": "docker-compose.yml", "k8s": "k8s.yaml", "kserve": "kserve.yaml"}
# Kubernetes resource.Quantity (the pattern KServe's CRD and the core schemas use).
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# --------------------------------------------------------------------------- the repository


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


def _version_dirs(model_dir: Path) -> list[Path]:
    dirs = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").is_file()]
    return sorted(dirs, key=lambda p: int(p.name))


def _find_model(repo: Path, model_name: str | None) -> tuple[str, list[Path]]:
    if not repo.exists():
        raise InputError(f"model repository {repo} does not exist; pass the directory `yolo-tfserving export` wrote")
    if not repo.is_dir():
        raise InputError(f"model repository {repo} is not a directory; pass the directory holding models.config")
    if _version_dirs(repo):
        raise InputError(
            f"{repo} is a model directory (it holds version directories); pass its parent, the repository "
            f"that holds models.config, i.e. {repo.parent}"
        )
    candidates = sorted(
        p.name for p in repo.iterdir() if p.is_dir() and not p.name.startswith(".") and _version_dirs(p)
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
    versions = _version_dirs(model_dir)
    if not versions:
        raise InputError(
            f"{model_dir} has no version directory with a saved_model.pb (expected "
            f"{model_dir}/<version>/saved_model.pb with an integer version); export the model again"
        )
    return model_name, versions


def installed_tensorflow_version() -> str:
    """The TensorFlow installed here (read from package metadata, never imported), or the fallback."""
    try:
        return importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return FALLBACK_TF_VERSION


def _parse_version(text: str, where: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise InputError(f"{where}: {text!r} is not a version number like 2.19.0; fix it or remove the key") from None


def _model_tf_version(version_dir: Path) -> Version:
    path = version_dir / METADATA_ASSET
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path} is not readable JSON ({exc}); fix it or remove it") from exc
        if isinstance(data, dict) and data.get("tensorflow_version") is not None:
            value = data["tensorflow_version"]
            if not isinstance(value, str):
                raise InputError(f'{path}: tensorflow_version must be a string like "2.19.0", got {value!r}')
            return _parse_version(value, f"{path}: tensorflow_version")
    return _parse_version(installed_tensorflow_version(), "installed tensorflow version")


def serving_version_for(versions: Sequence[Version]) -> Version:
    """The TensorFlow Serving release to run models built by ``versions``: the newest of them (numerically)."""
    if not versions:
        raise InputError("no TensorFlow version to choose an image for")
    return max(versions)


def _release(version: Version) -> str:
    """``X.Y.Z`` of a version (pre-release, local and dev parts dropped; missing parts are 0)."""
    parts = (*version.release, 0, 0)[:3]
    return ".".join(str(p) for p in parts)


def _split_image(image: str) -> tuple[str, str | None]:
    """``(repository, tag)`` of an image reference; the tag is None when absent (digest or default)."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


def image_for(tf_version: Version, image: str | None = None) -> str:
    """The ``tensorflow/serving`` image for a model built by ``tf_version``.

    A caller's ``image`` is kept, but refused when its tag is a version older than ``tf_version``
    (a TF Serving older than the TensorFlow that wrote the SavedModel may not know its ops).
    """
    required = _release(tf_version)
    if image is None:
        return f"{IMAGE_REPOSITORY}:{required}"
    if not image.strip() or any(c.isspace() for c in image):
        raise InputError(f"image {image!r} is not an image reference like {IMAGE_REPOSITORY}:{required}")
    _, tag = _split_image(image)
    match = re.match(r"^(\d+(?:\.\d+)*)", tag or "")
    if match and Version(match.group(1)) < Version(required):
        raise InputError(
            f"image {image} is older than TensorFlow {tf_version}, which built the model; "
            f"use {IMAGE_REPOSITORY}:{required} or newer"
        )
    return image


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
    base_paths: dict[str, str] = {}
    current: str | None = None
    for match in re.finditer(r'\b(name|base_path)\s*:\s*"([^"]*)"', configs[MODELS_CONFIG]):
        if match.group(1) == "name":
            current = match.group(2)
        elif current is not None:
            base_paths[current] = match.group(2)
    if name not in base_paths:
        raise InputError(
            f"{repo / MODELS_CONFIG} does not list model {name!r} (it lists: {', '.join(base_paths) or 'none'}); "
            f'add a config {{ name: "{name}" base_path: "/models/{name}" model_platform: "tensorflow" }}'
        )
    if base_paths[name].rstrip("/") != f"/models/{name}":
        raise InputError(
            f"{repo / MODELS_CONFIG} gives base_path {base_paths[name]!r} for {name!r}, but the image mounts the "
            f'repository at /models; set base_path: "/models/{name}"'
        )
    return configs


def _load_model(repo: Path, model_name: str | None, *, enable_batching: bool) -> _Model:
    repo = repo.expanduser().resolve()
    name, version_dirs = _find_model(repo, model_name)
    configs = _read_configs(repo, name, enable_batching=enable_batching)
    tf_version = serving_version_for([_model_tf_version(d) for d in version_dirs])
    return _Model(repo, name, tuple(int(d.name) for d in version_dirs), tf_version, configs)


def _k8s_name(name: str) -> str:
    """A DNS-1035 label (what Services and InferenceServices need) derived from a model name."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)
    if not text or not text[0].isalpha():
        text = f"m-{text}".rstrip("-")
    return text[:40].rstrip("-")


def _metrics_path(monitoring_config: str) -> str:
    match = re.search(r'\bpath\s*:\s*"([^"]+)"', monitoring_config)
    return match.group(1) if match else DEFAULT_METRICS_PATH


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- YAML (block style, no dependency)

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
            return value
        return _quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar in printable ASCII (anything else escaped, astral characters as \\U)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _block_text(text: str, indent: int) -> str | None:
    """A literal block scalar for multi-line text, or None when one cannot hold it exactly."""
    if "\n" not in text or text.startswith((" ", "\n")) or text.endswith("\n\n"):
        return None
    if not all(line.isascii() and line.isprintable() for line in text.split("\n")):  # refuses \r, \t, \x85...
        return None
    indicator = "|" if text.endswith("\n") else "|-"
    pad = " " * indent
    lines = [f"{pad}{line}" if line else "" for line in text.rstrip("\n").split("\n")]
    return indicator + "\n" + "\n".join(lines)


def _yaml(node: Any, indent: int = 0) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            head = f"{pad}{_scalar(str(key))}:"
            if isinstance(value, Mapping | list | tuple) and value:
                out.append(head)
                out.extend(_yaml(value, indent + 2 if isinstance(value, Mapping) else indent))
            elif isinstance(value, Mapping):
                out.append(f"{head} {{}}")
            elif isinstance(value, list | tuple):
                out.append(f"{head} []")
            elif isinstance(value, str) and (block := _block_text(value, indent + 2)) is not None:
                out.append(f"{head} {block}")
            else:
                out.append(f"{head} {_scalar(value)}")
    elif isinstance(node, list | tuple):
        for item in node:
            if isinstance(item, Mapping) and item:
                lines = _yaml(item, indent + 2)
                lines[0] = f"{pad}- {lines[0][indent + 2 :]}"
                out.extend(lines)
            elif isinstance(item, list | tuple) and item:
                lines = _yaml(item, indent + 2)
                lines[0] = f"{pad}- {lines[0][indent + 2 :]}"
                out.extend(lines)
            elif isinstance(item, Mapping):
                out.append(f"{pad}- {{}}")
            elif isinstance(item, list | tuple):
                out.append(f"{pad}- []")
            else:
                out.append(f"{pad}- {_scalar(item)}")
    else:
        out.append(f"{pad}{_scalar(node)}")
    return out


def to_yaml(documents: Sequence[tuple[str, Any]]) -> str:
    """Several YAML documents, each preceded by its ``# comment`` lines (a comment may be empty)."""
    chunks = []
    for comment, doc in documents:
        lines = [f"# {c}".rstrip() for c in comment.splitlines()] if comment else []
        chunks.append("\n".join([*lines, *_yaml(doc)]) + "\n")
    return "---\n".join(chunks)


# --------------------------------------------------------------------------- the server's flags


def server_args(config_dir: str, *, enable_batching: bool, models_config: bool = True) -> list[str]:
    """``tensorflow_model_server`` flags (names from model_servers/main.cc) for configs under ``config_dir``."""
    args = [f"--model_config_file={config_dir}/{MODELS_CONFIG}"] if models_config else []
    if enable_batching:
        args += ["--enable_batching", f"--batching_parameters_file={config_dir}/{BATCHING_CONFIG}"]
    args += [f"--monitoring_config_file={config_dir}/{MONITORING_CONFIG}", "--enable_model_warmup=true"]
    return args


@dataclass(frozen=True)
class _Options:
    image: str
    replicas: int
    namespace: str
    cpu: str
    memory: str
    max_replicas: int
    enable_batching: bool


def _labels(model: _Model) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": model.k8s_name,
        "app.kubernetes.io/component": "tensorflow-serving",
        "app.kubernetes.io/managed-by": "yolo-tfserving",
    }


def _resources(opts: _Options) -> dict[str, Any]:
    return {"requests": {"cpu": opts.cpu, "memory": opts.memory}, "limits": {"cpu": opts.cpu, "memory": opts.memory}}


def _pvc_size(model: _Model) -> str:
    return f"{max(1, math.ceil(2 * _dir_bytes(model.repo / model.name) / 2**30))}Gi"


def _pvc(model: _Model, opts: _Options) -> tuple[str, dict[str, Any]]:
    k = model.k8s_name
    pod = f"{k}-fill"
    ns = opts.namespace
    overrides = json.dumps(
        {
            "spec": {
                "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": f"{k}-models"}}],
                "containers": [
                    {
                        "name": "fill",
                        "image": "busybox",
                        "command": ["sleep", "3600"],
                        "volumeMounts": [{"name": "models", "mountPath": "/models"}],
                    }
                ],
            }
        },
        separators=(",", ":"),
    )
    comment = (
        f"The SavedModels live on this volume, laid out as the repository: /models/{model.name}/<version>/.\n"
        "Fill it once (and again for each new version) from the machine that holds the repository:\n"
        f"  kubectl -n {ns} run {pod} --image=busybox --restart=Never --overrides='{overrides}'\n"
        f"  kubectl -n {ns} wait --for=condition=Ready pod/{pod}\n"
        f"  tar -C {shlex.quote(str(model.repo))} -cf - {model.name} |"
        f" kubectl -n {ns} exec -i {pod} -- tar -C /models -xf -\n"
        f"  kubectl -n {ns} delete pod {pod}\n"
        "TF Serving polls the volume and loads new versions by itself. ReadWriteOnce works with every storage class\n"
        "but keeps all replicas on one node; where pods may land on several nodes, use ReadWriteMany (NFS, EFS,\n"
        "Filestore, CephFS, ...)."
    )
    doc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{k}-models", "namespace": ns, "labels": _labels(model)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": _pvc_size(model)}}},
    }
    return comment, doc


def _config_map(model: _Model, opts: _Options, name: str, *, models_config: bool) -> dict[str, Any]:
    keys = ([MODELS_CONFIG] if models_config else []) + ([BATCHING_CONFIG] if opts.enable_batching else [])
    keys.append(MONITORING_CONFIG)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": opts.namespace, "labels": _labels(model)},
        "data": {key: model.configs[key] for key in keys},
    }


# --------------------------------------------------------------------------- the targets


def _docker(model: _Model, opts: _Options) -> str:
    args = server_args("/models", enable_batching=opts.enable_batching)
    lines = [
        "docker run --rm",
        f"--name {model.k8s_name}-tfserving",
        f"-p {GRPC_PORT}:{GRPC_PORT} -p {REST_PORT}:{REST_PORT}",
        '-v "${REPO}:/models:ro"',
        shlex.quote(opts.image),
        *args,
    ]
    command = "exec " + " \\\n  ".join(lines)
    return (
        "#!/usr/bin/env bash\n"
        f"# Serve {model.name} (versions {', '.join(map(str, model.versions))}) with the official TensorFlow Serving\n"
        f"# image: gRPC on :{GRPC_PORT}, REST on :{REST_PORT}, Prometheus metrics on "
        f"http://localhost:{REST_PORT}{_metrics_path(model.configs[MONITORING_CONFIG])}.\n"
        "# The model repository is mounted read-only at /models; set YOLO_TFSERVING_REPO to use another copy.\n"
        "# Generated by yolo-tfserving deploy.\n"
        "set -euo pipefail\n"
        f"REPO={shlex.quote(str(model.repo))}\n"
        'REPO="${YOLO_TFSERVING_REPO:-$REPO}"\n'
        f"{command}\n"
    )


def _healthcheck_script(model: _Model) -> str:
    # The image has bash but neither curl nor wget: speak HTTP over bash's /dev/tcp.
    crlf = "\\r\\n"  # printf turns these into CR LF
    request = f"GET /v1/models/{model.name} HTTP/1.0{crlf}Host: localhost:{REST_PORT}{crlf}Connection: close{crlf * 2}"
    return f"exec 3<>/dev/tcp/127.0.0.1/{REST_PORT} && printf '{request}' >&3 && grep -q AVAILABLE <&3"


def _compose(model: _Model, opts: _Options) -> str:
    service = {
        "image": opts.image,
        "restart": "unless-stopped",
        "ports": [f"{GRPC_PORT}:{GRPC_PORT}", f"{REST_PORT}:{REST_PORT}"],
        "volumes": [{"type": "bind", "source": str(model.repo), "target": "/models", "read_only": True}],
        "command": server_args("/models", enable_batching=opts.enable_batching),
        "healthcheck": {
            "test": ["CMD", "bash", "-c", _healthcheck_script(model)],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
            "start_period": "120s",
        },
    }
    comment = (
        f"Serve {model.name} with the official TensorFlow Serving image: docker compose up -d\n"
        f"gRPC :{GRPC_PORT}, REST :{REST_PORT}; the repository {model.repo} is mounted read-only at /models.\n"
        f"Healthy once http://localhost:{REST_PORT}/v1/models/{model.name} reports a version AVAILABLE\n"
        "(the image has no curl or wget, so the healthcheck speaks HTTP through bash's /dev/tcp).\n"
        "Generated by yolo-tfserving deploy."
    )
    return to_yaml([(comment, {"services": {model.k8s_name: service}})])


def _probe(model: _Model, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": f"/v1/models/{model.name}", "port": REST_PORT},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _k8s(model: _Model, opts: _Options) -> str:
    k = model.k8s_name
    labels = _labels(model)
    selector = {"app.kubernetes.io/name": k}
    metrics_path = _metrics_path(model.configs[MONITORING_CONFIG])
    config_map = _config_map(model, opts, f"{k}-config", models_config=True)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": k, "namespace": opts.namespace, "labels": labels},
        "spec": {
            "replicas": opts.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(REST_PORT),
                        "prometheus.io/path": metrics_path,
                    },
                },
                "spec": {
                    "containers": [
                        {
                            "name": "tensorflow-serving",
                            "image": opts.image,
                            "args": server_args("/config", enable_batching=opts.enable_batching),
                            "ports": [
                                {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
                                {"name": "http", "containerPort": REST_PORT, "protocol": "TCP"},
                            ],
                            "resources": _resources(opts),
                            "startupProbe": _probe(model, period=10, failures=30),
                            "readinessProbe": _probe(model, period=10, failures=3),
                            "livenessProbe": _probe(model, period=20, failures=3),
                            "volumeMounts": [
                                {"name": "models", "mountPath": "/models", "readOnly": True},
                                {"name": "config", "mountPath": "/config", "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "models", "persistentVolumeClaim": {"claimName": f"{k}-models", "readOnly": True}},
                        {"name": "config", "configMap": {"name": f"{k}-config"}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": k, "namespace": opts.namespace, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                {"name": "http", "port": REST_PORT, "targetPort": "http", "protocol": "TCP"},
            ],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": k, "namespace": opts.namespace, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": k},
            "minReplicas": opts.replicas,
            "maxReplicas": opts.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_UTILIZATION},
                    },
                }
            ],
        },
    }
    header = (
        f"{model.name} on TensorFlow Serving ({opts.image}). Apply: kubectl apply -f k8s.yaml, then fill the\n"
        f"PersistentVolumeClaim {k}-models as its comment says. Generated by yolo-tfserving deploy.\n"
        f"Server configs (models.config, batching, monitoring) come from ConfigMap {k}-config mounted at /config."
    )
    return to_yaml(
        [
            (header, config_map),
            _pvc(model, opts),
            (f"gRPC :{GRPC_PORT}, REST :{REST_PORT}; metrics at :{REST_PORT}{metrics_path}.", deployment),
            ("", service),
            (f"Scales on CPU ({CPU_TARGET_UTILIZATION}% of the request); needs metrics-server in the cluster.", hpa),
        ]
    )


def _kserve(model: _Model, opts: _Options) -> str:
    k = model.k8s_name
    config_name = f"{k}-kserve-config"
    repository, tag = _split_image(opts.image)
    runtime_version = tag if tag else model.serving_version
    resources = _resources(opts)
    if "-gpu" in runtime_version:  # KServe refuses a -gpu runtimeVersion without a GPU request, and vice versa
        resources["requests"]["nvidia.com/gpu"] = "1"
        resources["limits"]["nvidia.com/gpu"] = "1"
    tensorflow: dict[str, Any] = {
        "storageUri": f"pvc://{k}-models/{model.name}",
        "runtimeVersion": runtime_version,
        "args": server_args("/config", enable_batching=opts.enable_batching, models_config=False),
        "resources": resources,
        "volumeMounts": [{"name": "tfserving-config", "mountPath": "/config", "readOnly": True}],
    }
    if repository != IMAGE_REPOSITORY:
        tensorflow["image"] = opts.image
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": k, "namespace": opts.namespace, "labels": _labels(model)},
        "spec": {
            "predictor": {
                "minReplicas": opts.replicas,
                "maxReplicas": opts.max_replicas,
                "tensorflow": tensorflow,
                "volumes": [{"name": "tfserving-config", "configMap": {"name": config_name}}],
            },
        },
    }
    served = f"served as {k!r}" + (
        f" (not {model.name!r}: KServe names the model after the InferenceService)" if k != model.name else ""
    )
    header = (
        f"{model.name} on KServe's TensorFlow Serving runtime ({IMAGE_REPOSITORY}:{runtime_version}), {served}.\n"
        f"Apply: kubectl apply -f kserve.yaml, then fill the PersistentVolumeClaim {k}-models as its comment says.\n"
        "KServe passes --model_name and --model_base_path itself; this ConfigMap adds batching and monitoring.\n"
        "Generated by yolo-tfserving deploy."
    )
    return to_yaml(
        [
            (header, _config_map(model, opts, config_name, models_config=False)),
            _pvc(model, opts),
            (f"REST: <ingress>/v1/models/{k}:predict (V1 protocol, the one TF Serving speaks).", isvc),
        ]
    )


# --------------------------------------------------------------------------- README


def _readme(model: _Model, opts: _Options, out: Path) -> str:
    k = model.k8s_name
    ns = opts.namespace
    parts = [
        f"# Deploying `{model.name}` on TensorFlow Serving\n",
        f"Image `{opts.image}`: no older than TensorFlow {model.tf_version}, which built the model (TF Serving "
        f"releases track TensorFlow's). Model repository: `{model.repo}` "
        f"(versions {', '.join(map(str, model.versions))}).\n",
        f"Every target serves gRPC on {GRPC_PORT} and REST on {REST_PORT}; check with\n"
        f"`curl http://<host>:{REST_PORT}/v1/models/{model.name}` and read metrics at "
        f"`http://<host>:{REST_PORT}{_metrics_path(model.configs[MONITORING_CONFIG])}`.\n",
    ]
    if (out / "run.sh").is_file():
        parts.append(
            "## Docker: `run.sh`\n\n"
            "```sh\nbash run.sh            # foreground; Ctrl-C stops and removes the container\n"
            "YOLO_TFSERVING_REPO=/other/copy bash run.sh\n```\n"
        )
    if (out / "docker-compose.yml").is_file():
        parts.append(
            "## Docker Compose: `docker-compose.yml`\n\n"
            "```sh\ndocker compose up -d\ndocker compose ps      # STATUS turns (healthy) once the model is AVAILABLE\n"
            "docker compose down\n```\n"
        )
    if (out / "k8s.yaml").is_file():
        parts.append(
            "## Kubernetes: `k8s.yaml`\n\n"
            f"ConfigMap `{k}-config`, PersistentVolumeClaim `{k}-models`, Deployment, Service (ClusterIP) and "
            "HorizontalPodAutoscaler (needs metrics-server).\n\n"
            f"```sh\nkubectl apply -f k8s.yaml\n# fill the volume once: the commands are in the comment above the "
            f"PersistentVolumeClaim\nkubectl -n {ns} rollout status deployment/{k}\n"
            f"kubectl -n {ns} port-forward service/{k} {REST_PORT}:{REST_PORT}\n```\n"
        )
    if (out / "kserve.yaml").is_file():
        parts.append(
            "## KServe: `kserve.yaml`\n\n"
            "Needs KServe installed in the cluster. The InferenceService uses the TensorFlow Serving runtime; "
            f"the model is read from PersistentVolumeClaim `{k}-models` (fill it as its comment says).\n\n"
            f"```sh\nkubectl apply -f kserve.yaml\n"
            f"kubectl -n {ns} get inferenceservice {k}   # wait for READY True\n```\n\n"
            f"KServe names the served model after the InferenceService: `/v1/models/{k}`.\n"
        )
    return "\n".join(parts)


# --------------------------------------------------------------------------- entry point


def _check_options(target: str, *, replicas: int, max_replicas: int, namespace: str, cpu: str, memory: str) -> None:
    if target not in TARGETS:
        raise InputError(f"unknown deploy target {target!r}; choose one of: {', '.join(TARGETS)}")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise InputError(f"replicas must be an integer >= 1, got {replicas!r}")
    if isinstance(max_replicas, bool) or not isinstance(max_replicas, int) or max_replicas < replicas:
        raise InputError(f"max_replicas must be an integer >= replicas ({replicas}), got {max_replicas!r}")
    if not _DNS_LABEL.fullmatch(namespace) or len(namespace) > 63:
        raise InputError(f"namespace {namespace!r} is not a Kubernetes name (lower-case letters, digits and '-')")
    for what, value in (("cpu", cpu), ("memory", memory)):
        if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
            raise InputError(f'{what} {value!r} is not a Kubernetes quantity (e.g. cpu "500m" or "2", memory "2Gi")')


def deploy(
    target: str,
    repo: Path,
    *,
    out: Path,
    model_name: str | None = None,
    image: str | None = None,
    replicas: int = 1,
    namespace: str = "default",
    cpu: str = "1",
    memory: str = "2Gi",
    max_replicas: int = 4,
    enable_batching: bool = True,
) -> list[Path]:
    """Write the deployment file for ``target`` (and ``README.md``) under ``out``; return the paths written.

    ``target`` is one of :data:`TARGETS`. ``repo`` is a TF Serving model repository as ``export`` writes it;
    ``model_name`` defaults to its only model. ``image`` defaults to ``tensorflow/serving:<TF version of the model>``.
    Raises :class:`~yolo_tfserving._errors.InputError` for anything that needs fixing by the caller.
    """
    _check_options(target, replicas=replicas, max_replicas=max_replicas, namespace=namespace, cpu=cpu, memory=memory)
    model = _load_model(Path(repo), model_name, enable_batching=enable_batching)
    opts = _Options(
        image=image_for(model.tf_version, image),
        replicas=replicas,
        namespace=namespace,
        cpu=cpu,
        memory=memory,
        max_replicas=max_replicas,
        enable_batching=enable_batching,
    )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a directory; pass a directory for the deployment files")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out}: {exc.strerror}") from exc
    render = {"docker": _docker, "compose": _compose, "k8s": _k8s, "kserve": _kserve}[target]
    path = out / _FILE_OF[target]
    path.write_text(render(model, opts), encoding="utf-8")
    if target == "docker":
        path.chmod(0o755)
    readme = out / "README.md"
    readme.write_text(_readme(model, opts, out), encoding="utf-8")
    return [path, readme]
