"""The ``deploy`` entry point: the target table, the option checks and the dispatch to each target's writer."""

from __future__ import annotations

import re
from pathlib import Path

from ..._errors import InputError
from ._common import _Options
from ._compose import _compose
from ._docker import _docker
from ._image import image_for
from ._kserve import _kserve
from ._kubernetes import _k8s
from ._readme import _readme
from ._repository import _load_model

TARGETS = ("docker", "compose", "k8s", "kserve")
_FILE_OF = {"docker": "run.sh", "compose": "docker-compose.yml", "k8s": "k8s.yaml", "kserve": "kserve.yaml"}
# Kubernetes resource.Quantity (the pattern KServe's CRD and the core schemas use).
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


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
