"""Warm-up records (issue 11, item 5): every record names a signature the version exports, with exactly
its inputs, for every combination of export options; every such version loads under the server with
warm-up replay on and answers; the file stays small (encoded images, fill-value tensors)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")
httpx = pytest.importorskip("httpx")

from helpers import running_server  # noqa: E402
from yolo_tfserving._wire import serving_apis_pb2, serving_config_pb2  # noqa: E402
from yolo_tfserving._wire.formats import message_to_text  # noqa: E402
from yolo_tfserving._wire.tensors import tensor_proto_to_ndarray  # noqa: E402
from yolo_tfserving.export.pipeline import ExportOptions, export_model  # noqa: E402
from yolo_tfserving.export.repository import WARMUP_FILE  # noqa: E402

IMGSZ = 64
NUM_CLASSES = 3  # the tiny model's cat, dog, bird
ANCHORS = 3 * sum((IMGSZ // stride) ** 2 for stride in (8, 16, 32))  # three anchors per cell, strides 8/16/32
COMBOS = [(nchw, dynamic) for nchw in ("none", "add", "default") for dynamic in (True, False)]


def _name(nchw: str, dynamic: bool) -> str:
    return f"nchw-{nchw}-{'dynamic' if dynamic else 'static'}"


def _records(version_dir: Path) -> list[Any]:
    path = version_dir / WARMUP_FILE
    return [serving_apis_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]


def _signature_defs(version_dir: Path) -> dict[str, Any]:
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((version_dir / "saved_model.pb").read_bytes())
    return dict(saved.meta_graphs[0].signature_def)


def _jpeg(hw: tuple[int, int]) -> bytes:
    rgb = np.random.default_rng(1).integers(0, 256, (*hw, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    """Six real exports into one repository. The network conversion (onnx2tf, the slow part) depends on
    the batch mode only, so it runs once per batch mode and the other exports reuse its network."""
    from yolo_tfserving.export import pipeline

    out = tmp_path_factory.mktemp("warmup-repo")
    real_convert = pipeline._convert
    networks: dict[bool, Any] = {}

    def convert_once(torch_model: Any, onnx_path: Path, info: Any, options: Any, scratch: Path) -> Any:
        if info.dynamic_batch not in networks:
            networks[info.dynamic_batch] = real_convert(torch_model, onnx_path, info, options, scratch)
        return networks[info.dynamic_batch]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "_convert", convert_once)
        for nchw, dynamic in COMBOS:
            options = ExportOptions(
                name=_name(nchw, dynamic), imgsz=IMGSZ, nchw_signature=nchw, dynamic_batch=dynamic, verify=False
            )
            export_model(tiny_checkpoint, out, options=options)
    assert len(networks) == 2
    return out


@pytest.mark.parametrize(("nchw", "dynamic"), COMBOS)
def test_each_record_names_an_exported_signature_with_its_inputs(repo: Path, nchw: str, dynamic: bool) -> None:
    version_dir = repo / _name(nchw, dynamic) / "1"
    signatures = _signature_defs(version_dir)
    warmed = set()
    for log in _records(version_dir):
        request = log.predict_log.request
        assert request.model_spec.name == _name(nchw, dynamic)
        name = request.model_spec.signature_name
        assert name in signatures, f"{name!r} is not one of {sorted(signatures)}"
        inputs = signatures[name].inputs
        assert set(request.inputs) == set(inputs), name
        for key, proto in request.inputs.items():
            assert proto.dtype == inputs[key].dtype, (name, key)
            value = tensor_proto_to_ndarray(proto)
            want = [d.size for d in inputs[key].tensor_shape.dim]
            assert len(value.shape) == len(want) and value.shape[0] == 1, (name, key, value.shape)
            assert all(w in (-1, g) for g, w in zip(value.shape, want, strict=True)), (name, key, value.shape, want)
        warmed.add(name)
    # at this size every signature is warmed (the raw_bytes canvas is 64 x 64 x 3 bytes)
    assert warmed == set(signatures) - {"__saved_model_init_op"}
    if nchw == "default":
        assert {"serving_default", "detect_images"} <= warmed
        assert list(signatures["serving_default"].inputs) == ["input"]


@pytest.fixture(scope="module")
def server(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One server for every combination; models.config's base paths are /models/<name> (the Docker
    image's mount), so the test writes its own config with the local paths. Warm-up replay is on by default."""
    config = serving_config_pb2.ModelServerConfig()
    for nchw, dynamic in COMBOS:
        entry = config.model_config_list.config.add()
        entry.name = _name(nchw, dynamic)
        entry.base_path = str(repo / entry.name)
        entry.model_platform = "tensorflow"
    path = tmp_path_factory.mktemp("warmup-config") / "models.config"
    path.write_text(message_to_text(config))
    with running_server(model_config_file=str(path)) as srv:
        yield srv


