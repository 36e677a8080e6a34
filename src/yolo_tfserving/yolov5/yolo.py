"""The YOLOv5 detection head and model container (``models.yolo.Detect`` / ``Model``).

Checkpoints store these classes with their state; the attribute names are part of the
format. :func:`build_model` builds a model from a YOLOv5-style architecture dict so that
tests can make a small random-weight model without any checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from . import common


class Detect(nn.Module):
    """Decode the three feature maps into ``(batch, anchors, 5 + classes)`` predictions.

    Every prediction row is ``cx, cy, w, h`` in input pixels, then the objectness and the
    per-class probabilities (all after the sigmoid). Rows are ordered anchor, then grid row,
    then grid column, per level: the layout YOLOv5 itself produces.

    The forward pass uses only 4-D tensors so that converters that change the layout
    (NCHW to NHWC) follow it without 5-D transposes.
    """

    stride: torch.Tensor
    anchors: torch.Tensor

    def __init__(self, nc: int = 80, anchors: Sequence[Sequence[float]] = (), ch: Sequence[int] = ()) -> None:
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.register_buffer("anchors", torch.tensor(anchors).float().view(self.nl, -1, 2))
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)
        self.inplace = True
        self.stride = torch.ones(self.nl)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        outputs = []
        for level in range(self.nl):
            feature = self.m[level](xs[level])
            batch, _, ny, nx = feature.shape
            # (b, na*no, ny, nx) -> (b, na, no, ny*nx) -> (b, na, ny*nx, no)
            y = feature.reshape(batch, self.na, self.no, ny * nx).permute(0, 1, 3, 2).sigmoid()
            grid_xy, anchor_wh = self._grid(level, ny, nx, y.dtype, y.device)
            stride = float(self.stride[level])
            xy = (y[..., 0:2] * 2.0 + grid_xy) * stride
            wh = (y[..., 2:4] * 2.0) ** 2 * anchor_wh
            decoded = torch.cat((xy, wh, y[..., 4:]), -1)
            outputs.append(decoded.reshape(batch, self.na * ny * nx, self.no))
        return torch.cat(outputs, 1)

    def _grid(
        self, level: int, ny: int, nx: int, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cell offsets (1, 1, ny*nx, 2) shifted by -0.5, and anchor sizes in pixels (1, na, 1, 2)."""
        ys, xs = torch.meshgrid(
            torch.arange(ny, dtype=dtype, device=device), torch.arange(nx, dtype=dtype, device=device), indexing="ij"
        )
        grid = torch.stack((xs, ys), -1).reshape(1, 1, ny * nx, 2) - 0.5
        anchor_wh = (self.anchors[level] * self.stride[level]).to(dtype).reshape(1, self.na, 1, 2)
        return grid, anchor_wh


class Model(nn.Module):
    """The sequential graph of a YOLOv5 model; layers carry ``f`` (inputs) and ``i`` (index)."""

    model: nn.Sequential
    save: list[int]
    stride: torch.Tensor

    def __init__(self, cfg: dict[str, Any], ch: int = 3, nc: int | None = None) -> None:
        super().__init__()
        self.yaml = dict(cfg)
        if nc is not None:
            self.yaml["nc"] = nc
        self.model, self.save = _parse_layers(self.yaml, [ch])
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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.inner.features(x))


DetectionModel = Model  # the name YOLOv5 v7.0 pickles

_BLOCKS: dict[str, type[nn.Module]] = {
    "Conv": common.Conv,
    "DWConv": common.DWConv,
    "Bottleneck": common.Bottleneck,
    "C3": common.C3,
    "BottleneckCSP": common.BottleneckCSP,
    "SPP": common.SPP,
    "SPPF": common.SPPF,
    "Focus": common.Focus,
}
_REPEATED_INSIDE = {"C3", "BottleneckCSP"}


def make_divisible(x: float, divisor: int) -> int:
    return math.ceil(x / divisor) * divisor


def _parse_layers(cfg: dict[str, Any], ch: list[int]) -> tuple[nn.Sequential, list[int]]:
    """Build the layer list from a YOLOv5 architecture dict (backbone + head rows)."""
    anchors = cfg["anchors"]
    nc, depth, width = int(cfg["nc"]), float(cfg["depth_multiple"]), float(cfg["width_multiple"])
    na = len(anchors[0]) // 2 if isinstance(anchors, list) else int(anchors)
    no = na * (nc + 5)
    layers: list[nn.Module] = []
    save: list[int] = []
    c_out = ch[-1]
    for index, (source, repeats, name, args) in enumerate(cfg["backbone"] + cfg["head"]):
        args = list(args)
        repeats = max(round(repeats * depth), 1) if repeats > 1 else repeats
        module_cls: type[nn.Module]
        if name in _BLOCKS:
            module_cls = _BLOCKS[name]
            c_in, c_out = ch[source], args[0]
            if c_out != no:
                c_out = make_divisible(c_out * width, 8)
            args = [c_in, c_out, *args[1:]]
            if name in _REPEATED_INSIDE:
                args.insert(2, repeats)
                repeats = 1
        elif name == "nn.Upsample":
            module_cls = nn.Upsample
            args = [None if a == "None" else a for a in args]
            c_out = ch[source]
        elif name == "Concat":
            module_cls = common.Concat
            c_out = sum(ch[j] for j in source)
        elif name == "Detect":
            module_cls = Detect
            args = [nc, anchors, [ch[j] for j in source]]
        else:
            raise ValueError(f"layer type {name!r} is not supported")
        block = nn.Sequential(*(module_cls(*args) for _ in range(repeats))) if repeats > 1 else module_cls(*args)
        block.i, block.f = index, source  # type: ignore[assignment]
        block.type = f"models.common.{name}"  # type: ignore[assignment]
        sources = [source] if isinstance(source, int) else source
        save.extend(j % index for j in sources if j != -1)
        layers.append(block)
        if index == 0:
            ch = []
        ch.append(c_out)
    return nn.Sequential(*layers), sorted(save)


def _init_detect_biases(detect: Detect) -> None:
    """Objectness and class priors as YOLOv5 initialises them (keeps random models sane)."""
    for conv, stride in zip(detect.m, detect.stride, strict=True):
        bias = conv.bias.detach().view(detect.na, -1)  # type: ignore[union-attr,operator]
        bias[:, 4] += math.log(8 / (640 / float(stride)) ** 2)
        bias[:, 5:] += math.log(0.6 / (detect.nc - 0.99))
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
    *,
    nc: int = 80,
    width_multiple: float = 0.25,
    depth_multiple: float = 0.33,
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> Model:
    """A random-weight YOLOv5 model of the v6/v7 architecture (for tests and demos)."""
    torch.manual_seed(seed)
    cfg = dict(YOLOV5N_ARCH, nc=nc, width_multiple=width_multiple, depth_multiple=depth_multiple)
    model = Model(cfg)
    if names is not None:
        if len(names) != nc:
            raise ValueError(f"got {len(names)} names for {nc} classes")
        model.names = list(names)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # non-trivial statistics so that fusing is exercised
            module.running_mean.uniform_(-0.1, 0.1)  # type: ignore[union-attr]
            module.running_var.uniform_(0.5, 1.5)  # type: ignore[union-attr]
    return model.eval()
