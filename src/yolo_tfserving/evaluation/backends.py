"""Detection backends for ``eval``: one image path in, :class:`Detections` in original pixels out.

=============== ===================================================================================
``torch``       ``--weights``: our numpy letterbox -> the PyTorch model -> our numpy NMS -> unletterbox
``onnxruntime`` ``--model-dir`` (its ``assets.extra/model.onnx``) or ``--weights model.onnx``; same
``tf``          ``--model-dir``: the SavedModel in-process through its ``raw`` signature; same
``tf-detect``   ``--model-dir``: the SavedModel's in-graph ``detect`` signature (letterbox and NMS in
                the graph; ``multi_label``/``agnostic`` are fixed at export time)
``rest``        ``--url http://host:8501``: :class:`~yolo_tfserving.client.Client` over REST
``grpc``        ``--grpc host:8500``: :class:`~yolo_tfserving.client.Client` over gRPC
=============== ===================================================================================

The numpy backends share one pipeline (same decoding, letterbox, NMS, rescaling), so they
differ only by the network's arithmetic. A segmentation model's network also returns its protos
(NHWC here), and the pipeline adds YOLOv5's masks (``ops.segments_from_predictions``).
The remote backends default to ``mode="client"`` (letterbox and NMS here, the ``raw`` model
over the wire), because the in-graph ``detect`` signature's ``multi_label`` is fixed at export
time (off by default) and eval wants val.py's multi-label NMS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .._deps import require
from .._errors import InputError, RequestError
from ..client.detections import Detections
from ..client.images import prepare
from ..ops import NMSConfig, detections_from_predictions, letterbox_batch, segments_from_predictions
from ..ops.masks import MaskCrops

log = logging.getLogger("yolo_tfserving.evaluation")

# a network's outputs for one canvas: predictions, or (a segmentation model) predictions and NHWC protos
RawOutputs = NDArray[np.float32] | tuple[NDArray[np.float32], NDArray[np.float32]]

BACKENDS = ("torch", "onnxruntime", "tf", "tf-bf16", "tf-detect", "rest", "grpc")
DEFAULT_IMGSZ = 640


def eval_nms_config(
    *,
    conf_threshold: float = 0.001,
    iou_threshold: float = 0.6,
    max_det: int = 300,
    multi_label: bool = True,
    agnostic: bool = False,
) -> NMSConfig:
    """YOLOv5 val.py's post-processing: conf 0.001, IoU 0.6, multi-label, 300 detections."""
    try:
        return NMSConfig(
            conf_threshold=conf_threshold,
            iou_threshold=iou_threshold,
            max_det=max_det,
            multi_label=multi_label,
            agnostic=agnostic,
        )
    except ValueError as exc:
        raise InputError(
            str(exc)
            .replace("conf_threshold", "--conf")
            .replace("iou_threshold", "--iou")
            .replace("max_det", "--max-det")
        ) from None


