"""Classification (issue 13): YOLOv5 v7.0 classifiers from checkpoint to served top-5.

A random-weight yolov5n-cls-shaped model (our own layers) is saved as v7.0's classify/train.py
saves it, exported once per module at 96 x 96 with parity, and served over REST and gRPC.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import types
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import GIT_INFO, coco128_images, running_server, yolov5_class_paths

NAMES = ["tench", "goldfish", "shark", "cock", "hen", "ostrich", "finch"]
IMGSZ = 96


# -- checkpoints as v7.0's classify/train.py writes them ---------------------------------------


class CenterCrop:  # stand-ins for the transforms train.py pickles as model.transforms
    def __init__(self, size: int) -> None:
        self.h = self.w = size


class ToTensor:
    def __init__(self) -> None:
        self.half = False


class Compose:
    def __init__(self, transforms: list[Any]) -> None:
        self.transforms = transforms


class Normalize:
    def __init__(self) -> None:
        self.mean, self.std, self.inplace = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False


_TRANSFORM_PATHS = {
    "utils.augmentations": (CenterCrop, ToTensor),
    "torchvision.transforms.transforms": (Compose, Normalize),
}


@contextlib.contextmanager
def classify_class_paths() -> Iterator[None]:
    """Our classes (and the transform stand-ins) pickle under YOLOv5 v7.0's / torchvision's paths."""
    from yolo_tfserving.yolov5.classify import ClassificationModel, Classify

    moved = [(ClassificationModel, "models.yolo"), (Classify, "models.common")]
    moved += [(cls, module) for module, classes in _TRANSFORM_PATHS.items() for cls in classes]
    saved = [(cls, cls.__module__, cls.__qualname__) for cls, _ in moved]
    added = [
        m for m in ("utils", "utils.augmentations", "torchvision", "torchvision.transforms") if m not in sys.modules
    ]
    added += ["torchvision.transforms.transforms"] if "torchvision.transforms.transforms" not in sys.modules else []
    with yolov5_class_paths(release="v7.0"):
        try:
            for name in added:
                sys.modules[name] = types.ModuleType(name)
            for cls, module in moved:
                cls.__module__, cls.__qualname__ = module, cls.__name__
                setattr(sys.modules[module], cls.__name__, cls)
            yield
        finally:
            for cls, module, qualname in saved:
                cls.__module__, cls.__qualname__ = module, qualname
            for name in added:
                sys.modules.pop(name, None)


def save_classify_checkpoint(model: Any, path: Path) -> Path:
    """torch.save the dict v7.0's classify/train.py saves: ``model`` the fp16 EMA, ``ema`` None."""
    import torch

    ema = copy.deepcopy(model).float().eval()
    ema.names = list(model.names)
    ema.transforms = Compose([CenterCrop(224), ToTensor(), Normalize()])
    opt = {"model": "yolov5n-cls.pt", "data": "imagenette160", "epochs": 1, "imgsz": 224, "cutoff": None}
    ckpt = {
        "epoch": 0,
        "best_fitness": 0.25,
        "model": ema.half(),
        "ema": None,
        "updates": 10,
        "optimizer": None,
        "opt": opt,
        "git": GIT_INFO,
        "date": datetime.now().isoformat(),
    }
    with classify_class_paths():
        torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def classifier() -> Any:
    pytest.importorskip("torch", reason="needs the [export] extra")
    from yolo_tfserving.yolov5.classify import build_classifier

    return build_classifier(nc=len(NAMES), names=NAMES)


@pytest.fixture(scope="module")
def cls_checkpoint(tmp_path_factory: Any, classifier: Any) -> Path:
    return save_classify_checkpoint(classifier, tmp_path_factory.mktemp("cls-ckpt") / "yolov5n-cls.pt")


@pytest.fixture(scope="module")
def cls_export(tmp_path_factory: Any, cls_checkpoint: Path) -> Any:
    """The classifier exported once (96 x 96, parity on 3 coco128 images when ../shared has them)."""
    pytest.importorskip("onnx2tf")
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    out = tmp_path_factory.mktemp("cls-repo")
    options = ExportOptions(name="cls", imgsz=IMGSZ, verify_images=coco128_images(3))
    return out, export_model(cls_checkpoint, out, options=options)


