"""Segmentation through the client: server mode reads mask_boxes + masks_png_bytes, client mode computes the
same masks from raw predictions + protos; both give equal Detections (masks included).

``_FakeSegTransport`` answers the wire contract with hand-made tensors (no TensorFlow): its ``detect``
runs the numpy reference, so these tests hold the client's plumbing (facts, raw/raw_bytes decoding,
NMS rows, mask assembly). The exported model, served for real, is in the tests further down.
"""

from __future__ import annotations

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
