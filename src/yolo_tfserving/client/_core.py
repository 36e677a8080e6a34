"""The transport-free half of the clients: the model facts, the plan steps, and ``_Core``.

``_Core`` builds every request and parses every response in either mode; the plans in
:mod:`.client` (``_ClientBase``) yield the calls (``_Metadata``, ``_Predict``) that a client
performs blocking or awaits. Nothing here touches a socket.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError, RequestError
from ..ops import NMSConfig, detections_from_predictions, letterbox_batch, segments_from_predictions
from ..ops.masks import MaskCrops
from ._transport import ModelTarget
from .detections import Detections
from .images import PreparedImage

MODES = ("server", "client")
PROTOCOLS = ("rest", "grpc")
LIMITS_SIGNATURE = "limits"  # the export's limits by name (export/tf_module.py)
_LIMIT_NAMES = ("max_pixels", "size_h", "size_w", "stride", "rect")  # -1: a name the export does not know


@dataclass(frozen=True)
class ModelFacts:
    """What client mode needs to know about the model, read once from the server."""

    size_hw: tuple[int, int]
    class_names: tuple[str, ...]
    max_pixels: int | None = None  # the model's image pixel limit (0: none); None: the export does not say
    rect_stride: int | None = None  # an ``export --rect`` model: canvases are multiples of this stride
    num_masks: int = 0  # a segmentation model's mask coefficients per row (its raw ``protos`` channels); 0: detect


@dataclass(frozen=True)
class _Metadata:
    """A plan step: the model's metadata (reply: the metadata dict)."""


@dataclass(frozen=True)
class _Predict:
    """A plan step: one predict call (reply: the output arrays)."""

    signature: str
    inputs: dict[str, NDArray[Any]] = field(repr=False)
    single_output: str = "output"


_Call = _Metadata | _Predict
_T = TypeVar("_T")
_Steps = Generator[_Call, Any, _T]


def _advance(steps: _Steps[_T], reply: Any) -> tuple[bool, Any]:
    """Send ``reply`` into a plan: ``(True, result)`` once it returns, else ``(False, next call)``."""
    try:
        return False, steps.send(reply)
    except StopIteration as finished:
        return True, finished.value


def _split_url(url: str, protocol: str | None) -> tuple[str, str]:
    """(protocol, address) from the URL's scheme; a bare ``host:port`` is REST unless ``protocol="grpc"``.

    The port never decides (TF Serving's 8500 is only a convention): gRPC is ``grpc://host:port``.
    """
    if url.startswith("grpc://"):
        if protocol not in (None, "grpc"):
            raise InputError(f"url {url!r} is gRPC but protocol={protocol!r}; drop one of them")
        return "grpc", url[len("grpc://") :]
    if url.startswith(("http://", "https://")):
        if protocol not in (None, "rest"):
            raise InputError(f"url {url!r} is REST; for gRPC write grpc://host:port")
        return "rest", url
    if "://" in url:
        raise InputError(f"url {url!r}: the scheme must be http://, https:// or grpc://")
    if protocol == "grpc":
        return "grpc", url
    return protocol or "rest", "http://" + url


