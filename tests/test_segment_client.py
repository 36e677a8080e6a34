"""Segmentation through the client: server mode reads mask_boxes + masks_png_bytes, client mode computes the
same masks from raw predictions + protos; both give equal Detections (masks included).

``_FakeSegTransport`` answers the wire contract with hand-made tensors (no TensorFlow): its ``detect``
runs the numpy reference, so these tests hold the client's plumbing (facts, raw/raw_bytes decoding,
NMS rows, mask assembly). The exported model, served for real, is in the tests further down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from yolo_tfserving._wire.tensors import ndarray_to_tensor_proto, tensor_proto_to_ndarray
from yolo_tfserving._wire.tf_core_pb2 import TensorProto
from yolo_tfserving.client import Client, Detections
from yolo_tfserving.client.images import prepare
from yolo_tfserving.ops import NMSConfig, letterbox_batch, segments_from_predictions
from yolo_tfserving.ops.masks import encode_png

SIZE = 64
NAMES = ("cat", "dog", "bird")
NM = 32
ANCHORS = 150
LIMITS = {"max_pixels": 0, "size_h": SIZE, "size_w": SIZE, "stride": 32, "rect": 0, "num_masks": NM, "proto_stride": 4}


def _dims(*sizes: int) -> dict[str, Any]:
    return {"tensor_shape": {"dim": [{"size": str(s)} for s in sizes]}}


class _FakeSegTransport:
    """The seg contract's signatures over hand-made tensors: raw outputs depend on the canvas."""

    last_request_bytes = last_response_bytes = 0

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.base = rng.uniform(0, 1, (ANCHORS, 5 + len(NAMES) + NM)).astype(np.float32)
        self.base[:, :2] *= SIZE
        self.base[:, 2:4] = rng.uniform(6, 40, (ANCHORS, 2))
        self.base[:, 5 + len(NAMES) :] = rng.normal(0, 2, (ANCHORS, NM))
        coarse = rng.normal(size=(4, 4, NM)).astype(np.float32)
        self.protos = np.kron(coarse, np.ones((4, 4, 1), np.float32))
        self.calls: list[str] = []

    def raw(self, canvases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[N, 64, 64, 3] uint8 -> predictions [N, A, 5 + nc + nm], protos [N, 16, 16, nm]."""
        shade = canvases.reshape(len(canvases), 16, 4, 16, 4, 3).mean(axis=(2, 4, 5)) / 255.0
        protos = self.protos[None] + 2.0 * (shade[..., None] - 0.45)
        predictions = np.repeat(self.base[None], len(canvases), 0)
        predictions[:, :, 4] *= canvases.reshape(len(canvases), -1).mean(1)[:, None] / 128.0
        return predictions.astype(np.float32), protos.astype(np.float32)

    def metadata(self, _target: Any) -> dict[str, Any]:
        raw = {
            "inputs": {"images": _dims(-1, SIZE, SIZE, 3)},
            "outputs": {"predictions": _dims(-1, ANCHORS, 5 + len(NAMES) + NM), "protos": _dims(-1, 16, 16, NM)},
        }
        served = {"outputs": {n: {} for n in ("boxes", "scores", "classes", "class_names", "num_detections")}}
        served["outputs"] |= {"mask_boxes": {}, "masks_png_bytes": {}}
        sigs = {"raw": raw, "limits": {}, "detect": served, "serving_default": served}
        return {"metadata": {"signature_def": {"signature_def": sigs}}}

    def predict(self, _target: Any, signature: str, inputs: dict[str, Any], **_options: Any) -> dict[str, Any]:
        self.calls.append(signature)
        if signature == "class_names":
            return {"class_names": np.asarray([NAMES[i].encode() for i in inputs["class_ids"]], dtype=object)}
        if signature == "limits":
            return {"values": np.asarray([LIMITS.get(n.decode(), -1) for n in inputs["names"]], np.int64)}
        if signature == "raw":
            canvases = np.round(np.asarray(inputs["images"]) * 255).astype(np.uint8)
            predictions, protos = self.raw(canvases)
            return {"predictions": predictions, "protos": protos}
        if signature == "raw_bytes":
            canvases = np.stack([np.frombuffer(b, np.uint8).reshape(SIZE, SIZE, 3) for b in inputs["images"]])
            predictions, protos = self.raw(canvases)
            as_bytes = lambda a: np.asarray([ndarray_to_tensor_proto(x).SerializeToString() for x in a], object)  # noqa: E731
            return {"predictions_bytes": as_bytes(predictions), "protos_bytes": as_bytes(protos)}
        if signature == "detect":
            return self._detect(inputs)
        raise AssertionError(signature)

    def _detect(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The contract's seg detect outputs, padded to max_det, from the numpy reference."""
        images = [prepare(b) for b in inputs["images"]]
        canvases, plans = letterbox_batch([p.rgb for p in images], (SIZE, SIZE))
        predictions, protos = self.raw(canvases)
        k = int(inputs["max_det"][0])
        cfg = NMSConfig(
            conf_threshold=float(inputs["conf_threshold"][0]),
            iou_threshold=float(inputs["iou_threshold"][0]),
            max_det=k,
        )
        out: dict[str, list[Any]] = {n: [] for n in ("boxes", "scores", "classes", "class_names", "mask_boxes")}
        out["num_detections"], out["masks_png_bytes"] = [], []
        for pred, proto, plan in zip(predictions, protos, plans, strict=True):
            xyxy, scores, classes, windows, crops = segments_from_predictions(pred, proto, plan, cfg)
            n, pad = len(scores), k - len(scores)
            out["boxes"].append(np.concatenate([xyxy, np.zeros((pad, 4), np.float32)]))
            out["scores"].append(np.concatenate([scores, np.zeros(pad, np.float32)]))
            out["classes"].append(np.concatenate([classes, np.zeros(pad, np.int64)]))
            out["class_names"].append([NAMES[c].encode() for c in classes] + [b""] * pad)
            out["mask_boxes"].append(np.concatenate([windows, np.zeros((pad, 4), np.int32)]))
            out["masks_png_bytes"].append([encode_png(c) for c in crops] + [b""] * pad)
            out["num_detections"].append(n)
        return {
            name: np.asarray(v, dtype=object) if name in ("class_names", "masks_png_bytes") else np.asarray(v)
            for name, v in out.items()
        }

    def close(self) -> None:
        pass

    # AsyncClient's transport face
    async def apredict(self, *args: Any, **options: Any) -> dict[str, Any]:
        return self.predict(*args, **options)

    async def ametadata(self, target: Any) -> dict[str, Any]:
        return self.metadata(target)

    async def aclose(self) -> None:
        pass


def _client(protocol: str, mode: str) -> tuple[Client, _FakeSegTransport]:
    url = "http://fake:8501" if protocol == "rest" else "grpc://fake:8500"
    client = Client(url, model="seg", mode=mode, conf_threshold=0.3)
    client.transport.close()
    fake = _FakeSegTransport()
    client.transport = fake  # type: ignore[assignment]
    return client, fake


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [
        rng.integers(60, 200, (48, 80, 3), dtype=np.uint8),
        np.full((90, 50, 3), 150, np.uint8),
        rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
    ]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_server_and_client_modes_give_equal_detections_with_masks(protocol: str) -> None:
    server, _ = _client(protocol, "server")
    client, fake = _client(protocol, "client")
    images = _images()
    served = server.detect_batch(images)
    computed = client.detect_batch(images)
    assert fake.calls[-1] == ("raw_bytes" if protocol == "rest" else "raw")
    assert client.model_facts().num_masks == NM and client.model_facts().class_names == NAMES
    for a, b, image in zip(served, computed, images, strict=True):
        assert len(a) > 0 and a.mask_crops is not None and b.mask_crops is not None
        assert a == b  # boxes, scores, classes, names and masks
        assert a.mask.shape == (len(a), *image.shape[:2]) and a.mask.any()


def test_async_client_gives_the_same_masks() -> None:
    import asyncio

    from yolo_tfserving.client import AsyncClient

    async def both() -> tuple[list[Detections], list[Detections]]:
        results = []
        for mode in ("server", "client"):
            client = AsyncClient("http://fake:8501", model="seg", mode=mode, conf_threshold=0.3)
            await client.transport.aclose()
            client.transport = _FakeSegTransport()  # type: ignore[assignment]
            results.append(await client.detect_batch(_images()))
        return results[0], results[1]

    served, computed = asyncio.run(both())
    sync, _ = _client("rest", "server")
    assert served == computed == sync.detect_batch(_images())
    assert all(d.mask_crops is not None for d in served)


def test_server_mode_classes_filter_keeps_masks_aligned() -> None:
    server, _ = _client("rest", "server")
    image = _images()[0]
    everything = server.detect(image)
    only = Client("http://fake:8501", model="seg", classes=[1], conf_threshold=0.3)
    only.transport.close()
    only.transport = _FakeSegTransport()  # type: ignore[assignment]
    filtered = only.detect(image)
    assert 0 < len(filtered) < len(everything)
    assert filtered == everything[everything.class_id == 1]


def test_tensor_proto_bytes_round_trip_for_protos() -> None:
    protos = _FakeSegTransport().raw(np.zeros((1, SIZE, SIZE, 3), np.uint8))[1]
    wire = ndarray_to_tensor_proto(protos[0]).SerializeToString()
    assert np.array_equal(tensor_proto_to_ndarray(TensorProto.FromString(wire)), protos[0])


def test_detections_stay_plain_for_a_detection_model() -> None:
    dets = Detections.from_serving_outputs(
        {
            "boxes": np.zeros((1, 2, 4), np.float32),
            "scores": np.zeros((1, 2), np.float32),
            "classes": np.zeros((1, 2), np.int64),
            "class_names": np.asarray([[b"", b""]], dtype=object),
            "num_detections": np.asarray([0]),
        },
        image_size_hw=(10, 10),
    )
    assert dets.mask is None and dets.mask_crops is None


# -- the exported seg model, served for real --------------------------------------------------------
SEG_IMGSZ = 96


@pytest.fixture(scope="module")
def seg_export(tmp_path_factory):
    """A confident tiny random seg model (our layers, saved as v7.0 saves it), exported at 96 without parity
    (test_segment_export holds parity); ``seg_export`` is in conftest's EXPORTING_FIXTURES."""
    pytest.importorskip("onnx2tf")
    from test_segment_export import save_seg_checkpoint, tiny_seg_model
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    root = tmp_path_factory.mktemp("seg-client")
    weights = save_seg_checkpoint(tiny_seg_model(confident=True), root / "best.pt")
    return export_model(weights, root / "repo", options=ExportOptions(imgsz=SEG_IMGSZ, name="seg", verify=False))


@pytest.fixture(scope="module")
def seg_served(seg_export):
    from helpers import running_server

    with running_server(model_name="seg", model_base_path=str(seg_export.version_dir.parent)) as server:
        yield server


def _seg_images() -> list[np.ndarray]:
    from helpers import coco128_images

    paths = coco128_images(3)
    if paths:
        return [prepare(p).rgb for p in paths]
    rng = np.random.default_rng(4)
    return [rng.integers(0, 256, (*hw, 3), np.uint8) for hw in ((120, 200), (150, 90), (96, 96))]


def _url(server: Any, protocol: str) -> str:
    return f"http://127.0.0.1:{server.rest_port}" if protocol == "rest" else f"grpc://127.0.0.1:{server.grpc_port}"


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


# above the random model's crowd of near-tied scores (~0.29-0.31), where 1e-5 decides NMS survivors
CONF = 0.45


def _pair(a: Detections, b: Detections) -> list[tuple[int, list[int]]]:
    """Each row of ``a`` with the rows of ``b`` of its class, box (0.05 px) and score (1e-4).

    A random-weight model's scores are crowded (tens of boxes within 1e-5 of each other), and REST's
    client mode reads ``raw_bytes`` (the 8-bit canvas, scaled in the graph), whose predictions differ
    from the in-graph path's by ~1e-5: near-tied rows may swap places, so rows are paired by value.
    """
    pairs = []
    for i in range(len(a)):
        close = (
            (b.class_id == a.class_id[i])
            & (np.abs(b.xyxy - a.xyxy[i]).max(axis=1) <= 0.05)
            & (np.abs(b.confidence - a.confidence[i]) <= 1e-4)
        )
        pairs.append((i, np.flatnonzero(close).tolist()))
    return pairs


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_served_seg_model_server_and_client_modes_agree(seg_served: Any, protocol: str) -> None:
    images = _seg_images()
    with (
        Client(_url(seg_served, protocol), model="seg", mode="server", conf_threshold=CONF) as srv,
        Client(_url(seg_served, protocol), model="seg", mode="client", conf_threshold=CONF) as cli,
    ):
        served, computed = srv.detect_batch(images), cli.detect_batch(images)
        assert cli.model_facts().num_masks == NM
    assert sum(len(d) for d in served) > 3
    ious = []
    for a, b, image in zip(served, computed, images, strict=True):
        assert len(a) == len(b) and sorted(a.class_id.tolist()) == sorted(b.class_id.tolist())
        assert a.mask is not None and b.mask is not None
        assert a.mask.shape == b.mask.shape == (len(a), *image.shape[:2])
        for i, candidates in _pair(a, b):
            assert candidates, f"served row {i} has no client-mode twin"
            ious.append(max(_mask_iou(a.mask[i], b.mask[j]) for j in candidates))
    assert min(ious) >= 0.99, min(ious)
    assert any(d.mask.any() for d in served)


def test_served_seg_model_rest_and_grpc_agree_exactly(seg_served: Any) -> None:
    images = _seg_images()
    with (
        Client(_url(seg_served, "rest"), model="seg") as rest,
        Client(_url(seg_served, "grpc"), model="seg") as grpc,
    ):
        by_rest, by_grpc = rest.detect_batch(images), grpc.detect_batch(images)
        alone, top2 = rest.detect(images[0]), grpc.detect(images[0], max_det=2)
    assert by_rest == by_grpc  # same graph, same bytes: masks too
    assert len(top2) == 2 and top2 == alone[:2]  # (a batch of one: batch size changes the convolutions' rounding)


def test_eval_tf_backend_scores_masks_of_the_seg_export(seg_export: Any, tmp_path: Path) -> None:
    from test_eval_segment import POLYGONS, _write_dataset
    from yolo_tfserving.evaluation import eval_nms_config, evaluate, load_dataset
    from yolo_tfserving.evaluation.backends import tf_raw_backend

    dataset = load_dataset(_write_dataset(tmp_path / "ds", POLYGONS))
    backend = tf_raw_backend(seg_export.version_dir, nms=eval_nms_config())
    try:
        result = evaluate(dataset, backend)
    finally:
        backend.close()
    assert result.detections > 0
    assert result.mask_map50_95 is not None and 0.0 <= result.mask_map50_95 <= 1.0


def test_detect_cli_writes_masks(seg_served: Any, tmp_path: Path) -> None:
    import base64
    import json
    import subprocess
    import sys

    from PIL import Image

    from yolo_tfserving.ops.masks import decode_png

    image = _seg_images()[0]
    Image.fromarray(image).save(tmp_path / "im.png")
    url = f"http://127.0.0.1:{seg_served.rest_port}"
    for fmt in ("json", "coco"):
        cmd = [sys.executable, "-m", "yolo_tfserving.cli", "detect", str(tmp_path / "im.png"), "--url", url]
        cmd += ["--model", "seg", "--conf", str(CONF), "--out", str(tmp_path / fmt), "--format", fmt, "--save-images"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / fmt / "im_det.png").is_file()
    rows = json.loads((tmp_path / "json" / "detections.json").read_text())[0]["detections"]
    assert rows and all({"mask_window", "mask_png_b64"} <= set(r) for r in rows)
    crop = decode_png(base64.b64decode(rows[0]["mask_png_b64"]), rows[0]["mask_window"])
    assert crop.shape == (
        rows[0]["mask_window"][3] - rows[0]["mask_window"][1],
        rows[0]["mask_window"][2] - rows[0]["mask_window"][0],
    )
    coco = json.loads((tmp_path / "coco" / "detections_coco.json").read_text())
    assert len(coco) == len(rows) and all(r["segmentation"]["size"] == list(image.shape[:2]) for r in coco)
