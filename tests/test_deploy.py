"""``deploy``: files for the official tensorflow/serving image, checked by real validators.

Kubernetes objects are validated offline against the Kubernetes JSON schemas bundled with
``kubernetes-validate`` (strict: unknown fields fail). KServe's InferenceService is a CRD that
validator does not know, so it is checked with ``jsonschema`` against the fields of KServe's CRD
(config/crd/full/serving.kserve.io_inferenceservices.yaml) that the generator writes, closed with
``additionalProperties: false`` so that a misspelt field fails.
"""

from __future__ import annotations

import copy
import http.server
import importlib.metadata
import json
import os
import shutil
import string
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes_validate.utils import SchemaNotFoundError
from packaging.version import Version

from yolo_tfserving._errors import InputError
from yolo_tfserving.export.repository import ModelRepository, write_repository_configs
from yolo_tfserving.serving import deploy as deploy_mod
from yolo_tfserving.serving.deploy import deploy, image_for, to_yaml

K8S_VERSIONS = ["1.27.0", kubernetes_validate.utils.latest_version()]
FLAGS = ["--enable_batching", "--enable_model_warmup=true"]


def make_repo(
    root: Path, name: str = "yolov5", versions: dict[int, str | None] | None = None, *, configs: bool = True
) -> Path:
    """A model repository as ``export`` lays it out, with dummy SavedModels (no TensorFlow needed)."""
    repo = root / "repo"
    for version, tf_version in (versions or {1: "2.19.0"}).items():
        vdir = repo / name / str(version)
        (vdir / "assets.extra").mkdir(parents=True)
        (vdir / "saved_model.pb").write_bytes(b"\x08\x01dummy")
        meta: dict[str, Any] = {"size_hw": [640, 640], "class_names": ["cat", "dog"]}
        if tf_version is not None:
            meta["tensorflow_version"] = tf_version
        (vdir / "assets.extra" / "yolo_tfserving.json").write_text(json.dumps(meta))
    if configs:
        write_repository_configs(ModelRepository(repo, name))
    return repo


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {d["kind"]: d for d in docs}
    assert len(kinds) == len(docs), "one object of each kind"
    return kinds


# --------------------------------------------------------------------------- KServe schema (from the CRD)

_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": _QUANTITY_PATTERN}]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "claims": {"type": "array"},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
    },
}
_VOLUME_MOUNT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mountPath", "name"],
    "properties": {
        "mountPath": {"type": "string"},
        "mountPropagation": {"type": "string"},
        "name": {"type": "string"},
        "readOnly": {"type": "boolean"},
        "recursiveReadOnly": {"type": "string"},
        "subPath": {"type": "string"},
        "subPathExpr": {"type": "string"},
    },
}
# predictor.tensorflow: PredictorExtensionSpec (storageUri, runtimeVersion, protocolVersion, storage) + Container.
_TFSERVING = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "args": _STRINGS,
        "command": _STRINGS,
        "env": {"type": "array"},
        "envFrom": {"type": "array"},
        "image": {"type": "string"},
        "imagePullPolicy": {"type": "string"},
        "lifecycle": {"type": "object"},
        "livenessProbe": {"type": "object"},
        "name": {"type": "string"},
        "ports": {"type": "array"},
        "protocolVersion": {"type": "string"},
        "readinessProbe": {"type": "object"},
        "resizePolicy": {"type": "array"},
        "resources": _RESOURCES,
        "restartPolicy": {"type": "string"},
        "runtimeVersion": {"type": "string"},
        "securityContext": {"type": "object"},
        "startupProbe": {"type": "object"},
        "stdin": {"type": "boolean"},
        "stdinOnce": {"type": "boolean"},
        "storage": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "key": {"type": "string"},
                "parameters": _STRING_MAP,
                "path": {"type": "string"},
                "schemaPath": {"type": "string"},
            },
        },
        "storageUri": {"type": "string"},
        "terminationMessagePath": {"type": "string"},
        "terminationMessagePolicy": {"type": "string"},
        "tty": {"type": "boolean"},
        "volumeDevices": {"type": "array"},
        "volumeMounts": {"type": "array", "items": _VOLUME_MOUNT},
        "workingDir": {"type": "string"},
    },
}
_VOLUME = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "configMap": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "defaultMode": {"type": "integer"},
                "items": {"type": "array"},
                "name": {"type": "string"},
                "optional": {"type": "boolean"},
            },
        },
        "persistentVolumeClaim": {
            "type": "object",
            "additionalProperties": False,
            "required": ["claimName"],
            "properties": {"claimName": {"type": "string"}, "readOnly": {"type": "boolean"}},
        },
        "emptyDir": {"type": "object"},
        "secret": {"type": "object"},
    },
}
# spec.predictor: the framework specs, ComponentExtensionSpec and the inlined PodSpec fields we may write.
_PREDICTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tensorflow": _TFSERVING,
        "minReplicas": {"type": "integer", "minimum": 0},
        "maxReplicas": {"type": "integer", "minimum": 0},
        "scaleMetric": {"type": "string", "enum": ["cpu", "memory", "concurrency", "rps"]},
        "scaleTarget": {"type": "integer"},
        "containerConcurrency": {"type": "integer", "minimum": 0},
        "timeout": {"type": "integer"},
        "canaryTrafficPercent": {"type": "integer"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "serviceAccountName": {"type": "string"},
        "nodeSelector": _STRING_MAP,
        "tolerations": {"type": "array"},
        "volumes": {"type": "array", "items": _VOLUME},
    },
}
ISVC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                # KServe's InvalidISVCNameFormatError: lower case alphanumerics or '-', starting with a letter.
                "name": {"type": "string", "pattern": r"^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "namespace": {"type": "string"},
                "labels": _STRING_MAP,
                "annotations": _STRING_MAP,
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["predictor"],
            "properties": {"predictor": _PREDICTOR, "transformer": {"type": "object"}, "explainer": {"type": "object"}},
        },
    },
}