@pytest.fixture(scope="module")
def rest(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=60) as client:
        yield client


@pytest.mark.parametrize(("nchw", "dynamic"), COMBOS)
def test_every_combination_loads_with_warmup_and_answers(rest: httpx.Client, nchw: str, dynamic: bool) -> None:
    name = _name(nchw, dynamic)
    status = rest.get(f"/v1/models/{name}").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("1", "AVAILABLE")], status
    if nchw == "default":
        # the original write-up's client: NCHW floats in (columnar form), the predictions out. `output` is
        # the signature's only output, so TF Serving (and our server) give its value as `outputs` itself
        x = np.full((1, 3, IMGSZ, IMGSZ), 0.5, np.float32)
        r = rest.post(f"/v1/models/{name}:predict", json={"inputs": {"input": x.tolist()}})
        assert r.status_code == 200, r.text
        assert np.asarray(r.json()["outputs"]).shape == (1, ANCHORS, 5 + NUM_CLASSES)
        metadata = rest.get(f"/v1/models/{name}/metadata").json()["metadata"]["signature_def"]["signature_def"]
        assert list(metadata["serving_default"]["outputs"]) == ["output"]
        # and the row form: one instance, `predictions` back
        r = rest.post(f"/v1/models/{name}:predict", json={"instances": x.tolist()})
        assert r.status_code == 200, r.text
        assert np.asarray(r.json()["predictions"]).shape == (1, ANCHORS, 5 + NUM_CLASSES)
        image_signature = "detect_images"
    else:
        image_signature = "serving_default"
    body = {"signature_name": image_signature, "instances": [{"b64": base64.b64encode(_jpeg((40, 90))).decode()}]}
    r = rest.post(f"/v1/models/{name}:predict", json=body)
    assert r.status_code == 200, r.text
    (prediction,) = r.json()["predictions"]
    assert 0 <= prediction["num_detections"] <= 300


def _dummy_version(base: Path, imgsz: int, nchw: str) -> Path:
    """A SavedModel with our signatures around a stand-in network (no conversion): what the warm-up
    writer reads is the signature map, which depends on the input size and the options only."""
    from yolo_tfserving.export.tf_module import ServingSpec, YoloServingModule

    anchors = 3 * sum((imgsz // s) ** 2 for s in (8, 16, 32))

    def network(images: Any) -> Any:
        return tf.zeros([tf.shape(images)[0], anchors, 5 + NUM_CLASSES]) + tf.reduce_mean(images) * 0

    module = YoloServingModule(network, ServingSpec(size_hw=(imgsz, imgsz), class_names=("cat", "dog", "bird")))
    target = base / f"{imgsz}-{nchw}"
    tf.saved_model.save(module, str(target), signatures=module.signatures(nchw=nchw))
    return target


def test_warmup_file_stays_small_at_every_input_size(tmp_path: Path) -> None:
    """Encoded images for the image signatures and one fill value for float tensors: the file does not grow
    with the input size, except the raw_bytes canvas, which is warmed only while it is small (64 KiB)."""
    from yolo_tfserving.export.warmup import RAW_BYTES_WARMUP_LIMIT, write_warmup_records

    sizes: dict[tuple[int, str], int] = {}
    for nchw in ("add", "default"):
        for imgsz in (64, 320, 640):
            version_dir = _dummy_version(tmp_path, imgsz, nchw)
            path = version_dir / WARMUP_FILE
            warmed = write_warmup_records(path, model_name="m", version_dir=version_dir, size_hw=(imgsz, imgsz))
            sizes[imgsz, nchw] = path.stat().st_size
            assert ("raw_bytes" in warmed) == (imgsz * imgsz * 3 <= RAW_BYTES_WARMUP_LIMIT)
            assert {"serving_default", "detect", "raw"} <= set(warmed)
    for nchw in ("add", "default"):
        assert sizes[640, nchw] < 200_000  # the real yolov5n at 640
        assert abs(sizes[640, nchw] - sizes[320, nchw]) < 64  # only the shapes' varints differ
        assert sizes[64, nchw] <= sizes[320, nchw] + 64 * 64 * 3 + 256  # plus the one small canvas


def test_dummy_640_version_loads_with_its_warmup(tmp_path: Path) -> None:
    """The compact float tensors (one value, filled out to the shape) replay under the server."""
    from yolo_tfserving.export.warmup import write_warmup_records

    base = tmp_path / "m"
    version_dir = _dummy_version(base, 640, "default")
    version_dir.rename(base / "1")
    write_warmup_records(base / "1" / WARMUP_FILE, model_name="m", version_dir=base / "1", size_hw=(640, 640))
    with running_server(model_name="m", model_base_path=str(base)) as srv:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.rest_port}", timeout=60) as client:
            status = client.get("/v1/models/m").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("1", "AVAILABLE")], status
