"""Warm-up records in TF Serving's format (``assets.extra/tf_serving_warmup_requests``).

The file is a TFRecord of ``PredictionLog`` protos; TF Serving (and our server) replays
them when a version loads, so the first real request does not pay for graph set-up.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._deps import require


def sample_jpeg(size_hw: tuple[int, int] = (480, 640)) -> bytes:
    """A small synthetic JPEG (gradients), so warm-up needs no data files."""
    from PIL import Image

    h, w = size_hw
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) % 256)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_warmup_records(path: Path, *, model_name: str, size_hw: tuple[int, int], num_records: int = 2) -> Path:
    """Write warm-up requests for ``serving_default`` (encoded image) and ``raw`` (tensor).

    The records are our own ``PredictionLog`` messages (:mod:`yolo_tfserving._wire`), whose bytes are TF
    Serving's; the tensors are encoded as ``tf.make_tensor_proto`` would."""
    tf = require("tensorflow")
    from .._wire.serving_apis_pb2 import PredictionLog, PredictRequest
    from .._wire.tensors import write_tensor_proto

    def record(signature_name: str, images: np.ndarray) -> bytes:
        request = PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature_name
        write_tensor_proto(request.inputs["images"], images)
        log = PredictionLog()
        log.predict_log.request.CopyFrom(request)
        return log.SerializeToString()

    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = np.asarray([sample_jpeg()], dtype=object)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(num_records):
            writer.write(record("serving_default", jpeg))
        writer.write(record("raw", np.zeros((1, *size_hw, 3), np.float32)))
    return path