@runtime_checkable
class Backend(Protocol):
    """What :func:`~yolo_tfserving.evaluation.evaluate` needs from a detector."""

    name: str

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class names, index = class id (empty when unknown)."""
        ...

    def detect(self, path: Path) -> Detections:
        """Detections for one image file, boxes in its upright original pixels."""
        ...

    def close(self) -> None: ...


class LetterboxBackend:
    """Decode (Pillow, EXIF, RGB) -> letterbox -> ``raw_fn`` -> numpy NMS -> unletterbox."""

    def __init__(
        self,
        name: str,
        raw_fn: Callable[[NDArray[np.uint8]], RawOutputs],
        *,
        size_hw: tuple[int, int],
        class_names: tuple[str, ...],
        nms: NMSConfig,
        closer: Callable[[], None] | None = None,
        rect_stride: int | None = None,
    ) -> None:
        self.name = name
        self._raw_fn = raw_fn
        self.size_hw = size_hw
        self.rect_stride = rect_stride  # a --rect export: each image at its own stride-multiple canvas
        self._names = class_names
        self.nms = nms
        self._closer = closer

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    def detect(self, path: Path) -> Detections:
        rgb = prepare(path).rgb
        canvases, (plan,) = letterbox_batch([rgb], self.size_hw, rect_stride=self.rect_stride)
        outputs = self._raw_fn(canvases[0])
        size_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        masks = None
        if isinstance(outputs, tuple):
            predictions, protos = (np.asarray(o) for o in outputs)
            xyxy, scores, classes, windows, crops = segments_from_predictions(predictions, protos, plan, self.nms)
            masks = MaskCrops(windows, size_hw, crops=crops)
        else:
            xyxy, scores, classes = detections_from_predictions(np.asarray(outputs), plan, self.nms)
        return Detections.from_arrays(xyxy, scores, classes, names=self._names, image_size_hw=size_hw, mask_crops=masks)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None


def _nchw(canvas: NDArray[np.uint8]) -> NDArray[np.float32]:
    return np.ascontiguousarray((canvas.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None])


def torch_backend(weights: Path, *, nms: NMSConfig, imgsz: int = DEFAULT_IMGSZ) -> LetterboxBackend:
    """The PyTorch checkpoint, float32 on CPU, at a square ``imgsz``."""
    torch = require("torch")
    from ..yolov5.checkpoint import load_checkpoint

    ckpt = load_checkpoint(weights)
    stride = max(ckpt.strides)
    if imgsz % stride or imgsz < stride:
        raise InputError(f"--imgsz must be a positive multiple of the model's stride {stride}, got {imgsz}")
    model = ckpt.model

    def run(canvas: NDArray[np.uint8]) -> RawOutputs:
        with torch.inference_mode():
            out = model(torch.from_numpy(_nchw(canvas)))
        if isinstance(out, tuple):  # a SegmentationModel: (predictions, protos NCHW)
            return out[0].numpy()[0], out[1].numpy()[0].transpose(1, 2, 0)
        return out.numpy()[0]  # type: ignore[no-any-return]

    return LetterboxBackend("torch", run, size_hw=(imgsz, imgsz), class_names=ckpt.names, nms=nms)


def onnxruntime_backend(onnx_path: Path, *, nms: NMSConfig, imgsz: int | None = None) -> LetterboxBackend:
    """The ONNX model on ONNX Runtime's CPU provider, at the size it was exported for."""
    ort = require("onnxruntime")
    from ..export.onnx_export import inspect_onnx

    info = inspect_onnx(onnx_path)
    _check_imgsz(imgsz, info.size_hw, str(onnx_path))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(canvas: NDArray[np.uint8]) -> RawOutputs:
        outputs = session.run(None, {input_name: _nchw(canvas)})
        if len(outputs) > 1 and np.ndim(outputs[1]) == 4:  # a segmentation model: predictions, protos NCHW
            return outputs[0][0], outputs[1][0].transpose(1, 2, 0)
        return outputs[0][0]  # type: ignore[no-any-return]

    return LetterboxBackend("onnxruntime", run, size_hw=info.size_hw, class_names=info.class_names, nms=nms)


def tf_raw_backend(
    version_dir: Path, *, nms: NMSConfig, imgsz: int | None = None, mixed_precision: str = ""
) -> LetterboxBackend:
    """The SavedModel in-process through its ``raw`` signature (NHWC float32 in [0, 1]), on the serving
    runtime (the session ``serve`` runs it in); ``mixed_precision="bfloat16"`` as ``serve
    --mixed_precision=bfloat16`` runs it (backend ``tf-bf16``)."""
    from .._repository_layout import ExportMetadata
    from ..serving.servable import LoadOptions, Servable

    meta = ExportMetadata.read(version_dir)
    size_hw = meta.size_hw
    _check_imgsz(imgsz, size_hw, str(version_dir))
    servable = Servable("eval", 1, version_dir, LoadOptions(mixed_precision=mixed_precision))
    if "raw" not in servable.signatures:
        servable.close()
        raise InputError(f"{version_dir} has no 'raw' signature; was it exported by yolo-tfserving?")
    signature = servable.signature("raw")

    def run(canvas: NDArray[np.uint8]) -> RawOutputs:
        x = (canvas.astype(np.float32) / np.float32(255.0))[None]
        outputs = servable.run(signature, {"images": x})
        if "protos" in outputs:  # a segmentation model (protos NHWC already)
            return outputs["predictions"][0], outputs["protos"][0]
        return outputs["predictions"][0]  # type: ignore[no-any-return]

    name = "tf-bf16" if mixed_precision else "tf"
    return LetterboxBackend(
        name,
        run,
        size_hw=size_hw,
        class_names=meta.class_names,
        nms=nms,
        closer=servable.close,
        rect_stride=meta.stride if meta.rect else None,
    )