# -- checkpoint --------------------------------------------------------------------------------


def test_v7_checkpoint_loads(cls_checkpoint: Path, classifier: Any) -> None:
    import torch

    from yolo_tfserving.yolov5.checkpoint import checkpoint_task, load_classifier

    assert checkpoint_task(cls_checkpoint) == "classify"
    loaded = load_classifier(cls_checkpoint)
    assert loaded.names == tuple(NAMES)
    assert loaded.num_classes == len(NAMES)
    assert loaded.stride == 32
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = classifier.float()(x)
        got = loaded.model(x)
    assert got.shape == (2, len(NAMES))
    assert torch.allclose(got, expected, atol=0.05)  # fp16 weights, fused batch norms


def test_detection_loader_refuses_classifier_clearly(cls_checkpoint: Path) -> None:
    from yolo_tfserving._errors import CheckpointError
    from yolo_tfserving.yolov5.checkpoint import load_checkpoint

    with pytest.raises(CheckpointError, match="classification model"):
        load_checkpoint(cls_checkpoint)


def test_classify_head_matches_v7_layout(classifier: Any) -> None:
    from torch import nn

    from yolo_tfserving.yolov5.classify import Classify

    head = classifier.model[-1]
    assert isinstance(head, Classify)
    assert len(classifier.model) == 10  # cutoff 10: the backbone up to SPPF's slot
    assert head.conv.conv.out_channels == 1280
    assert isinstance(head.pool, nn.AdaptiveAvgPool2d) and isinstance(head.drop, nn.Dropout)
    assert (head.linear.in_features, head.linear.out_features) == (1280, len(NAMES))
    assert set(classifier.state_dict()) >= {"model.9.conv.conv.weight", "model.9.linear.weight"}


def test_foreign_transform_global_still_refused() -> None:
    from yolo_tfserving._errors import UnsafeCheckpointError
    from yolo_tfserving.yolov5.allowlist import resolve_global

    with pytest.raises(UnsafeCheckpointError):
        resolve_global("torchvision.transforms.transforms", "Lambda")


# -- preprocessing vs a numpy/OpenCV reference of YOLOv5's CenterCrop ---------------------------


