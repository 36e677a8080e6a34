"""YOLOv5 v7.0's classifier: the ``Classify`` head (``models.common.Classify``) and
``ClassificationModel`` (``models.yolo.ClassificationModel``).

A v7.0 classifier is a detection model's backbone cut at ``cutoff`` (10: everything up to and
including SPPF) whose last layer is replaced by ``Classify``: a 1x1 Conv to 1280 channels
(EfficientNet-B0's width), a global average pool, dropout and a Linear to ``nc`` logits.
Checkpoints pickle these classes with their state, so the attribute names (``conv``, ``pool``,
``drop``, ``linear``; ``model``, ``stride``, ``save``, ``nc``, ``names``) are part of the
format. classify/train.py also pickles the inference transforms as ``model.transforms``; the
loader restores them as inert data (:class:`InertTransform`) and we never call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._errors import CheckpointError, InputError
from . import common, yolo

CLASSIFY_WIDTH = 1280  # c_ in v7.0's Classify: efficientnet_b0's head width
DEFAULT_CUTOFF = 10


class Classify(nn.Module):
    """Feature map (b, c1, h, w) -> logits (b, c2)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1) -> None:
        super().__init__()
        self.conv = common.Conv(c1, CLASSIFY_WIDTH, k, s, p, g)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=0.0, inplace=True)
        self.linear = nn.Linear(CLASSIFY_WIDTH, c2)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if isinstance(x, list):
            x = torch.cat(x, 1)
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))  # type: ignore[no-any-return]


class ClassificationModel(nn.Module):
    """A YOLOv5 backbone and a :class:`Classify` head: NCHW images -> (N, nc) logits."""

    model: nn.Sequential
    save: list[int]
    stride: torch.Tensor

    def __init__(
        self, cfg: Any = None, model: yolo.Model | None = None, nc: int = 1000, cutoff: int = DEFAULT_CUTOFF
    ) -> None:
        super().__init__()
        if model is None:
            # v7.0's _from_yaml builds nothing (self.model = None); a classifier comes from a detection model
            raise InputError("a YOLOv5 ClassificationModel is built from a detection model (model=...), not a yaml")
        del cfg
        layers = list(model.model)[:cutoff]
        last = layers[-1]
        inner = getattr(last, "conv", None)
        c_in = inner.in_channels if isinstance(inner, nn.Conv2d) else last.cv1.conv.in_channels  # type: ignore[union-attr]
        head = Classify(int(c_in), nc)  # type: ignore[arg-type]
        head.i, head.f, head.type = last.i, last.f, "models.common.Classify"  # type: ignore[assignment]
        layers[-1] = head
        self.model = nn.Sequential(*layers)
        self.stride = model.stride
        self.save = []
        self.nc = nc
        self.names = [str(i) for i in range(nc)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        saved: list[Any] = []
        for layer in self.model:
            source = layer.f
            if source != -1:
                x = saved[source] if isinstance(source, int) else [x if j == -1 else saved[j] for j in source]  # type: ignore[assignment,union-attr]
            x = layer(x)
            saved.append(x if layer.i in self.save else None)
        return x

    def fuse(self) -> ClassificationModel:
        """Fold every batch norm into its convolution (inference only)."""
        for module in self.modules():
            if isinstance(module, common.Conv):
                module.fuse()
        return self


class InertTransform:
    """What classify/train.py pickles as ``model.transforms`` (torchvision's Compose/Normalize,
    YOLOv5's CenterCrop/ToTensor), restored as plain data: state kept, never called."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


@dataclass(frozen=True)
class LoadedClassifier:
    """A YOLOv5 classifier restored from a checkpoint, in float32 eval mode, with its facts."""

    model: ClassificationModel
    names: tuple[str, ...]
    num_classes: int
    stride: int
    date: str | None


def prepare_classifier(model: ClassificationModel, *, where: str, fuse: bool, date: str | None) -> LoadedClassifier:
    """Float32, eval mode, fused, frozen; class names checked against the head."""
    head = model.model[-1] if len(model.model) else None
    if not isinstance(head, Classify):
        raise CheckpointError(f"{where}: a ClassificationModel without a Classify head")
    nc = int(head.linear.out_features)
    model = model.float().eval()
    for module in model.modules():
        if isinstance(module, (nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.ReLU)) and not hasattr(module, "inplace"):
            module.inplace = False
    if fuse:
        model.fuse()
    names_attr = getattr(model, "names", None) or [str(i) for i in range(nc)]
    names = (
        tuple(str(names_attr[i]) for i in range(nc)) if isinstance(names_attr, dict) else tuple(map(str, names_attr))
    )
    if len(names) != nc:
        raise CheckpointError(f"{where}: {len(names)} class names for {nc} classes")
    for p in model.parameters():
        p.requires_grad_(False)
    stride_attr = getattr(model, "stride", None)
    stride = int(torch.as_tensor(stride_attr).max()) if stride_attr is not None else 32
    return LoadedClassifier(model=model, names=names, num_classes=nc, stride=stride, date=date)


def build_classifier(
    *,
    nc: int = 10,
    names: Sequence[str] | None = None,
    width_multiple: float = 0.25,
    depth_multiple: float = 0.33,
    cutoff: int = DEFAULT_CUTOFF,
    seed: int = 0,
) -> ClassificationModel:
    """A random-weight classifier as classify/train.py makes one (yolov5n-cls: a YOLOv5n backbone), for tests."""
    detection = yolo.build_model(nc=80, width_multiple=width_multiple, depth_multiple=depth_multiple, seed=seed)
    torch.manual_seed(seed + 1)
    model = ClassificationModel(model=detection, nc=nc, cutoff=cutoff)
    if names is not None:
        if len(names) != nc:
            raise InputError(f"got {len(names)} names for {nc} classes")
        model.names = list(names)
    _calibrate_batch_norms(model, seed=seed)
    with torch.no_grad():  # logits spread over several units, so that the top-5 order is no near tie
        probe = model(_normalized(torch.rand(4, 3, 96, 96, generator=torch.Generator().manual_seed(seed))))
        spread = float((probe - probe.mean(dim=1, keepdim=True)).std())
        head = model.model[-1]
        head.linear.weight.mul_(2.0 / max(spread, 1e-6))  # type: ignore[union-attr,operator]
    return model


def _calibrate_batch_norms(model: nn.Module, *, seed: int) -> None:
    """Batch-norm statistics measured on random images, so that a random network's output depends on its input
    (with untrained statistics the activations shrink layer by layer and every image gets the same logits)."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.rand(8, 3, 96, 96, generator=generator) ** torch.rand(8, 1, 1, 1, generator=generator).mul(3)
    images = _normalized(pixels)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average: one pass sets the statistics
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def _normalized(pixels: torch.Tensor) -> torch.Tensor:
    """[0, 1] NCHW RGB -> what the classifier takes (ImageNet mean/std, as YOLOv5's classify_transforms)."""
    from ..ops.classify import IMAGENET_MEAN, IMAGENET_STD

    return (pixels - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
