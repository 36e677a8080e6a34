"""The YOLOv5 model container (``models.yolo.Model`` / ``DetectionModel``) and its Detect head.

Checkpoints store these classes with their state; the attribute names are part of the
format. :func:`build_model` builds a random-weight model from a YOLOv5 architecture dict
(see :mod:`.config`) so that tests and demos need no checkpoint.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._errors import InputError
from . import common
from .config import parse_layers
from .detect import Detect

__all__ = ["YOLOV5N_ARCH", "Detect", "DetectionModel", "Model", "Trunk", "build_model"]


class Model(nn.Module):
    """The sequential graph of a YOLOv5 model; layers carry ``f`` (inputs) and ``i`` (index)."""

    model: nn.Sequential
    save: list[int]
    stride: torch.Tensor

    def __init__(self, cfg: Mapping[str, Any], ch: int | None = None, nc: int | None = None) -> None:
        super().__init__()
        self.yaml = copy.deepcopy(dict(cfg))
        ch = self.yaml["ch"] = int(ch if ch is not None else self.yaml.get("ch", 3))
        if nc is not None:
            self.yaml["nc"] = nc
        self.model, self.save = parse_layers(self.yaml, [ch])
        self.names = [str(i) for i in range(int(self.yaml["nc"]))]
        self.inplace = True
        detect = self.model[-1]
        assert isinstance(detect, Detect)
        probe = 256
        with torch.no_grad():
            feats = self.features(torch.zeros(1, ch, probe, probe))
        detect.stride = torch.tensor([probe / f.shape[-2] for f in feats])
        detect.anchors /= detect.stride.view(-1, 1, 1)
        self.stride = detect.stride
        _init_detect_biases(detect)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, stop_before_head=False)  # type: ignore[return-value]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps the Detect head takes, one per level (NCHW, largest first)."""
        return self._run(x, stop_before_head=True)  # type: ignore[return-value]

    def trunk_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """What the exported trunk computes (the head's feature maps; a segmentation model adds its protos)."""
        return self.features(x)

    def _run(self, x: Any, *, stop_before_head: bool) -> torch.Tensor | list[torch.Tensor]:
        saved: list[Any] = []
        for layer in self.model:
            source = layer.f
            if source != -1:
                x = saved[source] if isinstance(source, int) else [x if j == -1 else saved[j] for j in source]  # type: ignore[union-attr]
            if stop_before_head and isinstance(layer, Detect):
                return list(x)  # type: ignore[arg-type]
            x = layer(x)
            saved.append(x if layer.i in self.save else None)
        return x  # type: ignore[no-any-return]

    def fuse(self) -> Model:
        """Fold every batch norm into its convolution (inference only)."""
        for module in self.modules():
            if isinstance(module, common.Conv):
                module.fuse()
        return self


class Trunk(nn.Module):
    """A model up to its Detect head: images -> one feature map per level (what export traces)."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.inner = model
        # torch.onnx.export restores the traced module's mode to all its children: a Trunk made in
        # training mode (a new Module's default) would leave an eval model in training mode.
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.inner.trunk_outputs(x))


DetectionModel = Model  # the name YOLOv5 v7.0 pickles


def _init_detect_biases(detect: Detect) -> None:
    """Objectness and class priors as YOLOv5 initialises them (keeps random models sane)."""
    for conv, stride in zip(detect.m, detect.stride, strict=True):
        bias = conv.bias.detach().view(detect.na, -1)  # type: ignore[union-attr,operator]
        bias[:, 4] += math.log(8 / (640 / float(stride)) ** 2)
        bias[:, 5 : 5 + detect.nc] += math.log(0.6 / (detect.nc - 0.99))
        conv.bias = nn.Parameter(bias.view(-1))


YOLOV5N_ARCH: dict[str, Any] = {
    "nc": 80,
    "depth_multiple": 0.33,
    "width_multiple": 0.25,
    "anchors": [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]],
    "backbone": [
        [-1, 1, "Conv", [64, 6, 2, 2]],
        [-1, 1, "Conv", [128, 3, 2]],
        [-1, 3, "C3", [128]],
        [-1, 1, "Conv", [256, 3, 2]],
        [-1, 6, "C3", [256]],
        [-1, 1, "Conv", [512, 3, 2]],
        [-1, 9, "C3", [512]],
        [-1, 1, "Conv", [1024, 3, 2]],
        [-1, 3, "C3", [1024]],
        [-1, 1, "SPPF", [1024, 5]],
    ],
    "head": [
        [-1, 1, "Conv", [512, 1, 1]],
        [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],
        [-1, 1, "Conv", [256, 1, 1]],
        [-1, 1, "nn.Upsample", ["None", 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 3, "C3", [256, False]],
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 14], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 10], 1, "Concat", [1]],
        [-1, 3, "C3", [1024, False]],
        [[17, 20, 23], 1, "Detect", ["nc", "anchors"]],
    ],
}
"""The published YOLOv5n architecture (width 0.25, depth 0.33)."""


def build_model(
    cfg: Mapping[str, Any] | None = None,
    *,
    nc: int = 80,
    width_multiple: float = 0.25,
    depth_multiple: float = 0.33,
    names: Sequence[str] | None = None,
    seed: int = 0,
    model_cls: type[Model] = Model,
) -> Model:
    """A random-weight YOLOv5 model of architecture ``cfg`` (default: the v6/v7 YOLOv5n), for tests and demos.

    ``nc``, ``width_multiple`` and ``depth_multiple`` override the architecture's own; ``model_cls``
    is the container (``segment.SegmentationModel`` for a Segment head).
    """
    torch.manual_seed(seed)
    cfg = dict(cfg or YOLOV5N_ARCH, nc=nc, width_multiple=width_multiple, depth_multiple=depth_multiple)
    model = model_cls(cfg)
    if names is not None:
        if len(names) != nc:
            raise InputError(f"got {len(names)} names for {nc} classes")
        model.names = list(names)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # non-trivial statistics so that fusing is exercised
            module.running_mean.uniform_(-0.1, 0.1)  # type: ignore[union-attr]
            module.running_var.uniform_(0.5, 1.5)  # type: ignore[union-attr]
    return model.eval()
