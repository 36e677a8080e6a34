"""TF Serving's config files through protobuf's text format: what parses, what is refused, in whose words."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolo_tfserving.serving.model_config import ConfigFileError, read_model_config_file, read_text_proto
from yolo_tfserving.serving.status import Code, ServingStatusError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.config"
    path.write_text(text)
    return path


def test_a_full_config_parses(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        model_config_list {
          config {
            name: "a" base_path: "/models/a" model_platform: "tensorflow"
            model_version_policy { specific { versions: 1 versions: 2 } }
            version_labels { key: "stable" value: 1 }
            logging_config { sampling_config { sampling_rate: 0.5 } }
          }
          config { name: "b" base_path: "/models/b" model_type: TENSORFLOW model_version_policy { all {} } }
          config { name: "c" base_path: "file:///models/c" model_platform: "tensorflow"
                   model_version_policy { latest { num_versions: 2 } } }
        }
        """,
    )
    a, b, c = read_model_config_file(path)
    assert (a.policy.kind, a.policy.versions, a.labels) == ("specific", (1, 2), {"stable": 1})
    assert (b.platform, b.policy.kind) == ("tensorflow", "all")
    assert (str(c.base_path), c.policy.num_versions) == ("/models/c", 2)


def test_parse_errors_are_tf_servings(tmp_path: Path) -> None:
    """Issue 9: a bad --model_config_file gave our own parser's words."""
    path = _write(tmp_path, 'model_config_list {\n  config {\n    nme: "a"\n  }\n}\n')
    with pytest.raises(ConfigFileError) as info:
        read_model_config_file(path)
    assert info.value.code == Code.INVALID_ARGUMENT
    assert info.value.message == f"Invalid protobuf file: '{path}'"
    assert info.value.detail == (
        "Error parsing text-format tensorflow.serving.ModelServerConfig: 3:5: Message type "
        '"tensorflow.serving.ModelConfig" has no field named "nme".'
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="No such file or directory") as info:
        read_model_config_file(tmp_path / "nope.config")
    assert info.value.code == Code.NOT_FOUND


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'model_config_list { config { name: "a" base_path: "/m" model_platform: "tensorflow" } '
            'config { name: "a" base_path: "/n" model_platform: "tensorflow" } }',
            "Illegal to list model a multiple times in config list",
        ),
        (
            'model_config_list { config { name: "a" base_path: "models/a" model_platform: "tensorflow" } }',
            "Expected model a to have an absolute path or URI; got base_path()=models/a",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/m" } }',
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor ModelServerConfig::model_platform",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/m" model_platform: "tflite" } }',
            "Model a requests unsupported platform tflite",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/m" model_platform: "tensorflow" '
            "model_type: TENSORFLOW } }",
            "Illegal setting both ModelServerConfig::model_type (deprecated) and ModelServerConfig::model_platform",
        ),
    ],
)
def test_server_core_checks(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ServingStatusError) as info:
        read_model_config_file(_write(tmp_path, text))
    assert message in info.value.message


def test_other_config_files(tmp_path: Path) -> None:
    from yolo_tfserving._wire import serving_config_pb2

    batching = tmp_path / "batching.txt"
    batching.write_text(
        "max_batch_size { value: 128 } batch_timeout_micros { value: 0 } num_batch_threads { value: 8 }"
    )
    assert read_text_proto(batching, serving_config_pb2.BatchingParameters).max_batch_size.value == 128
    monitoring = tmp_path / "monitoring.txt"
    monitoring.write_text('prometheus_config: { enable: true, path: "/monitoring/prometheus/metrics" }')
    assert read_text_proto(monitoring, serving_config_pb2.MonitoringConfig).prometheus_config.enable
    monitoring.write_text("prometheus_config { enabled: true }")
    with pytest.raises(ConfigFileError) as info:
        read_text_proto(monitoring, serving_config_pb2.MonitoringConfig)
    assert 'has no field named "enabled"' in info.value.detail
