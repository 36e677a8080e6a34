"""YOLOv5 v7.0's instance-segmentation layers: ``Proto``, ``Segment`` and ``SegmentationModel``.

Checkpoints store these classes with their state; the attribute names are part of the format
(``models.common.Proto``: ``cv1``, ``upsample``, ``cv2``, ``cv3``; ``models.yolo.Segment``: a
Detect with ``nm``, ``npr``, ``proto`` and ``detect``, the unbound ``Detect.forward`` v7.0 keeps).

A ``Segment`` head returns ``(predictions, protos)``: predictions ``(b, anchors, 5 + nc + nm)``
laid out as Detect's (boxes and scores after the sigmoid) followed by the ``nm`` mask
coefficients, left raw; protos ``(b, nm, H/4, W/4)``, the prototype masks the ``Proto`` branch
computes from the largest feature map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._errors import CheckpointError
from . import common
from .detect import Detect
from .yolo import YOLOV5N_ARCH, Model, build_model

__all__ = [
    "YOLOV5N_SEG_ARCH",
    "Proto",
    "Segment",
    "SegmentationModel",
    "build_segmentation_model",
    "segmentation_from_detection",
]

BOX_AND_SCORE_COLUMNS = 5  # x, y, w, h, objectness


class Proto(nn.Module):
    """Prototype masks: Conv 3x3 -> nearest upsample x2 -> Conv 3x3 -> Conv 1x1 to ``c2`` masks."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32) -> None:
        super().__init__()
        self.cv1 = common.Conv(c1, c_, k=3)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.cv2 = common.Conv(c_, c_, k=3)
        self.cv3 = common.Conv(c_, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))  # type: ignore[no-any-return]


class Segment(Detect):
    """Detect plus ``nm`` mask coefficients per candidate and the ``Proto`` branch on the first level."""

    def __init__(
        self,
        nc: int = 80,
        anchors: Sequence[Sequence[float]] = (),
        nm: int = 32,
        npr: int = 256,
        ch: Sequence[int] = (),
    ) -> None:
        super().__init__(nc, anchors, ch)
        self.nm = nm
        self.npr = npr
        self.no = BOX_AND_SCORE_COLUMNS + nc + nm
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)
        self.proto = Proto(ch[0], npr, nm)
        self.detect = Detect.forward  # what v7.0 pickles; our forward does not call it

    def forward(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        protos = self.proto(xs[0])
        scored = BOX_AND_SCORE_COLUMNS + self.nc
        outputs = []
        for level in range(self.nl):
            feature = self.m[level](xs[level])
            batch, _, ny, nx = feature.shape
            y = feature.reshape(batch, self.na, self.no, ny * nx).permute(0, 1, 3, 2)
            boxes_scores, coefficients = y[..., :scored].sigmoid(), y[..., scored:]
            grid_xy, anchor_wh = self._grid(level, ny, nx, y.dtype, y.device)
            stride = float(self.stride[level])
            xy = (boxes_scores[..., 0:2] * 2.0 + grid_xy) * stride
            wh = (boxes_scores[..., 2:4] * 2.0) ** 2 * anchor_wh
            decoded = torch.cat((xy, wh, boxes_scores[..., 4:], coefficients), -1)
            outputs.append(decoded.reshape(batch, self.na * ny * nx, self.no))
        return torch.cat(outputs, 1), protos


class SegmentationModel(Model):
    """A YOLOv5 model whose head is :class:`Segment`; ``forward`` returns ``(predictions, protos)``."""

    def trunk_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The head's feature maps, then the protos (what the exported trunk computes)."""
        features = self.features(x)
        head = self.model[-1]
        assert isinstance(head, Segment)
        return [*features, head.proto(features[0])]


YOLOV5N_SEG_ARCH: dict[str, Any] = {
    **YOLOV5N_ARCH,
    "head": [*YOLOV5N_ARCH["head"][:-1], [[17, 20, 23], 1, "Segment", ["nc", "anchors", 32, 256]]],
}
"""The published YOLOv5n-seg architecture (models/segment/yolov5n-seg.yaml)."""


def build_segmentation_model(
    cfg: Mapping[str, Any] | None = None,
    *,
    nc: int = 80,
    width_multiple: float = 0.25,
    depth_multiple: float = 0.33,
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> SegmentationModel:
    """A random-weight YOLOv5 segmentation model (default: YOLOv5n-seg), for tests and demos."""
    model = build_model(
        cfg or YOLOV5N_SEG_ARCH,
        nc=nc,
        width_multiple=width_multiple,
        depth_multiple=depth_multiple,
        names=names,
        seed=seed,
        model_cls=SegmentationModel,
    )
    assert isinstance(model, SegmentationModel)
    return model


def segmentation_from_detection(detector: Model, *, seed: int = 0) -> SegmentationModel:
    """A YOLOv5n-seg-shaped model carrying an unfused YOLOv5n detector's weights: backbone, neck and the
    Segment head's box and score columns are the detector's (so both find the same boxes); the mask
    columns and the Proto branch are random. For tests and benchmarks (no seg weights ship with us)."""
    head_det = detector.model[-1]
    if not isinstance(head_det, Detect) or isinstance(head_det, Segment):
        raise CheckpointError("segmentation_from_detection needs a detection model")
    seg = build_segmentation_model(nc=head_det.nc, names=list(detector.names), seed=seed)
    head = seg.model[-1]
    assert isinstance(head, Segment)
    state, source = seg.state_dict(), detector.state_dict()
    if set(source) - set(state):
        raise CheckpointError("the detector is not a YOLOv5n-seg-shaped network (v6.0+ YOLOv5n)")
    for key, value in source.items():
        if state[key].shape == value.shape:
            state[key] = value.clone()
    scored = BOX_AND_SCORE_COLUMNS + head.nc
    for level in range(head.nl):
        for name in ("weight", "bias"):
            key = f"model.{len(seg.model) - 1}.m.{level}.{name}"
            for anchor in range(head.na):
                rows = slice(anchor * head.no, anchor * head.no + scored)
                state[key][rows] = source[key][anchor * scored : (anchor + 1) * scored]
    seg.load_state_dict(state)
    batch_norms = {name: m for name, m in detector.named_modules() if isinstance(m, nn.BatchNorm2d)}
    for name, module in seg.named_modules():
        if name in batch_norms:  # YOLOv5's initialize_weights sets eps 1e-3; the weights were trained with it
            module.eps = batch_norms[name].eps
    head.stride, head.anchors = head_det.stride.clone(), head_det.anchors.clone()
    seg.stride = head.stride
    return seg.eval()