def validate_isvc(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(ISVC_SCHEMA)
    jsonschema.validate(doc, ISVC_SCHEMA, cls=jsonschema.Draft202012Validator)
    predictor = doc["spec"]["predictor"]
    # KServe's webhook checks (component.go validateReplicas, predictor_tfserving.go validateGPU).
    assert predictor.get("minReplicas", 1) <= predictor.get("maxReplicas", 0) or predictor.get("maxReplicas", 0) == 0
    tf = predictor["tensorflow"]
    gpu = any("nvidia.com/gpu" in tf.get("resources", {}).get(k, {}) for k in ("requests", "limits"))
    assert gpu == ("-gpu" in tf.get("runtimeVersion", ""))


# --------------------------------------------------------------------------- Kubernetes


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_k8s_yaml_validates_against_the_kubernetes_schemas(tmp_path: Path, k8s_version: str) -> None:
    repo = make_repo(tmp_path)
    written = deploy("k8s", repo, out=tmp_path / "out")
    assert written == [tmp_path / "out" / "k8s.yaml", tmp_path / "out" / "README.md"]
    docs = load_docs(written[0])
    assert sorted(d["kind"] for d in docs) == sorted(
        ["ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "HorizontalPodAutoscaler"]
    )
    for doc in docs:
        kubernetes_validate.validate(doc, k8s_version, strict=True)


def test_k8s_objects_wire_models_configs_ports_probes_and_autoscaling(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (path, _) = deploy(
        "k8s", repo, out=tmp_path / "out", replicas=2, max_replicas=6, namespace="vision", cpu="500m", memory="1536Mi"
    )
    kinds = by_kind(load_docs(path))
    for doc in kinds.values():
        assert doc["metadata"]["namespace"] == "vision"

    config = kinds["ConfigMap"]
    assert config["data"] == {
        f: (repo / f).read_text() for f in ("models.config", "batching_parameters.txt", "monitoring.config")
    }
    pvc = kinds["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == "yolov5-models"
    fill = [line for line in path.read_text().splitlines() if "kubectl -n vision exec -i yolov5-fill" in line]
    assert fill and fill[0].startswith("#"), "the claim carries a comment on how to fill it"
    assert f"tar -C {repo.resolve()} -cf - yolov5 |" in fill[0]
    (run,) = [line for line in path.read_text().splitlines() if "kubectl -n vision run yolov5-fill" in line]
    overrides = json.loads(run.split("--overrides='", 1)[1].rstrip("'"))
    fill_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "yolov5-fill"}, **overrides}
    kubernetes_validate.validate(fill_pod, K8S_VERSIONS[-1], strict=True)
    assert fill_pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "yolov5-models"

    dep = kinds["Deployment"]
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "tensorflow/serving:2.19.0"
    assert container["args"] == [
        "--model_config_file=/config/models.config",
        "--enable_batching",
        "--batching_parameters_file=/config/batching_parameters.txt",
        "--monitoring_config_file=/config/monitoring.config",
        "--enable_model_warmup=true",
    ]
    assert {(p["name"], p["containerPort"]) for p in container["ports"]} == {("grpc", 8500), ("http", 8501)}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/v1/models/yolov5", "port": 8501}
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1536Mi"},
        "limits": {"cpu": "500m", "memory": "1536Mi"},
    }
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/models"]]["persistentVolumeClaim"]["claimName"] == "yolov5-models"
    assert volumes[mounts["/config"]]["configMap"]["name"] == config["metadata"]["name"]
    selector = dep["spec"]["selector"]["matchLabels"]
    assert selector.items() <= dep["spec"]["template"]["metadata"]["labels"].items()

    svc = kinds["Service"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == selector
    assert {(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {(8500, "grpc"), (8501, "http")}

    hpa = kinds["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": dep["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k: k["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerport=1),
        lambda k: k["Deployment"]["spec"]["template"]["spec"]["containers"][0].update(readynessProbe={}),
        lambda k: k["HorizontalPodAutoscaler"]["spec"].update(maxReplicas="4"),
        lambda k: k["Service"]["spec"].update(prots=[]),
    ],
    ids=["containerport", "readynessProbe", "maxReplicas-string", "prots"],
)
def test_the_kubernetes_validator_catches_mistakes(tmp_path: Path, mutate: Any) -> None:
    (path, _) = deploy("k8s", make_repo(tmp_path), out=tmp_path / "out")
    kinds = by_kind(load_docs(path))
    broken = copy.deepcopy(kinds)
    mutate(broken)
    changed = [k for k in kinds if kinds[k] != broken[k]]
    assert len(changed) == 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken[changed[0]], K8S_VERSIONS[-1], strict=True)


def test_disabling_batching_drops_its_flags_and_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "batching_parameters.txt").unlink()
    with pytest.raises(InputError, match="enable_batching=False"):
        deploy("k8s", repo, out=tmp_path / "out")
    (path, _) = deploy("k8s", repo, out=tmp_path / "out", enable_batching=False)
    kinds = by_kind(load_docs(path))
    assert "batching_parameters.txt" not in kinds["ConfigMap"]["data"]
    args = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if "batching" in a]
    for doc in kinds.values():
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


