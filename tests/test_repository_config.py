"""models.config is merged, not overwritten (issue 11, item 7): exporting a second model into a repository
keeps the first, re-exporting a model keeps the others' version policies and labels; deploy serves one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tensorflow")

from yolo_tfserving import InputError
from yolo_tfserving._wire import serving_config_pb2
from yolo_tfserving._wire.formats import message_to_text, parse_text
from yolo_tfserving.export import pipeline
from yolo_tfserving.export.pipeline import ExportOptions, export_model
from yolo_tfserving.export.repository import MODELS_CONFIG
from yolo_tfserving.ops import NMSConfig


@pytest.fixture
def fast_exports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Real exports with a stand-in network (no onnx2tf): models.config does not depend on the network."""
    import tensorflow as tf

    def convert(_torch_model: Any, _onnx_path: Path, info: Any, _options: Any, _scratch: Path) -> Any:  # positional
        anchors = 3 * sum((info.size_hw[0] // s) * (info.size_hw[1] // s) for s in (8, 16, 32))
        return lambda images: tf.zeros([tf.shape(images)[0], anchors, 5 + len(info.class_names)])

    monkeypatch.setattr(pipeline, "_convert", convert)
    yield


def read_config(repo: Path) -> Any:
    return parse_text((repo / MODELS_CONFIG).read_text(), serving_config_pb2.ModelServerConfig())


def entries(repo: Path) -> dict[str, Any]:
    return {c.name: c for c in read_config(repo).model_config_list.config}


def export(checkpoint: Path, repo: Path, name: str, **options: Any) -> None:
    export_model(checkpoint, repo, options=ExportOptions(name=name, imgsz=64, verify=False, **options))


@pytest.mark.usefixtures("fast_exports")
def test_second_model_is_added_and_a_reexport_keeps_the_others(tmp_path: Path, tiny_checkpoint: Path) -> None:
    repo = tmp_path / "repo"
    export(tiny_checkpoint, repo, "alpha")
    export(tiny_checkpoint, repo, "beta")
    config = entries(repo)
    assert list(config) == ["alpha", "beta"]  # before: only beta, alpha silently dropped
    assert {n: c.base_path for n, c in config.items()} == {"alpha": "/models/alpha", "beta": "/models/beta"}
    assert all(c.model_platform == "tensorflow" for c in config.values())
    assert all(c.model_version_policy.latest.num_versions == 1 for c in config.values())

    # an operator pins beta to version 1 and labels it; alpha gets a label too
    message = read_config(repo)
    alpha, beta = message.model_config_list.config
    beta.model_version_policy.specific.versions.append(1)
    beta.version_labels["stable"] = 1
    alpha.version_labels["canary"] = 1
    (repo / MODELS_CONFIG).write_text(message_to_text(message))
    hand_beta = message_to_text(beta)

    export(tiny_checkpoint, repo, "alpha", version=2, nchw_signature="none", nms=NMSConfig(conf_threshold=0.4))
    config = entries(repo)
    assert list(config) == ["alpha", "beta"]
    assert message_to_text(config["beta"]) == hand_beta  # policy and labels intact
    assert config["alpha"].base_path == "/models/alpha" and dict(config["alpha"].version_labels) == {"canary": 1}
    assert sorted(p.name for p in (repo / "alpha").iterdir()) == ["1", "2"]
    meta = json.loads((repo / "alpha" / "2" / "assets.extra" / "yolo_tfserving.json").read_text())
    assert meta["conf_threshold"] == 0.4  # the re-export took its options


@pytest.mark.usefixtures("fast_exports")
def test_a_models_config_that_does_not_parse_is_left_alone(tmp_path: Path, tiny_checkpoint: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    broken = 'model_config_list { config { name: "x" base_path: "/models/x" '  # unterminated
    (repo / MODELS_CONFIG).write_text(broken)
    with pytest.raises(InputError, match=r"models\.config .*does not parse"):
        export(tiny_checkpoint, repo, "alpha")
    assert (repo / MODELS_CONFIG).read_text() == broken
    assert not (repo / "alpha" / "1").exists(), "refused before anything is written"

    (repo / MODELS_CONFIG).write_text('custom_model_config { type_url: "x" }')
    with pytest.raises(InputError, match="custom_model_config"):
        export(tiny_checkpoint, repo, "alpha")


def test_merge_keeps_the_other_entries_fields(tmp_path: Path) -> None:
    """Unit level: every field of another entry survives, and the file stays TF Serving's text format."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from yolo_tfserving.export.repository import ModelRepository, write_repository_configs

    repo = tmp_path / "repo"
    repo.mkdir()
    other = (
        'model_config_list { config { name: "other" base_path: "/srv/other" model_platform: "tensorflow" '
        'model_version_policy { all {} } version_labels { key: "prod" value: 3 } '
        "logging_config { sampling_config { sampling_rate: 0.5 } } } }"
    )
    (repo / MODELS_CONFIG).write_text(other)
    write_repository_configs(ModelRepository(repo, "yolo"))
    write_repository_configs(ModelRepository(repo, "yolo"))  # twice: still one entry
    config = entries(repo)
    assert list(config) == ["other", "yolo"]
    want = parse_text(other, serving_config_pb2.ModelServerConfig()).model_config_list.config[0]
    assert config["other"] == want
    tf_serving = text_format.Parse(
        (repo / MODELS_CONFIG).read_text(), model_server_config_pb2.ModelServerConfig()
    ).model_config_list.config
    assert [c.name for c in tf_serving] == ["other", "yolo"]


def test_k8s_deploy_of_one_model_lists_only_that_model(tmp_path: Path) -> None:
    """The k8s volume holds the deployed model only, so its ConfigMap's models.config names it alone
    (TF Serving waits for every model its config lists); its policy and labels come along."""
    import yaml

    from yolo_tfserving.export.repository import ModelRepository, write_repository_configs
    from yolo_tfserving.serving.deploy import deploy

    repo = tmp_path / "repo"
    for name in ("alpha", "beta"):
        version = repo / name / "1"
        (version / "assets.extra").mkdir(parents=True)
        (version / "saved_model.pb").write_bytes(b"\x08\x01dummy")
        (version / "assets.extra" / "yolo_tfserving.json").write_text(json.dumps({"tensorflow_version": "2.19.0"}))
        write_repository_configs(ModelRepository(repo, name))
    message = read_config(repo)
    message.model_config_list.config[1].version_labels["stable"] = 1
    (repo / MODELS_CONFIG).write_text(message_to_text(message))

    path, _ = deploy("k8s", repo, out=tmp_path / "out", model_name="beta")
    (config_map,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "ConfigMap"]
    deployed = parse_text(config_map["data"][MODELS_CONFIG], serving_config_pb2.ModelServerConfig())
    assert [c.name for c in deployed.model_config_list.config] == ["beta"]
    assert deployed.model_config_list.config[0] == message.model_config_list.config[1]
