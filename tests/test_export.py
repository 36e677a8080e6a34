"""export end to end on a small random-weight YOLOv5 (no ../shared needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

from yolo_tfserving import ExportError, OutputExistsError, ParityError  # noqa: E402
from yolo_tfserving.export import pipeline  # noqa: E402
from yolo_tfserving.export.pipeline import ExportOptions, export_model  # noqa: E402
from yolo_tfserving.ops import NMSConfig  # noqa: E402

IMGSZ = 128


def _jpeg(hw, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, tiny_checkpoint):
    out = tmp_path_factory.mktemp("repo")
    result = export_model(
        tiny_checkpoint, out, options=ExportOptions(imgsz=IMGSZ, nchw_signature="add", nms=NMSConfig(max_det=50))
    )
    return out, result


@pytest.fixture(scope="session")
def loaded(tiny_export):
    return tf.saved_model.load(str(tiny_export[1].version_dir))


def test_repository_layout(tiny_export):
    out, result = tiny_export
    version_dir = out / "yolov5" / "1"
    assert result.version_dir == version_dir
    for rel in (
        "saved_model.pb",
        "variables",
        "assets/class_names.txt",
        "assets.extra/tf_serving_warmup_requests",
        "assets.extra/parity.json",
        "assets.extra/model.onnx",
        "assets.extra/yolo_tfserving.json",
    ):
        assert (version_dir / rel).exists(), rel
    assert (version_dir / "assets/class_names.txt").read_text().split() == ["cat", "dog", "bird"]
    config = (out / "models.config").read_text()
    assert 'name: "yolov5"' in config and 'base_path: "/models/yolov5"' in config
    assert "max_batch_size" in (out / "batching_parameters.txt").read_text()
    assert "prometheus_config" in (out / "monitoring.config").read_text()
    assert not [p for p in (out / "yolov5").iterdir() if p.name.startswith(".")]
    assert result.parity is not None and result.parity["passed"]
    meta = json.loads((version_dir / "assets.extra/yolo_tfserving.json").read_text())
    assert meta["size_hw"] == [IMGSZ, IMGSZ] and meta["class_names"] == ["cat", "dog", "bird"]


def test_config_files_parse_as_tf_serving_protos(tiny_export):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from yolo_tfserving._wire import serving_config_pb2
    from yolo_tfserving.serving.model_config import read_text_proto

    out, _ = tiny_export
    config = text_format.Parse((out / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    assert config.model_config_list.config[0].model_version_policy.latest.num_versions == 1
    monitoring = read_text_proto(out / "monitoring.config", serving_config_pb2.MonitoringConfig)
    assert monitoring.prometheus_config.enable and monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"
    batching = read_text_proto(out / "batching_parameters.txt", serving_config_pb2.BatchingParameters)
    assert batching.max_batch_size.value == 8 and batching.num_batch_threads.value == 2


def test_warmup_records_are_prediction_logs(tiny_export, loaded):
    from tensorflow_serving.apis import prediction_log_pb2

    path = tiny_export[1].version_dir / "assets.extra" / "tf_serving_warmup_requests"
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    warmed = {log.predict_log.request.model_spec.signature_name for log in logs}
    assert warmed == set(loaded.signatures)  # one record (or two) per signature: see test_warmup.py
    assert all(log.predict_log.request.model_spec.name == "yolov5" for log in logs)


def test_signatures_and_shapes(loaded):
    sigs = loaded.signatures
    assert set(sigs) == {"serving_default", "detect", "raw", "raw_bytes", "class_names", "limits", "predict_nchw"}
    out = sigs["serving_default"](images=tf.constant([_jpeg((90, 160), 1), _jpeg((200, 70), 2)]))
    assert set(out) == {"boxes", "scores", "classes", "class_names", "num_detections"}
    assert out["boxes"].shape == (2, 50, 4) and out["class_names"].dtype == tf.string
    counts = out["num_detections"].numpy()
    for i, (h, w) in enumerate([(90, 160), (200, 70)]):
        boxes = out["boxes"].numpy()[i, : counts[i]]
        assert (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all() and (boxes >= 0).all()
        names = [n.decode() for n in out["class_names"].numpy()[i, : counts[i]]]
        assert set(names) <= {"cat", "dog", "bird"}
        assert (out["scores"].numpy()[i, counts[i] :] == 0).all()
    raw = sigs["raw"](images=tf.zeros([1, IMGSZ, IMGSZ, 3]))["predictions"]
    assert raw.shape == (1, 3 * (16 * 16 + 8 * 8 + 4 * 4), 8)
    nchw = sigs["predict_nchw"](input=tf.zeros([1, 3, IMGSZ, IMGSZ]))["output"]
    np.testing.assert_allclose(nchw.numpy(), raw.numpy(), atol=1e-5)
    canvas = np.random.default_rng(0).integers(0, 256, (2, IMGSZ, IMGSZ, 3), dtype=np.uint8)
    blobs = sigs["raw_bytes"](images=tf.constant([c.tobytes() for c in canvas]))["predictions_bytes"].numpy()
    from_bytes = np.stack([tf.io.parse_tensor(b, tf.float32).numpy() for b in blobs])
    from_floats = sigs["raw"](images=tf.constant(canvas.astype(np.float32) / 255.0))["predictions"].numpy()
    np.testing.assert_allclose(from_bytes, from_floats, rtol=1e-5, atol=1e-4)
    names = sigs["class_names"](class_ids=tf.constant([2, 0]))["class_names"].numpy().tolist()
    assert names == [b"bird", b"cat"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8 bytes"):
        sigs["raw_bytes"](images=tf.constant([b"short"]))


def test_detect_signature_takes_thresholds_per_image(loaded):
    detect = loaded.signatures["detect"]
    images = tf.constant([_jpeg((100, 100), 3)] * 3)
    out = detect(
        images=images,
        conf_threshold=tf.constant([0.0, 1.0, 0.0]),
        iou_threshold=tf.constant([0.45] * 3),
        max_det=tf.constant([50, 50, 2], tf.int32),
    )
    counts = out["num_detections"].numpy().tolist()
    assert counts[1] == 0 and counts[2] <= 2 and counts[0] >= counts[2]
    with pytest.raises(tf.errors.InvalidArgumentError, match="conf_threshold"):
        detect(
            images=images,
            conf_threshold=tf.constant([1.5] * 3),
            iou_threshold=tf.constant([0.45] * 3),
            max_det=tf.constant([5] * 3, tf.int32),
        )


def test_existing_version_needs_force(tiny_export, tiny_checkpoint):
    out, _ = tiny_export
    with pytest.raises(OutputExistsError, match="--force"):
        export_model(tiny_checkpoint, out, options=ExportOptions(imgsz=IMGSZ))


def test_failed_export_leaves_nothing_and_keeps_old_version(tmp_path, tiny_checkpoint, monkeypatch):
    out = tmp_path / "repo"
    version = out / "yolov5" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_text("previous")

    def boom(*_args, **_kwargs):
        raise ExportError("simulated failure while saving")

    monkeypatch.setattr(pipeline, "_save", boom)
    with pytest.raises(ExportError, match="simulated"):
        export_model(tiny_checkpoint, out, options=ExportOptions(imgsz=IMGSZ, force=True))
    assert (version / "saved_model.pb").read_text() == "previous"
    assert sorted(p.name for p in (out / "yolov5").iterdir()) == ["1"]


def test_parity_failure_refuses_the_model(tmp_path, tiny_checkpoint, monkeypatch):
    from yolo_tfserving.export import parity

    real = parity.verify_parity

    def strict(*args, **kwargs):
        kwargs["options"] = parity.ParityOptions(raw_tolerance=0.0)
        report = real(*args, **kwargs)
        report.raw_max_scaled_diff["savedmodel_raw"] = 1.0  # as if the conversion were wrong
        return report

    monkeypatch.setattr(parity, "verify_parity", strict)
    with pytest.raises(ParityError, match="parity"):
        export_model(tiny_checkpoint, tmp_path, options=ExportOptions(imgsz=IMGSZ))
    assert not (tmp_path / "yolov5" / "1").exists()
    assert not [p for p in (tmp_path / "yolov5").iterdir()]


def test_export_from_onnx(tmp_path, tiny_export):
    onnx_file = tiny_export[1].version_dir / "assets.extra" / "model.onnx"
    result = export_model(onnx_file, tmp_path, options=ExportOptions(name="fromonnx"))
    assert result.size_hw == (IMGSZ, IMGSZ) and result.class_names == ("cat", "dog", "bird")
    assert (tmp_path / "fromonnx" / "1" / "saved_model.pb").is_file()
    # no PyTorch weights: the ONNX file under ONNX Runtime is the parity reference
    assert result.parity is not None and result.parity["passed"]
    assert result.parity["reference"] == "onnxruntime"
    assert set(result.parity["raw_max_abs_diff"]) == {"savedmodel_raw"}
    assert result.parity["raw_max_scaled_diff"]["savedmodel_raw"] <= 1e-3


def test_nchw_default_replaces_serving_default(tmp_path, tiny_checkpoint):
    result = export_model(tiny_checkpoint, tmp_path, options=ExportOptions(imgsz=IMGSZ, nchw_signature="default"))
    sigs = tf.saved_model.load(str(result.version_dir)).signatures
    assert "detect_images" in sigs
    out = sigs["serving_default"](input=tf.zeros([2, 3, IMGSZ, IMGSZ]))
    assert list(out) == ["output"] and out["output"].shape[0] == 2
    assert result.parity is not None and result.parity["passed"]


def test_bad_options(tmp_path, tiny_checkpoint):
    from yolo_tfserving import InputError

    with pytest.raises(InputError, match="multiple of 32"):
        export_model(tiny_checkpoint, tmp_path, options=ExportOptions(imgsz=100))
    with pytest.raises(InputError, match="model name"):
        export_model(tiny_checkpoint, tmp_path, options=ExportOptions(name="../evil"))
    with pytest.raises(InputError, match="not found"):
        export_model(tmp_path / "missing.pt", tmp_path)


def test_resolve_version_dir(tiny_export):
    out, result = tiny_export
    assert pipeline.resolve_version_dir(out / "yolov5") == result.version_dir
    assert pipeline.resolve_version_dir(result.version_dir) == result.version_dir
    with pytest.raises(Exception, match="neither"):
        pipeline.resolve_version_dir(out)


def test_written_files_are_inside_repo(tiny_export):
    out, result = tiny_export
    assert all(Path(p).resolve().is_relative_to(out.resolve()) for p in result.config_files)