# --------------------------------------------------------------------------- KServe


def test_kserve_yaml_validates(tmp_path: Path) -> None:
    (path, _) = deploy(
        "kserve",
        make_repo(tmp_path),
        out=tmp_path / "out",
        replicas=1,
        max_replicas=3,
        cpu="2",
        memory="4Gi",
        namespace="models",
    )
    kinds = by_kind(load_docs(path))
    assert set(kinds) == {"ConfigMap", "PersistentVolumeClaim", "InferenceService"}
    isvc = kinds.pop("InferenceService")
    with pytest.raises(SchemaNotFoundError):  # why the CRD is checked with jsonschema instead
        kubernetes_validate.validate(isvc, K8S_VERSIONS[-1], strict=True)
    for doc in kinds.values():
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
    validate_isvc(isvc)

    predictor = isvc["spec"]["predictor"]
    tf = predictor["tensorflow"]
    assert tf["storageUri"] == "pvc://yolov5-models/yolov5"
    assert tf["runtimeVersion"] == "2.19.0"
    assert tf["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert "--enable_batching" in tf["args"]
    assert not [a for a in tf["args"] if a.startswith(("--model_config_file", "--model_name", "--port"))]
    (mount,) = tf["volumeMounts"]
    (volume,) = predictor["volumes"]
    assert mount["name"] == volume["name"]
    assert volume["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert set(kinds["ConfigMap"]["data"]) == {"batching_parameters.txt", "monitoring.config"}
    assert isvc["metadata"]["namespace"] == "models"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda i: i["spec"]["predictor"]["tensorflow"].update(storageURI="pvc://x/y"),
        lambda i: i["spec"]["predictor"].update(tensorflw=i["spec"]["predictor"]["tensorflow"]),
        lambda i: i["spec"]["predictor"]["tensorflow"]["resources"].update(limit={"cpu": "1"}),
        lambda i: i["spec"]["predictor"]["tensorflow"]["resources"]["limits"].update(cpu="one"),
        lambda i: i["spec"].update(predicter={}),
        lambda i: i["spec"]["predictor"].update(minReplicas=-1),
        lambda i: i["metadata"].update(name="Yolo_v5"),
        lambda i: i["spec"]["predictor"]["tensorflow"]["volumeMounts"][0].update(mountpath="/x"),
    ],
    ids=["storageURI", "tensorflw", "limit", "cpu-one", "predicter", "minReplicas", "name", "mountpath"],
)
def test_the_kserve_schema_catches_typos(tmp_path: Path, mutate: Any) -> None:
    (path, _) = deploy("kserve", make_repo(tmp_path), out=tmp_path / "out")
    isvc = by_kind(load_docs(path))["InferenceService"]
    validate_isvc(isvc)
    mutate(isvc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(isvc, ISVC_SCHEMA, cls=jsonschema.Draft202012Validator)


def test_model_names_that_are_not_kubernetes_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, name="YOLO_v5.coco")
    (k8s, _) = deploy("k8s", repo, out=tmp_path / "out")
    kinds = by_kind(load_docs(k8s))
    for doc in kinds.values():
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
    assert kinds["Deployment"]["metadata"]["name"] == "yolo-v5-coco"
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/YOLO_v5.coco"

    (kserve, _) = deploy("kserve", repo, out=tmp_path / "out")
    isvc = by_kind(load_docs(kserve))["InferenceService"]
    validate_isvc(isvc)
    assert isvc["metadata"]["name"] == "yolo-v5-coco"
    assert isvc["spec"]["predictor"]["tensorflow"]["storageUri"] == "pvc://yolo-v5-coco-models/YOLO_v5.coco"
    assert "KServe names the model after the InferenceService" in kserve.read_text()


