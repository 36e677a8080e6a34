"""The repository layout's one home (issue 12, architecture item 1): the per-version metadata, the version
listing TF Serving does, and resolving a model directory to its newest version. No TensorFlow needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolo_tfserving import _repository_layout as layout
from yolo_tfserving._errors import InputError
from yolo_tfserving._limits import DEFAULT_MAX_PIXELS
from yolo_tfserving._repository_layout import ExportMetadata
from yolo_tfserving.ops import NMSConfig

META = ExportMetadata(
    size_hw=(480, 640),
    class_names=("cat", "dog"),
    stride=32,
    nms=NMSConfig(conf_threshold=0.25, iou_threshold=0.45, max_det=300, agnostic=False, multi_label=True),
    max_pixels=1234,
    rect=True,
    signatures=("detect", "raw", "serving_default"),
    onnx_asset=None,
    source="best.pt",
    tensorflow_version="2.19.0",
    task="segment",
)

# what the first release wrote (no max_pixels, rect, onnx_asset or tensorflow_version)
OLD_FILE = {
    "size_hw": [640, 640],
    "class_names": ["person"],
    "stride": 32,
    "conf_threshold": 0.25,
    "iou_threshold": 0.45,
    "max_det": 300,
    "agnostic": False,
    "multi_label": False,
    "signatures": ["detect", "raw", "serving_default"],
    "source": "yolov5s.pt",
}


def _saved_model(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"")
    return path


def test_metadata_round_trips_through_its_file(tmp_path: Path) -> None:
    path = META.write(tmp_path)
    assert path == tmp_path / "assets.extra" / "yolo_tfserving.json"
    assert ExportMetadata.read(tmp_path) == META
    assert layout.read_export_metadata(tmp_path) == META
    assert ExportMetadata.from_json(META.to_json()) == META


def test_metadata_file_keeps_its_keys_and_order(tmp_path: Path) -> None:
    """The file format is what export has always written: old readers and scripts still work."""
    data = json.loads(META.write(tmp_path).read_text())
    assert list(data) == [
        "size_hw",
        "class_names",
        "stride",
        "conf_threshold",
        "iou_threshold",
        "max_det",
        "agnostic",
        "multi_label",
        "max_pixels",
        "rect",
        "signatures",
        "onnx_asset",
        "source",
        "tensorflow_version",
        "task",
    ]
    assert data["size_hw"] == [480, 640] and data["class_names"] == ["cat", "dog"] and data["onnx_asset"] is None


def test_an_old_metadata_file_reads_with_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "yolo_tfserving.json").write_text(json.dumps(OLD_FILE))
    meta = ExportMetadata.read(tmp_path)
    assert meta.size_hw == (640, 640) and meta.class_names == ("person",)
    assert meta.rect is False
    assert meta.max_pixels == DEFAULT_MAX_PIXELS
    assert meta.onnx_asset == "assets.extra/model.onnx"
    assert meta.tensorflow_version is None
    assert meta.task == "detect"
    assert layout.exported_tensorflow_version(tmp_path) is None
    assert "has no assets.extra/model.onnx; pass" in layout.missing_onnx_message(tmp_path, "pass --weights")


def test_no_onnx_metadata_names_the_flag(tmp_path: Path) -> None:
    META.write(tmp_path)
    assert "exported with --no-onnx" in layout.missing_onnx_message(tmp_path, "pass --weights")
    assert "has no assets.extra/model.onnx" in layout.missing_onnx_message(tmp_path / "elsewhere", "pass --weights")


def test_unknown_keys_are_ignored() -> None:
    assert ExportMetadata.from_json({**META.to_json(), "from_the_future": 1}) == META


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size_hw": [640]}, r"size_hw must be \[height, width\]"),
        ({"max_det": "300"}, r"max_det must be an integer"),
        ({"stride": True}, r"stride must be an integer"),
        ({"rect": 1}, r"rect must be true or false"),
        ({"class_names": {"0": "cat"}}, r"class_names must be a list of strings"),
        ({"onnx_asset": 3}, r"onnx_asset must be a path or null"),
        ({"tensorflow_version": 2.19}, r'tensorflow_version must be a string like "2.19.0"'),
        ({"task": "pose"}, r"task must be one of detect, segment, classify, got 'pose'"),
    ],
)
def test_mistyped_metadata_is_an_input_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=r"meta\.json: " + message):
        ExportMetadata.from_json({**META.to_json(), **change}, where="meta.json")


def test_missing_and_unreadable_metadata(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="was not written by yolo-tfserving export"):
        ExportMetadata.read(tmp_path)
    assert layout.exported_tensorflow_version(tmp_path) is None
    incomplete = {k: v for k, v in OLD_FILE.items() if k != "source"}
    with pytest.raises(InputError, match="has no 'source'"):
        ExportMetadata.from_json(incomplete)
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "yolo_tfserving.json").write_text("{not json")
    with pytest.raises(InputError, match=r"yolo_tfserving\.json is not readable JSON"):
        ExportMetadata.read(tmp_path)
    (tmp_path / "assets.extra" / "yolo_tfserving.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a JSON object"):
        layout.exported_tensorflow_version(tmp_path)


def test_exported_tensorflow_version_reads_only_its_key(tmp_path: Path) -> None:
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "yolo_tfserving.json").write_text('{"tensorflow_version": "2.18.1"}')
    assert layout.exported_tensorflow_version(tmp_path) == "2.18.1"


@pytest.mark.parametrize(
    ("name", "version"),
    [("1", 1), ("00000123", 123), ("0", 0), ("+7", 7), (" 8 ", 8), (str((1 << 63) - 1), (1 << 63) - 1)],
)
def test_version_names_parse_as_tf_serving_does(name: str, version: int) -> None:
    assert layout.parse_version_dir(name) == version


@pytest.mark.parametrize("name", ["", "v1", "1.0", "1a", "-1", str(1 << 63), ".staging-1-abcd", "assets"])
def test_other_names_are_not_versions(name: str) -> None:
    assert layout.parse_version_dir(name) is None


def test_version_listing_ignores_files_and_other_names(tmp_path: Path) -> None:
    for name in ("1", "00000123", "v2", ".staging-3-abcd", "latest"):
        (tmp_path / name).mkdir()
    (tmp_path / "4").write_text("a file, not a version")
    assert layout.list_version_dirs(tmp_path) == {1: "1", 123: "00000123"}
    with pytest.raises(OSError):
        layout.list_version_dirs(tmp_path / "missing")


def test_saved_model_versions_need_a_saved_model(tmp_path: Path) -> None:
    one = _saved_model(tmp_path / "1")
    padded = _saved_model(tmp_path / "00000010")
    (tmp_path / "2").mkdir()  # no saved_model.pb: not exported
    assert layout.saved_model_versions(tmp_path) == {1: one, 10: padded}
    assert list(layout.saved_model_versions(tmp_path)) == [1, 10]  # oldest first, by number
    assert layout.saved_model_versions(tmp_path / "missing") == {}


def test_resolve_version_dir(tmp_path: Path) -> None:
    model = tmp_path / "yolov5"
    _saved_model(model / "2")
    newest = _saved_model(model / "00000010")
    _saved_model(model / "v99")
    assert layout.resolve_version_dir(model) == newest  # 10 > 2, as TF Serving's latest policy
    assert layout.resolve_version_dir(newest) == newest
    with pytest.raises(InputError, match="neither a SavedModel version directory nor a model directory"):
        layout.resolve_version_dir(tmp_path)
    with pytest.raises(InputError, match="neither"):
        layout.resolve_version_dir(tmp_path / "missing")
    (model / "11").mkdir()  # the newest version holds no SavedModel: refused, not an older one picked
    with pytest.raises(InputError, match="neither"):
        layout.resolve_version_dir(model)


def test_the_old_homes_name_the_same_things() -> None:
    """export.pipeline, export.repository, serving.manager and deploy keep their names, from the one home."""
    from yolo_tfserving.export import pipeline, repository
    from yolo_tfserving.serving import manager
    from yolo_tfserving.serving.deploy import _common

    assert pipeline.resolve_version_dir is layout.resolve_version_dir
    assert pipeline.read_export_metadata is layout.read_export_metadata
    assert manager.list_version_dirs is layout.list_version_dirs
    assert manager.parse_version_dir is layout.parse_version_dir
    assert repository.MODELS_CONFIG == _common.MODELS_CONFIG == layout.MODELS_CONFIG == "models.config"
    assert repository.WARMUP_FILE == layout.WARMUP_FILE == Path("assets.extra/tf_serving_warmup_requests")
