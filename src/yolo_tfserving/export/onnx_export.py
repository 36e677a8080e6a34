"""PyTorch -> ONNX (TorchScript-based exporter, simplified with onnxsim), and ONNX inspection."""

from __future__ import annotations

import ast
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from .._deps import require
from .._errors import ExportError, InputError, ModelFileError

DEFAULT_OPSET = 12


@dataclass(frozen=True)
class OnnxModelInfo:
    """What an ONNX file says about the YOLOv5 model inside it."""

    input_name: str
    output_name: str
    size_hw: tuple[int, int]
    dynamic_batch: bool
    class_names: tuple[str, ...]
    stride: int


def export_onnx(
    model: object,
    path: Path,
    *,
    size_hw: tuple[int, int],
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    class_names: tuple[str, ...] = (),
    stride: int = 32,
    output_names: tuple[str, ...] = ("output0",),
) -> Path:
    """Trace ``model`` to ONNX at ``path`` and simplify it; YOLOv5's metadata travels along.

    ``stride`` is the model's largest: every side of ``size_hw`` must be a multiple of it.
    ``output_names``: one per model output (a segmentation model's are YOLOv5's ``output0, output1``).
    """
    if any(side % stride for side in size_hw):
        raise InputError(
            f"--imgsz {size_hw[0] if size_hw[0] == size_hw[1] else size_hw} is not a multiple of {stride}, "
            f"the model's largest stride (P6 models need multiples of 64, P7 models of 128)"
        )
    torch = require("torch")
    onnx = require("onnx")
    dummy = torch.zeros(1, 3, *size_hw)
    dynamic_axes = {n: {0: "batch"} for n in ("images", *output_names)} if dynamic_batch else None
    _trace(model, dummy, path, opset=opset, outputs=list(output_names), dynamic_axes=dynamic_axes)
    graph = onnx.load(str(path))
    graph = simplify(graph)
    _set_metadata(graph, class_names, stride)
    onnx.save(graph, str(path))
    return path


def export_trunk_onnx(
    model: object, path: Path, *, size_hw: tuple[int, int], opset: int = DEFAULT_OPSET, dynamic_batch: bool = True
) -> list[str]:
    """Trace the network up to its Detect head (``Model.features``) to ONNX; returns output names.

    The TensorFlow model is converted from this trunk and finished with our own NHWC head
    (see ``tf_head``); the full model's ONNX stays the one users and ONNX Runtime get.
    """
    torch = require("torch")
    onnx = require("onnx")
    from ..yolov5.yolo import Trunk

    trunk = Trunk(model)  # type: ignore[arg-type]
    with torch.no_grad():
        levels = len(trunk(torch.zeros(1, 3, *size_hw)))
    names = [f"features{i}" for i in range(levels)]
    dynamic_axes = {n: {0: "batch"} for n in ["images", *names]} if dynamic_batch else None
    _trace(trunk, torch.zeros(1, 3, *size_hw), path, opset=opset, outputs=names, dynamic_axes=dynamic_axes)
    onnx.save(simplify(onnx.load(str(path))), str(path))
    return names


def _trace(
    model: object, dummy: object, path: Path, *, opset: int, outputs: list[str], dynamic_axes: dict | None
) -> None:
    torch = require("torch")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                dummy,
                str(path),
                opset_version=opset,
                input_names=["images"],
                output_names=outputs,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:
        raise ExportError(f"PyTorch -> ONNX export failed: {exc}") from exc


def simplify(graph: object) -> object:
    """Run onnxsim; keep the original graph (with a warning) if it cannot simplify."""
    onnxsim = require("onnxsim")
    try:
        simplified, ok = onnxsim.simplify(graph)
    except Exception as exc:  # onnxsim raises plain RuntimeErrors
        raise ExportError(f"onnxsim failed to simplify the ONNX graph: {exc}") from exc
    if not ok:
        raise ExportError("onnxsim could not validate the simplified ONNX graph")
    return simplified


def _set_metadata(graph: object, names: tuple[str, ...], stride: int) -> None:
    props = {"stride": str(stride), "names": json.dumps(dict(enumerate(names)))}
    del graph.metadata_props[:]  # type: ignore[attr-defined]
    for key, value in props.items():
        entry = graph.metadata_props.add()  # type: ignore[attr-defined]
        entry.key, entry.value = key, value


def inspect_onnx(path: Path, *, num_masks: int = 0) -> OnnxModelInfo:
    """Check an ONNX file is a YOLOv5 detector (one NCHW input, one (N, A, 5+nc) output); a segmentation
    model's first output has ``num_masks`` more columns, its mask coefficients."""
    onnx = require("onnx")
    if not path.is_file():
        raise ModelFileError(f"ONNX file not found: {path}")
    try:
        graph = onnx.load(str(path))
        onnx.checker.check_model(graph)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a valid ONNX model: {exc}") from exc
    initializers = {i.name for i in graph.graph.initializer}
    inputs = [i for i in graph.graph.input if i.name not in initializers]
    if len(inputs) != 1 or not graph.graph.output:
        raise ModelFileError(f"{path}: expected one image input, found {len(inputs)}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    out_dims = [
        d.dim_value if d.HasField("dim_value") else None for d in graph.graph.output[0].type.tensor_type.shape.dim
    ]
    if len(dims) != 4 or dims[1] != 3 or dims[2] is None or dims[3] is None:
        raise ModelFileError(f"{path}: input {inputs[0].name} has shape {dims}; a YOLOv5 model takes [N, 3, H, W]")
    if len(out_dims) != 3 or out_dims[2] is None or out_dims[2] < 6:
        raise ModelFileError(
            f"{path}: first output has shape {out_dims}; a YOLOv5 detector outputs [N, anchors, 5 + classes]"
        )
    meta = {p.key: p.value for p in graph.metadata_props}
    nc = int(out_dims[2]) - 5 - num_masks
    names = _parse_names(meta.get("names"), nc)
    return OnnxModelInfo(
        input_name=inputs[0].name,
        output_name=graph.graph.output[0].name,
        size_hw=(int(dims[2]), int(dims[3])),
        dynamic_batch=dims[0] is None,
        class_names=names,
        stride=int(meta.get("stride", 32)),
    )


def _parse_names(raw: str | None, nc: int) -> tuple[str, ...]:
    if not raw:
        return tuple(str(i) for i in range(nc))
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = ast.literal_eval(raw)  # YOLOv5's export.py writes a Python dict repr
    if isinstance(value, dict):
        names = tuple(str(value[k]) for k in sorted(value, key=lambda k: int(k)))
    else:
        names = tuple(map(str, value))
    if len(names) != nc:
        return tuple(str(i) for i in range(nc))
    return names
