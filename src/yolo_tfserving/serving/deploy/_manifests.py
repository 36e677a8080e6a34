"""Kubernetes objects shared by the ``k8s`` and ``kserve`` targets: labels, resources, ConfigMap, PVC."""

from __future__ import annotations

import json
import math
import shlex
from typing import Any

from ._common import BATCHING_CONFIG, MODELS_CONFIG, MONITORING_CONFIG, _Options
from ._repository import _dir_bytes, _Model


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