class TFDetectBackend:
    """The SavedModel's in-graph ``detect`` signature (letterbox, NMS and rescaling in TensorFlow)."""

    name = "tf-detect"

    def __init__(self, version_dir: Path, *, nms: NMSConfig, imgsz: int | None = None) -> None:
        self._tf = require("tensorflow")
        from .._repository_layout import ExportMetadata

        meta = ExportMetadata.read(version_dir)
        _check_imgsz(imgsz, meta.size_hw, str(version_dir))
        if nms.max_det > meta.nms.max_det:
            raise InputError(
                f"--max-det {nms.max_det} exceeds the export-time max_det {meta.nms.max_det} of "
                f"{version_dir}; lower --max-det or re-export with a larger --max-det"
            )
        if meta.nms.multi_label != nms.multi_label or meta.nms.agnostic != nms.agnostic:
            log.warning(
                "tf-detect: the in-graph NMS uses the export-time multi_label=%s agnostic=%s, not "
                "multi_label=%s agnostic=%s",
                meta.nms.multi_label,
                meta.nms.agnostic,
                nms.multi_label,
                nms.agnostic,
            )
        self._loaded: Any = self._tf.saved_model.load(str(version_dir))
        self._fn = self._loaded.signatures["detect"]
        self._names = meta.class_names
        self.nms = nms

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    def detect(self, path: Path) -> Detections:
        tf = self._tf
        image = prepare(path)
        out = self._fn(
            images=tf.constant([image.encoded]),
            conf_threshold=tf.constant([self.nms.conf_threshold], tf.float32),
            iou_threshold=tf.constant([self.nms.iou_threshold], tf.float32),
            max_det=tf.constant([self.nms.max_det], tf.int32),
        )
        return Detections.from_serving_outputs({k: v.numpy() for k, v in out.items()}, 0, image_size_hw=image.size_hw)

    def close(self) -> None:
        self._loaded = None


class ClientBackend:
    """A served model through :class:`~yolo_tfserving.client.Client` (REST or gRPC)."""

    def __init__(self, name: str, url: str, *, nms: NMSConfig, mode: str = "client", model: str = "yolov5") -> None:
        from ..client import Client

        if mode == "server" and (nms.multi_label or nms.agnostic):
            log.warning(
                "%s: --mode server uses the in-graph NMS, whose multi_label/agnostic were fixed at export "
                "time; use --mode client for val.py's multi-label NMS",
                name,
            )
        self.name = name
        self.url = url
        self._client = Client(
            url,
            model=model,
            protocol=name,
            mode=mode,
            conf_threshold=nms.conf_threshold,
            iou_threshold=nms.iou_threshold,
            max_det=nms.max_det,
            multi_label=nms.multi_label,
            agnostic=nms.agnostic,
        )
        self._names: tuple[str, ...] | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        if self._names is None:
            # the same one-off metadata + class_names look-up client mode does before its first request
            try:
                self._names = self._client.model_facts().class_names
            except RequestError as exc:  # not a yolo-tfserving export: names come from the detections
                log.warning("%s: cannot read the model's class names (%s)", self.name, exc)
                self._names = ()
        return self._names

    def detect(self, path: Path) -> Detections:
        return self._client.detect(path)

    def close(self) -> None:
        self._client.close()


def _check_imgsz(imgsz: int | None, size_hw: tuple[int, int], what: str) -> None:
    if imgsz is not None and (imgsz, imgsz) != size_hw:
        raise InputError(
            f"--imgsz {imgsz} does not match {what}, which was exported for "
            f"{size_hw[0]}x{size_hw[1]}; drop --imgsz or re-export"
        )


def _version_dir(model_dir: Path) -> Path:
    from .._repository_layout import resolve_version_dir

    if not model_dir.exists():
        raise InputError(f"--model-dir {model_dir} does not exist")
    return resolve_version_dir(model_dir)