@pytest.mark.parametrize("hw", [(120, 200), (200, 120), (96, 96), (192, 192), (97, 301), (50, 40)])
def test_center_crop_matches_yolov5_with_cv2(hw: tuple[int, int]) -> None:
    cv2 = pytest.importorskip("cv2")
    from yolo_tfserving.ops.classify import center_crop

    image = np.random.default_rng(hw[0] * 1000 + hw[1]).integers(0, 256, (*hw, 3), dtype=np.uint8)
    imh, imw = hw
    m = min(imh, imw)
    top, left = (imh - m) // 2, (imw - m) // 2
    expected = cv2.resize(image[top : top + m, left : left + m], (IMGSZ, IMGSZ), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(center_crop(image, (IMGSZ, IMGSZ)), expected)


def test_tf_center_crop_matches_numpy() -> None:
    tf = pytest.importorskip("tensorflow")
    from yolo_tfserving.export.tf_classify import center_crop as tf_crop
    from yolo_tfserving.ops.classify import center_crop

    for hw in [(120, 200), (96, 96), (192, 192), (77, 130)]:
        image = np.random.default_rng(hw[1]).integers(0, 256, (*hw, 3), dtype=np.uint8)
        got = tf_crop(tf.constant(image), (IMGSZ, IMGSZ)).numpy() * 255.0
        np.testing.assert_array_equal(np.round(got).astype(np.uint8), center_crop(image, (IMGSZ, IMGSZ)))


def test_softmax_top_k_and_bad_input() -> None:
    from yolo_tfserving._errors import InputError
    from yolo_tfserving.ops.classify import softmax, top_k

    p = softmax(np.array([[0.0, 2.0, 1.0, 2.0]]))
    assert p.sum() == pytest.approx(1.0)
    ids, scores = top_k(p, 3)
    assert ids.tolist() == [[1, 3, 2]]  # ties: lower id first
    assert scores[0, 0] == scores[0, 1] > scores[0, 2]
    with pytest.raises(InputError):
        softmax(np.zeros(3))
    with pytest.raises(InputError):
        top_k(p, 0)


# -- export, parity, serving -------------------------------------------------------------------


def _test_images() -> list[Any]:
    """coco128 images when ../shared has them, else generated pictures of several shapes (PNG bytes)."""
    images: list[Any] = list(coco128_images(4))
    if not images:
        from yolo_tfserving.client.images import encode_png

        rng = np.random.default_rng(3)
        images = [encode_png(rng.integers(0, 256, (*hw, 3), np.uint8)) for hw in ((120, 200), (90, 40), (96, 96))]
    return images


def test_export_writes_classifier_with_parity(cls_export: Any) -> None:
    from yolo_tfserving._repository_layout import read_export_metadata

    _, result = cls_export
    assert result.signatures == ["class_names", "limits", "raw", "raw_bytes", "serving_default"]
    assert result.parity is not None and result.parity["passed"] is True
    assert result.parity["max_abs_logit_diff"] <= 1e-4 * max(float(result.parity["logit_scale"]), 1.0)
    assert result.parity["top_k_equal"] == result.parity["images"]
    meta = read_export_metadata(result.version_dir)
    assert meta.task == "classify"
    assert meta.size_hw == (IMGSZ, IMGSZ)
    assert meta.class_names == tuple(NAMES)


def test_saved_model_limits_and_raw_logits(cls_export: Any, cls_checkpoint: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    from yolo_tfserving.export.parity_classify import torch_logits
    from yolo_tfserving.ops.classify import crop_batch
    from yolo_tfserving.yolov5.checkpoint import load_classifier

    _, result = cls_export
    loaded = tf.saved_model.load(str(result.version_dir))
    asked = tf.constant([b"size_h", b"size_w", b"top_k", b"num_classes", b"bogus"])
    values = loaded.signatures["limits"](names=asked)["values"].numpy().tolist()
    assert values == [IMGSZ, IMGSZ, 5, len(NAMES), -1]
    rng = np.random.default_rng(1)
    crops = crop_batch([rng.integers(0, 256, (70, 130, 3), np.uint8) for _ in range(2)], (IMGSZ, IMGSZ))
    got = loaded.signatures["raw"](images=tf.constant(crops))["logits"].numpy()
    expected = torch_logits(load_classifier(cls_checkpoint).model, crops)
    np.testing.assert_allclose(got, expected, atol=1e-4 * max(float(np.ptp(expected)), 1.0))


@pytest.fixture(scope="module")
def served_cls(cls_export: Any) -> Iterator[Any]:
    out, _ = cls_export
    with running_server(model_name="cls", model_base_path=str(out / "cls")) as server:
        yield server


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_server_and_client_modes_give_equal_top5(served_cls: Any, cls_checkpoint: Path, protocol: str) -> None:
    from yolo_tfserving.client import Client
    from yolo_tfserving.client.images import prepare
    from yolo_tfserving.export.parity_classify import torch_logits
    from yolo_tfserving.ops.classify import crop_batch, softmax, top_k
    from yolo_tfserving.yolov5.checkpoint import load_classifier

    url = (
        f"grpc://127.0.0.1:{served_cls.grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{served_cls.rest_port}"
    )
    images = _test_images()
    with Client(url, model="cls", mode="server") as server, Client(url, model="cls", mode="client") as client:
        by_server = server.classify_batch(images)
        by_client = client.classify_batch(images)
        single = client.classify(images[0], top_k=2)
    reference = torch_logits(
        load_classifier(cls_checkpoint).model, crop_batch([prepare(i).rgb for i in images], (IMGSZ, IMGSZ))
    )
    ref_ids, ref_scores = top_k(softmax(reference), 5)
    assert len(by_server) == len(by_client) == len(images)
    for s, c, ids, scores in zip(by_server, by_client, ref_ids, ref_scores, strict=True):
        assert s.class_ids.tolist() == c.class_ids.tolist() == ids.tolist()
        assert s.class_names == c.class_names == tuple(NAMES[i] for i in ids)
        np.testing.assert_allclose(s.scores, c.scores, atol=1e-5)
        np.testing.assert_allclose(s.scores, scores, atol=1e-4)
    assert single.class_ids.tolist() == by_client[0].class_ids[:2].tolist()


def test_classify_async_and_bad_top_k(served_cls: Any) -> None:
    import asyncio

    from yolo_tfserving._errors import InputError
    from yolo_tfserving.client import AsyncClient, Client

    url = f"http://127.0.0.1:{served_cls.rest_port}"
    images = _test_images()[:2]

    async def run() -> list[Any]:
        async with (
            AsyncClient(url, model="cls", mode="server") as srv,
            AsyncClient(url, model="cls", mode="client") as cli,
        ):
            return [await srv.classify_batch(images), await cli.classify_batch(images)]

    by_server, by_client = asyncio.run(run())
    assert [r.class_ids.tolist() for r in by_server] == [r.class_ids.tolist() for r in by_client]
    with Client(url, model="cls", mode="server") as client:
        with pytest.raises(InputError, match="top_k"):
            client.classify(images[0], top_k=0)
        with pytest.raises(InputError, match="client mode"):
            client.classify(images[0], top_k=6)  # serving_default returns 5


def test_detect_cli_prints_top_k_for_classifier(served_cls: Any, tmp_path: Path) -> None:
    import json
    import subprocess

    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(9)
    for i, hw in enumerate(((120, 200), (64, 64))):
        Image.fromarray(rng.integers(0, 256, (*hw, 3), np.uint8)).save(folder / f"{i}.png")
    cmd = [sys.executable, "-m", "yolo_tfserving.cli", "detect", str(folder), "--model", "cls"]
    for endpoint in (
        ["--url", f"http://127.0.0.1:{served_cls.rest_port}"],
        ["--grpc", f"127.0.0.1:{served_cls.grpc_port}"],
    ):
        proc = subprocess.run([*cmd, *endpoint], capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        records = json.loads(proc.stdout)
        assert [Path(r["path"]).name for r in records] == ["0.png", "1.png"]
        assert records[0]["size_hw"] == [120, 200]
        top = records[0]["classifications"]
        assert len(top) == 5 and {"class_id", "class_name", "score"} <= set(top[0])
        assert [t["score"] for t in top] == sorted((t["score"] for t in top), reverse=True)
        assert f"0.png: {top[0]['class_name']} " in proc.stderr
    proc = subprocess.run(
        [*cmd, "--url", f"http://127.0.0.1:{served_cls.rest_port}", "--format", "coco"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2 and "coco" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_export_of_a_classifier(cls_checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx2tf")
    from typer.testing import CliRunner

    from yolo_tfserving.cli.main import app

    args = ["export", str(cls_checkpoint), "--out", str(tmp_path), "--name", "c", "--imgsz", "64"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "max_abs_logit_diff" in result.output and "raw_bytes" in result.output
    assert (tmp_path / "c" / "1" / "saved_model.pb").is_file()
    rect = CliRunner().invoke(app, [*args, "--rect", "--force"])
    assert rect.exit_code == 2 and "--rect" in rect.output


@pytest.mark.slow
@pytest.mark.shared
def test_real_backbone_classifier_at_224(real_weights: Path, tmp_path: Path) -> None:
    """v7.0's classify/train.py start from yolov5n.pt (real backbone, a new 1000-class head) at 224, as
    yolov5n-cls: export parity on 8 coco128 images and served top-5 equal in both modes."""
    import torch

    from yolo_tfserving.client import Client
    from yolo_tfserving.export.pipeline import ExportOptions, export_model
    from yolo_tfserving.yolov5.checkpoint import load_checkpoint
    from yolo_tfserving.yolov5.classify import ClassificationModel

    torch.manual_seed(0)
    detection = load_checkpoint(real_weights, fuse=False).model
    model = ClassificationModel(model=detection, nc=1000).eval()
    assert 2.4e6 < sum(p.numel() for p in model.parameters()) < 2.6e6  # yolov5n-cls: 2.5 M parameters
    ckpt = save_classify_checkpoint(model, tmp_path / "yolov5n-cls.pt")
    images = coco128_images(8)
    options = ExportOptions(name="cls", imgsz=224, verify_images=images)
    result = export_model(ckpt, tmp_path / "repo", options=options)
    assert result.parity is not None and result.parity["passed"] and result.parity["top_k_equal"] == 8
    with running_server(model_name="cls", model_base_path=str(tmp_path / "repo" / "cls")) as server:
        url = f"http://127.0.0.1:{server.rest_port}"
        with Client(url, model="cls") as srv, Client(url, model="cls", mode="client") as cli:
            for a, b in zip(srv.classify_batch(images), cli.classify_batch(images), strict=True):
                assert a.class_ids.tolist() == b.class_ids.tolist()
                np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_cli_verify_of_a_classifier(cls_export: Any, cls_checkpoint: Path) -> None:
    from typer.testing import CliRunner

    from yolo_tfserving.cli.main import app

    version_dir = str(cls_export[1].version_dir)
    result = CliRunner().invoke(app, ["verify", version_dir, "--weights", str(cls_checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    assert '"passed": true' in result.output and "max_abs_logit_diff" in result.output
    missing = CliRunner().invoke(app, ["verify", version_dir])
    assert missing.exit_code == 2 and "--weights" in missing.output


def test_classifier_warmup_records_cover_its_signatures(cls_export: Any) -> None:
    tf = pytest.importorskip("tensorflow")
    from yolo_tfserving._repository_layout import WARMUP_FILE
    from yolo_tfserving._wire.serving_apis_pb2 import PredictionLog

    path = cls_export[1].version_dir / WARMUP_FILE
    logs = [PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    warmed = {log.predict_log.request.model_spec.signature_name for log in logs}
    assert warmed == {"class_names", "limits", "raw", "raw_bytes", "serving_default"}  # 96x96x3 crops: small


# -- the pixel limit of a classifier (no export: the client's calls answered in-process) --------


def _fake_classifier(client: Any, limit: int) -> list[str]:
    """Answer the client's calls as a classifier whose `limits` signature says ``limit`` pixels."""
    calls: list[str] = []
    raw = {"outputs": {"logits": {"tensor_shape": {"dim": [{"size": -1}, {"size": len(NAMES)}]}}}}
    metadata = {"metadata": {"signature_def": {"signature_def": {"raw": raw, "limits": {}}}}}

    def perform(call: Any) -> Any:
        name = getattr(call, "signature", "metadata")
        calls.append(name)
        if name == "metadata":
            return metadata
        if name == "limits":
            wanted = {b"size_h": IMGSZ, b"size_w": IMGSZ, b"top_k": 5, b"num_classes": len(NAMES), b"max_pixels": limit}
            return {"values": np.asarray([wanted.get(n, -1) for n in call.inputs["names"].tolist()], np.int64)}
        if name == "class_names":
            return {"class_names": np.asarray([n.encode() for n in NAMES], dtype=object)}
        assert name == "serving_default"
        n = len(call.inputs["images"])
        return {
            "classes": np.tile(np.arange(5, dtype=np.int32), (n, 1)),
            "class_names": np.tile(np.asarray([n.encode() for n in NAMES[:5]], dtype=object), (n, 1)),
            "scores": np.tile(np.asarray([0.5, 0.2, 0.1, 0.1, 0.1], np.float32), (n, 1)),
        }

    client._perform = perform
    return calls


def _png(side: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 30, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_classify_learns_the_classifiers_own_pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image past the default limit makes classify() ask the classifier's limits (not a detector's facts)."""
    from yolo_tfserving import ImageTooLargeError
    from yolo_tfserving.client import Client

    monkeypatch.setattr("yolo_tfserving.client.client.DEFAULT_MAX_PIXELS", 1000)
    image = _png(40)  # 1600 pixels: past the patched default
    with Client("http://127.0.0.1:9") as client:
        calls = _fake_classifier(client, 5000)
        result = client.classify(image)
        assert result.class_names[0] == NAMES[0] and client.max_pixels == 5000
        assert calls == ["limits", "class_names", "serving_default"]
        client.classify(image)
        assert calls[3:] == ["serving_default"]  # the limit is learnt once
    with Client("http://127.0.0.1:9") as client:
        _fake_classifier(client, 1200)
        with pytest.raises(ImageTooLargeError, match="limit of 1200 pixels"):
            client.classify(image)


def test_detect_on_a_classifier_in_client_mode_says_to_classify() -> None:
    from yolo_tfserving import RequestError
    from yolo_tfserving.client import Client

    with Client("http://127.0.0.1:9", mode="client") as client:
        _fake_classifier(client, 5000)
        with pytest.raises(RequestError, match=r"not a detector's \(outputs \['logits'\]\).*classify\(\)"):
            client.detect(_png(40))
