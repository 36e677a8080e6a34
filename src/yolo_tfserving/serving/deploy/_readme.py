"""The ``README.md`` written next to the deployment files: how to apply each one present in ``out``."""

from __future__ import annotations

from pathlib import Path

from ._common import GRPC_PORT, MONITORING_CONFIG, REST_PORT, _metrics_path, _Options
from ._repository import _Model


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