def make_backend(
    name: str,
    *,
    weights: str | Path | None = None,
    model_dir: str | Path | None = None,
    url: str | None = None,
    grpc_target: str | None = None,
    nms_config: NMSConfig | None = None,
    imgsz: int | None = None,
    mode: str = "client",
    model_name: str = "yolov5",
) -> Backend:
    """Build the backend ``name`` (one of :data:`BACKENDS`) from what the command line gave.

    ``imgsz`` None means the exported size for model-dir backends, and for ``torch`` the
    exported size of ``model_dir`` when given, else 640. ``url`` may be ``grpc://host:port``
    (then it serves as the gRPC target too). ``nms_config`` defaults to :func:`eval_nms_config`.
    """
    nms = nms_config or eval_nms_config()
    weights_path = Path(weights) if weights is not None else None
    model_path = Path(model_dir) if model_dir is not None else None
    if mode not in ("server", "client"):
        raise InputError(f"--mode must be server or client, got {mode!r}")
    if name == "torch":
        return _torch_from_args(weights_path, model_path, nms, imgsz)
    if name == "onnxruntime":
        return _onnxruntime_from_args(weights_path, model_path, nms, imgsz)
    if name in ("tf", "tf-bf16", "tf-detect"):
        return _tf_from_args(name, model_path, nms, imgsz)
    if name in ("rest", "grpc"):
        return _client_from_args(name, url, grpc_target, nms, mode, model_name)
    raise InputError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")


def _torch_from_args(weights: Path | None, model_dir: Path | None, nms: NMSConfig, imgsz: int | None) -> Backend:
    if weights is None or weights.suffix.lower() == ".onnx":
        raise InputError("the torch backend needs the PyTorch checkpoint: add --weights path/to/model.pt")
    size = imgsz
    if size is None and model_dir is not None:
        from .._repository_layout import ExportMetadata

        size = ExportMetadata.read(_version_dir(model_dir)).size_hw[0]
    return torch_backend(weights, nms=nms, imgsz=size or DEFAULT_IMGSZ)


def _onnxruntime_from_args(weights: Path | None, model_dir: Path | None, nms: NMSConfig, imgsz: int | None) -> Backend:
    if model_dir is not None:
        from .._repository_layout import ONNX_ASSET, missing_onnx_message

        version_dir = _version_dir(model_dir)
        onnx_path = version_dir / ONNX_ASSET
        if not onnx_path.is_file():
            raise InputError(missing_onnx_message(version_dir, "pass --weights model.onnx"))
        return onnxruntime_backend(onnx_path, nms=nms, imgsz=imgsz)
    if weights is not None and weights.suffix.lower() == ".onnx":
        if not weights.is_file():
            raise InputError(f"--weights {weights} does not exist")
        return onnxruntime_backend(weights, nms=nms, imgsz=imgsz)
    raise InputError(
        "the onnxruntime backend needs an exported model: add --model-dir DIR (its "
        "assets.extra/model.onnx is used) or --weights model.onnx"
    )


def _tf_from_args(name: str, model_dir: Path | None, nms: NMSConfig, imgsz: int | None) -> Backend:
    if model_dir is None:
        raise InputError(
            f"the {name} backend needs the exported SavedModel: add --model-dir DIR (a model or "
            "version directory written by export)"
        )
    version_dir = _version_dir(model_dir)
    if name in ("tf", "tf-bf16"):
        return tf_raw_backend(
            version_dir, nms=nms, imgsz=imgsz, mixed_precision="bfloat16" if name == "tf-bf16" else ""
        )
    return TFDetectBackend(version_dir, nms=nms, imgsz=imgsz)


def _client_from_args(
    name: str, url: str | None, grpc_target: str | None, nms: NMSConfig, mode: str, model_name: str
) -> Backend:
    if name == "rest":
        if url is None or url.startswith("grpc://"):
            raise InputError("the rest backend needs the server's REST address: add --url http://host:8501")
        return ClientBackend("rest", url, nms=nms, mode=mode, model=model_name)
    target = grpc_target or (url if url is not None and url.startswith("grpc://") else None)
    if target is None:
        raise InputError("the grpc backend needs the server's gRPC address: add --grpc host:8500")
    if not target.startswith("grpc://"):
        target = "grpc://" + target
    return ClientBackend("grpc", target, nms=nms, mode=mode, model=model_name)