class _Core:
    """Transport-free request building and response parsing (shared by both clients)."""

    def __init__(self, *, model: str, mode: str, version: int | None, label: str | None, nms: NMSConfig) -> None:
        if mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {mode!r}")
        self.target = ModelTarget(name=model, version=version, label=label)
        self.mode = mode
        self.nms = nms
        self.facts: ModelFacts | None = None

    def config(self, conf_threshold: float | None, iou_threshold: float | None, max_det: int | None) -> NMSConfig:
        changes: dict[str, Any] = {}
        if conf_threshold is not None:
            changes["conf_threshold"] = conf_threshold
        if iou_threshold is not None:
            changes["iou_threshold"] = iou_threshold
        if max_det is not None:
            changes["max_det"] = max_det
        return replace(self.nms, **changes) if changes else self.nms

    # server mode
    def server_request(self, images: Sequence[PreparedImage], cfg: NMSConfig) -> tuple[str, dict[str, NDArray[Any]]]:
        # always the `detect` signature: the client's thresholds apply, whatever the export-time defaults were
        encoded = np.asarray([p.encoded for p in images], dtype=object)
        n = len(images)
        return "detect", {
            "images": encoded,
            "conf_threshold": np.full(n, cfg.conf_threshold, np.float32),
            "iou_threshold": np.full(n, cfg.iou_threshold, np.float32),
            "max_det": np.full(n, cfg.max_det, np.int32),
        }

    def server_response(
        self, outputs: dict[str, NDArray[Any]], images: Sequence[PreparedImage], cfg: NMSConfig
    ) -> list[Detections]:
        missing = {"boxes", "scores", "classes", "class_names", "num_detections"} - set(outputs)
        if missing:
            raise RequestError(
                f"the model's detection signature lacks outputs {sorted(missing)}; was it exported "
                "by yolo-tfserving? (use mode='client' for other exports)",
                status="",
            )
        out = []
        for i, p in enumerate(images):
            dets = Detections.from_serving_outputs(outputs, i, image_size_hw=p.size_hw)
            if cfg.classes is not None:
                dets = dets[np.isin(dets.class_id, np.asarray(cfg.classes))]
            out.append(dets)
        return out

    # client mode
    def canvases(self, images: Sequence[PreparedImage]) -> tuple[NDArray[Any], list[Any]]:
        """The letterboxed batch: square, or (a ``--rect`` model) the batch's own canvas, as in the graph."""
        facts = self.facts
        assert facts is not None
        return letterbox_batch([p.rgb for p in images], facts.size_hw, rect_stride=facts.rect_stride)

    def client_response(
        self,
        predictions: NDArray[Any],
        plans: list[Any],
        images: Sequence[PreparedImage],
        cfg: NMSConfig,
        protos: NDArray[Any] | None = None,
    ) -> list[Detections]:
        """Raw predictions -> Detections; with a segmentation model's ``protos`` (NHWC), masks as well."""
        assert self.facts is not None
        out = []
        for i, (pred, plan, p) in enumerate(zip(predictions, plans, images, strict=True)):
            masks = None
            if protos is None:
                xyxy, scores, classes = detections_from_predictions(pred, plan, cfg)
            else:
                xyxy, scores, classes, windows, crops = segments_from_predictions(pred, protos[i], plan, cfg)
                masks = MaskCrops(windows, p.size_hw, crops=crops)
            out.append(
                Detections.from_arrays(
                    xyxy, scores, classes, names=self.facts.class_names, image_size_hw=p.size_hw, mask_crops=masks
                )
            )
        return out

    def facts_from_metadata(self, metadata: dict[str, Any]) -> tuple[tuple[int, int], int]:
        """The ``raw`` signature's input size (-1 x -1 for a ``--rect`` export) and number of classes."""
        sigs = metadata["metadata"]["signature_def"]["signature_def"]
        raw = sigs.get("raw")
        if raw is None:
            raise RequestError("the model has no 'raw' signature; client mode needs a yolo-tfserving export", status="")
        try:
            dims = raw["inputs"]["images"]["tensor_shape"]["dim"]
            out_dims = raw["outputs"]["predictions"]["tensor_shape"]["dim"]
            return (int(dims[1]["size"]), int(dims[2]["size"])), int(out_dims[2]["size"]) - 5
        except (KeyError, IndexError, TypeError, ValueError):
            outputs = sorted(raw.get("outputs", {})) if isinstance(raw, dict) else []
            raise RequestError(
                f"the model's raw signature is not a detector's (outputs {outputs}); "
                "a classifier is called with classify()",
                status="",
            ) from None

    @staticmethod
    def num_masks_from_metadata(metadata: dict[str, Any]) -> int:
        """A segmentation model's mask coefficients per row: its ``raw`` ``protos`` output's channels (else 0)."""
        raw = metadata["metadata"]["signature_def"]["signature_def"].get("raw") or {}
        protos = raw.get("outputs", {}).get("protos")
        if protos is None:
            return 0
        return int(protos["tensor_shape"]["dim"][3]["size"])

    @staticmethod
    def has_limits(metadata: dict[str, Any]) -> bool:
        return LIMITS_SIGNATURE in metadata["metadata"]["signature_def"]["signature_def"]


def _nms_config(
    conf_threshold: float,
    iou_threshold: float,
    max_det: int,
    classes: Sequence[int] | None,
    agnostic: bool,
    multi_label: bool,
) -> NMSConfig:
    return NMSConfig(
        conf_threshold=conf_threshold,
        iou_threshold=iou_threshold,
        max_det=max_det,
        classes=tuple(classes) if classes is not None else None,
        agnostic=agnostic,
        multi_label=multi_label,
    )
