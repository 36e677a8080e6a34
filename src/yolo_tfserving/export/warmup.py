"""Warm-up records in TF Serving's format (``assets.extra/tf_serving_warmup_requests``).

The file is a TFRecord of ``PredictionLog`` protos; TF Serving (and our server) replays them
when a version loads, so the first real request does not pay for graph set-up, and a record
that does not fit the version (an unknown signature, a missing or extra input) fails the load.
So the records are written from the version's own ``saved_model.pb``: one request per
signature it exports, naming exactly that signature's inputs, whatever the export options
(``--nchw-signature default`` moves ``serving_default``; ``--static-batch`` ...).

The file stays small (a few KB, whatever the input size): image signatures get two small
encoded images (a JPEG and a PNG: both decoder branches), float tensors one fill value and
their shape (a ``TensorProto`` whose typed field is shorter than its shape is filled out with
the last value, by TensorFlow as by our server). Only ``raw_bytes`` needs its whole canvas
(H x W x 3 bytes) and is warmed while that is at most :data:`RAW_BYTES_WARMUP_LIMIT`
(1.2 MB at 640 would be most of the file; its network is the one ``raw`` warms).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from ..ops.nms import NMSConfig

RAW_BYTES_WARMUP_LIMIT = 64 * 1024  # bytes of one raw_bytes canvas; past it raw_bytes is not warmed
FILL_VALUE = 0.5  # every element of a warm-up float tensor
SAMPLE_HW = (36, 64)  # the warm-up images: small, not square (the letterbox pads)
_INIT_OP = "__saved_model_init_op"


def sample_jpeg(size_hw: tuple[int, int] = (480, 640)) -> bytes:
    """A synthetic JPEG (gradients), so warm-up, demos and benchmarks need no data files."""
    return _sample_image(size_hw, "JPEG")


def _sample_image(size_hw: tuple[int, int], fmt: str) -> bytes:
    from PIL import Image

    h, w = size_hw
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) % 256)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


@dataclass(frozen=True)
class WarmupValues:
    """What the records feed the inputs that are not images: the export-time defaults."""

    size_hw: tuple[int, int]
    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_det: int = 300


def exported_signatures(version_dir: Path) -> dict[str, Any]:
    """The ``SignatureDef`` of every callable signature in ``version_dir/saved_model.pb``, by name."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((version_dir / "saved_model.pb").read_bytes())
    signatures: dict[str, Any] = {}
    for meta_graph in saved.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            signatures.update(
                (name, sig) for name, sig in meta_graph.signature_def.items() if name != _INIT_OP and sig.inputs
            )
    return signatures


def signature_requests(signature: Any, values: WarmupValues) -> list[dict[str, Any]]:
    """The warm-up inputs (``TensorProto`` by input name) for one signature: one dict per record, none
    when an input has no warm-up value (a signature this module does not know, raw_bytes when large)."""
    from .._wire.enums import DataType

    string_images = "images" in signature.inputs and int(signature.inputs["images"].dtype) == DataType.DT_STRING
    # detection's raw_bytes, or a classifier's (8-bit crops in, logits out: export/tf_classify)
    raw_canvas = "predictions_bytes" in signature.outputs or ("logits" in signature.outputs and string_images)
    images = [_sample_image(SAMPLE_HW, "JPEG"), _sample_image(SAMPLE_HW, "PNG")]
    if raw_canvas:
        h, w = values.size_hw
        images = [bytes([114]) * (h * w * 3)] if h * w * 3 <= RAW_BYTES_WARMUP_LIMIT else []
    requests: list[dict[str, Any]] = []
    for image in images:
        inputs = {key: _input_proto(key, info, image, values) for key, info in signature.inputs.items()}
        if any(proto is None for proto in inputs.values()):
            return []
        requests.append(inputs)
    return requests


def _input_proto(key: str, info: Any, image: bytes, values: WarmupValues) -> Any | None:
    """One batch-of-one input for ``key``: by name for the inputs we know, a fill for float tensors."""
    from .._wire.enums import DataType
    from .._wire.tensors import ndarray_to_tensor_proto

    dims = [int(d.size) for d in info.tensor_shape.dim]
    known: dict[tuple[str, int], np.ndarray[Any, Any]] = {
        ("images", DataType.DT_STRING): np.asarray([image], dtype=object),
        ("names", DataType.DT_STRING): np.asarray([b"max_pixels"], dtype=object),
        ("conf_threshold", DataType.DT_FLOAT): np.asarray([values.conf_threshold], np.float32),
        ("iou_threshold", DataType.DT_FLOAT): np.asarray([values.iou_threshold], np.float32),
        ("max_det", DataType.DT_INT32): np.asarray([values.max_det], np.int32),
        ("class_ids", DataType.DT_INT32): np.asarray([0], np.int32),
    }
    value = known.get((key, int(info.dtype)))
    if value is not None and dims == [-1]:
        return ndarray_to_tensor_proto(value)
    if (key, int(info.dtype), dims) == ("size_hw", DataType.DT_INT32, [2]):  # raw_bytes of a --rect export
        return ndarray_to_tensor_proto(np.asarray(values.size_hw, np.int32))
    if int(info.dtype) == DataType.DT_FLOAT and len(dims) == 4 and dims.count(-1) == 3:  # raw of a --rect export
        dims = [-1, *values.size_hw, 3] if dims[3] == 3 else [-1, 3, *values.size_hw]
    if int(info.dtype) == DataType.DT_FLOAT and len(dims) >= 2 and all(d > 0 for d in dims[1:]):
        proto = ndarray_to_tensor_proto(np.asarray([FILL_VALUE], np.float32))  # one value in float_val ...
        shape = proto.tensor_shape
        del shape.dim[:]
        for size in [1, *dims[1:]]:  # ... filled out to a batch of one
            shape.dim.add(size=size)
        return proto
    return None


def write_warmup_records(
    path: Path,
    *,
    model_name: str,
    version_dir: Path,
    size_hw: tuple[int, int],
    nms: NMSConfig = NMSConfig(),
) -> list[str]:
    """Write the warm-up records for the signatures ``version_dir`` exports; return the names warmed.

    The records are our own ``PredictionLog`` messages (:mod:`yolo_tfserving._wire`), whose bytes are TF
    Serving's."""
    tf = require("tensorflow")
    from .._wire.serving_apis_pb2 import PredictionLog

    values = WarmupValues(size_hw, nms.conf_threshold, nms.iou_threshold, nms.max_det)
    records = _records(exported_signatures(version_dir), values)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature_name, inputs in records:
            log = PredictionLog()
            request = log.predict_log.request
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature_name
            for key, proto in inputs.items():
                request.inputs[key].CopyFrom(proto)
            writer.write(log.SerializeToString())
    return sorted({name for name, _ in records})


def _records(signatures: Mapping[str, Any], values: WarmupValues) -> list[tuple[str, dict[str, Any]]]:
    return [(name, inputs) for name in sorted(signatures) for inputs in signature_requests(signatures[name], values)]