def test_a_gpu_runtime_version_requests_a_gpu_on_kserve(tmp_path: Path) -> None:
    (path, _) = deploy("kserve", make_repo(tmp_path), out=tmp_path / "out", image="tensorflow/serving:2.19.0-gpu")
    isvc = by_kind(load_docs(path))["InferenceService"]
    validate_isvc(isvc)
    tf = isvc["spec"]["predictor"]["tensorflow"]
    assert tf["runtimeVersion"] == "2.19.0-gpu"
    assert tf["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "image" not in tf


# --------------------------------------------------------------------------- Docker and Compose


def test_compose_file_runs_the_image_with_the_repository_mounted_read_only(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (path, _) = deploy("compose", repo, out=tmp_path / "out")
    assert path.name == "docker-compose.yml"
    data = yaml.safe_load(path.read_text())
    assert list(data) == ["services"]
    (service,) = data["services"].values()
    assert service["image"] == "tensorflow/serving:2.19.0"
    assert service["ports"] == ["8500:8500", "8501:8501"]
    assert service["volumes"] == [
        {"type": "bind", "source": str(repo.resolve()), "target": "/models", "read_only": True}
    ]
    assert service["command"] == [
        "--model_config_file=/models/models.config",
        "--enable_batching",
        "--batching_parameters_file=/models/batching_parameters.txt",
        "--monitoring_config_file=/models/monitoring.config",
        "--enable_model_warmup=true",
    ]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert "/v1/models/yolov5 " in test[-1] and "8501" in test[-1]
    assert "http://localhost:8501/v1/models/yolov5" in path.read_text()


class _FakeTFServing(http.server.BaseHTTPRequestHandler):
    states: ClassVar[dict[str, str]] = {"yolov5": "AVAILABLE", "loading": "LOADING"}

    def do_GET(self) -> None:
        name = self.path.removeprefix("/v1/models/")
        if name not in self.states:
            self.send_error(404)
            return
        body = json.dumps(
            {
                "model_version_status": [
                    {"version": "1", "state": self.states[name], "status": {"error_code": "OK", "error_message": ""}}
                ]
            }
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeTFServing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(("model", "healthy"), [("yolov5", True), ("loading", False), ("absent", False)])
def test_the_compose_healthcheck_speaks_http_without_curl(
    tmp_path: Path, fake_server: int, model: str, healthy: bool
) -> None:
    (path, _) = deploy("compose", make_repo(tmp_path, name=model), out=tmp_path / "out")
    script = yaml.safe_load(path.read_text())["services"][model]["healthcheck"]["test"][-1]
    script = script.replace("8501", str(fake_server))
    result = subprocess.run(["bash", "-c", script], timeout=10, capture_output=True)
    assert (result.returncode == 0) is healthy


@pytest.fixture
def fake_docker(tmp_path: Path) -> Path:
    """A ``docker`` on PATH that records its argv, one argument a line."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "docker-args"
    (bindir / "docker").write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {log}\n')
    (bindir / "docker").chmod(0o755)
    return log


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_run_sh_is_one_docker_run_with_every_flag(tmp_path: Path, fake_docker: Path) -> None:
    repo = make_repo(tmp_path / "a dir with spaces")
    (path, _) = deploy("docker", repo, out=tmp_path / "out")
    assert path.name == "run.sh" and os.access(path, os.X_OK)
    text = path.read_text()
    for flag in [
        "-p 8500:8500",
        "-p 8501:8501",
        ":/models:ro",
        "--model_config_file=/models/models.config",
        "--enable_batching",
        "--batching_parameters_file=/models/batching_parameters.txt",
        "--monitoring_config_file=/models/monitoring.config",
        "--enable_model_warmup=true",
    ]:
        assert flag in text
    subprocess.run(["bash", "-n", str(path)], check=True)

    env = {**os.environ, "PATH": f"{fake_docker.parent / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("YOLO_TFSERVING_REPO", None)
    subprocess.run(["bash", str(path)], check=True, env=env, timeout=30)
    assert fake_docker.read_text().splitlines() == [
        "run",
        "--rm",
        "--name",
        "yolov5-tfserving",
        "-p",
        "8500:8500",
        "-p",
        "8501:8501",
        "-v",
        f"{repo.resolve()}:/models:ro",
        "tensorflow/serving:2.19.0",
        "--model_config_file=/models/models.config",
        "--enable_batching",
        "--batching_parameters_file=/models/batching_parameters.txt",
        "--monitoring_config_file=/models/monitoring.config",
        "--enable_model_warmup=true",
    ]
    subprocess.run(["bash", str(path)], check=True, env={**env, "YOLO_TFSERVING_REPO": "/srv/models"}, timeout=30)
    assert "/srv/models:/models:ro" in fake_docker.read_text().splitlines()


def test_readme_tells_how_to_apply_each_file_written(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    out = tmp_path / "out"
    (_, readme) = deploy("docker", repo, out=out)
    assert "bash run.sh" in readme.read_text() and "kubectl" not in readme.read_text()
    for target in ("compose", "k8s", "kserve"):
        deploy(target, repo, out=out)
    text = readme.read_text()
    for line in ("bash run.sh", "docker compose up -d", "kubectl apply -f k8s.yaml", "kubectl apply -f kserve.yaml"):
        assert line in text
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "docker-compose.yml",
        "k8s.yaml",
        "kserve.yaml",
        "run.sh",
    ]


# --------------------------------------------------------------------------- the image tag


@pytest.mark.parametrize(
    ("versions", "tag"),
    [
        ({1: "2.19.0"}, "2.19.0"),
        ({1: "2.19"}, "2.19.0"),
        ({1: "2.20.0rc1"}, "2.20.0"),
        ({1: "2.9.0", 2: "2.10.0"}, "2.10.0"),  # as strings "2.9.0" > "2.10.0"
        ({1: "2.10.0", 2: "2.9.1"}, "2.10.0"),
        ({1: "2.18.1", 2: "2.19.0", 3: "2.18.0"}, "2.19.0"),
    ],
)
def test_the_image_is_no_older_than_the_tensorflow_that_built_the_model(
    tmp_path: Path, versions: dict[int, str], tag: str
) -> None:
    (path, _) = deploy("compose", make_repo(tmp_path, versions=dict(versions)), out=tmp_path / "out")
    (service,) = yaml.safe_load(path.read_text())["services"].values()
    assert service["image"] == f"tensorflow/serving:{tag}"
    assert Version(tag) >= max(Version(v) for v in versions.values())


def test_without_a_recorded_version_the_installed_tensorflow_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path, versions={1: None})
    real = importlib.metadata.version

    def fake_version(name: str) -> str:
        return "2.17.1" if name == "tensorflow" else real(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    (path, _) = deploy("k8s", repo, out=tmp_path / "out")
    deployment = by_kind(load_docs(path))["Deployment"]
    images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert images == {"tensorflow/serving:2.17.1"}

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert deploy_mod.installed_tensorflow_version() == "2.19.0"
    (path, _) = deploy("kserve", repo, out=tmp_path / "out")
    assert by_kind(load_docs(path))["InferenceService"]["spec"]["predictor"]["tensorflow"]["runtimeVersion"] == "2.19.0"


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("tensorflow/serving:2.19.0", True),
        ("tensorflow/serving:2.20.1", True),
        ("tensorflow/serving:2.19.0-gpu", True),
        ("tensorflow/serving:latest", True),
        ("tensorflow/serving", True),
        ("tensorflow/serving@sha256:" + "0" * 64, True),
        ("tensorflow/serving:2.18.1", False),
        ("tensorflow/serving:2.9.0", False),  # "2.9.0" > "2.19.0" as strings
        ("registry.local:5000/tensorflow/serving:2.18.0-gpu", False),
    ],
)
def test_a_given_image_older_than_the_model_is_refused(image: str, ok: bool) -> None:
    if ok:
        assert image_for(Version("2.19.0"), image) == image
    else:
        with pytest.raises(InputError, match=r"older than TensorFlow 2\.19\.0.*tensorflow/serving:2\.19\.0 or newer"):
            image_for(Version("2.19.0"), image)


def test_a_custom_image_reaches_every_target(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    image = "registry.local:5000/team/serving:2.19.0"
    out = tmp_path / "out"
    deploy("docker", repo, out=out, image=image)
    assert f"  {image} \\\n" in (out / "run.sh").read_text()
    deploy("kserve", repo, out=out, image=image)
    tf = by_kind(load_docs(out / "kserve.yaml"))["InferenceService"]["spec"]["predictor"]["tensorflow"]
    assert (tf["image"], tf["runtimeVersion"]) == (image, "2.19.0")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("setup", "kwargs", "message"),
    [
        (lambda r: r, {"target": "helm"}, r"unknown deploy target 'helm'; choose one of: docker, compose, k8s, kserve"),
        (lambda r: r / "nope", {}, r"does not exist"),
        (lambda r: r / "models.config", {}, r"is not a directory"),
        (lambda r: r / "yolov5", {}, r"is a model directory .* pass its parent"),
        (lambda r: r, {"model_name": "it's"}, r"model name \"it's\" must be letters, digits"),
        (
            lambda r: r,
            {"model_name": "yolov8"},
            r"model 'yolov8' is not in .*\(models found: yolov5\); pass one of them",
        ),
        (lambda r: r, {"replicas": 0}, r"replicas must be an integer >= 1"),
        (lambda r: r, {"replicas": 3, "max_replicas": 2}, r"max_replicas must be an integer >= replicas \(3\)"),
        (lambda r: r, {"namespace": "My_NS"}, r"namespace 'My_NS' is not a Kubernetes name"),
        (lambda r: r, {"namespace": "vision\n"}, r"namespace 'vision\\n' is not a Kubernetes name"),
        (lambda r: r, {"cpu": "one"}, r"cpu 'one' is not a Kubernetes quantity"),
        (lambda r: r, {"memory": "2 GB"}, r"memory '2 GB' is not a Kubernetes quantity"),
        (lambda r: r, {"image": "tensorflow/serving:2.15.0"}, r"older than TensorFlow 2\.19\.0"),
    ],
    ids=[
        "target",
        "missing",
        "file",
        "model-dir",
        "bad-model-name",
        "model-name",
        "replicas",
        "max-replicas",
        "namespace",
        "namespace-newline",
        "cpu",
        "memory",
        "old-image",
    ],
)
def test_input_errors_say_what_to_fix(tmp_path: Path, setup: Any, kwargs: dict[str, Any], message: str) -> None:
    repo = setup(make_repo(tmp_path))
    kwargs = dict(kwargs)
    target = kwargs.pop("target", "k8s")
    with pytest.raises(InputError, match=message):
        deploy(target, repo, out=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists(), "nothing is written when the input is wrong"


def test_errors_about_what_the_repository_holds(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no model in .*<model_name>/<version>/saved_model\.pb.*`yolo-tfserving"):
        deploy("docker", empty, out=tmp_path / "out")

    repo = make_repo(tmp_path / "two")
    shutil.copytree(repo / "yolov5", repo / "yolov8")
    with pytest.raises(InputError, match=r"several models \(yolov5, yolov8\); choose one with model_name="):
        deploy("docker", repo, out=tmp_path / "out")
    assert deploy("docker", repo, out=tmp_path / "out", model_name="yolov5")
    with pytest.raises(InputError, match=r"does not list model 'yolov8' \(it lists: yolov5\)"):
        deploy("docker", repo, out=tmp_path / "out", model_name="yolov8")

    (repo / "yolov8" / "1" / "saved_model.pb").unlink()
    with pytest.raises(InputError, match=r"has no version directory with a saved_model\.pb"):
        deploy("docker", repo, out=tmp_path / "out", model_name="yolov8")

    (repo / "models.config").write_text((repo / "models.config").read_text().replace("/models/yolov5", "/srv/y"))
    with pytest.raises(InputError, match=r"base_path '/srv/y' .* set base_path: \"/models/yolov5\""):
        deploy("docker", repo, out=tmp_path / "out", model_name="yolov5")

    bare = make_repo(tmp_path / "bare", configs=False)
    with pytest.raises(InputError, match=r"models\.config is missing; re-run `yolo-tfserving export`"):
        deploy("compose", bare, out=tmp_path / "out")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("{not json", r"is not readable JSON"),
        ('{"tensorflow_version": "two.nineteen"}', r"'two\.nineteen' is not a version number"),
        ('{"tensorflow_version": 2.19}', r"tensorflow_version must be a string"),
    ],
)
def test_bad_metadata_is_reported_with_its_path(tmp_path: Path, meta: str, message: str) -> None:
    repo = make_repo(tmp_path)
    (repo / "yolov5" / "1" / "assets.extra" / "yolo_tfserving.json").write_text(meta)
    with pytest.raises(InputError, match=r"yolo_tfserving\.json.*" + message):
        deploy("k8s", repo, out=tmp_path / "out")


# --------------------------------------------------------------------------- the YAML writer

_tricky = st.sampled_from(
    [
        "yes",
        "No",
        "on",
        "~",
        "null",
        "1",
        "0x1f",
        "1e3",
        "2Gi",
        "- a",
        "a: b",
        "#x",
        "key\n",
        "a\nb\n",
        "line\n\n",
        "  lead\nx",
        "x\n  y\n",
        "",
        "'q'",
        '"dq"',
        "*a",
        "&a",
        "!tag",
        "%",
        "@",
        "`",
        "{}",
        "[]",
        "|",
        ">",
        "---",
        "...",
        "<<",
        "?",
        "\U00010000",
        "\ufeff",
        "\x85",
    ]
)
_str = st.one_of(st.text(max_size=20), _tricky)
_leaf = st.one_of(st.none(), st.booleans(), st.integers(), _str)
_tree = st.recursive(
    _leaf,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_str, children, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_str, _tree, min_size=1, max_size=5),
    st.text(string.ascii_letters + string.digits + string.punctuation + " \n", max_size=40),
)
def test_the_yaml_writer_round_trips_through_pyyaml(doc: dict[str, Any], comment: str) -> None:
    text = to_yaml([(comment, doc), ("", {"second": True})])
    assert list(yaml.safe_load_all(text)) == [doc, {"second": True}]
