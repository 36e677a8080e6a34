"""Build a YOLOv5 layer list from an architecture dict (a ``models/*.yaml`` file, as loaded).

The dict has ``nc``, ``depth_multiple``, ``width_multiple``, ``anchors`` (a list of per-level
``[w0, h0, w1, h1, ...]``, or an integer: that many placeholder anchors per level, which
AutoAnchor replaces in training), optionally ``activation`` (e.g. ``nn.LeakyReLU(0.1)``: the
default activation of every Conv) and ``ch`` (input channels), then ``backbone`` and
``head`` rows ``[from, number, module, args]``. Module names and arguments are the yaml's
strings (``"nn.Upsample"``, ``"None"``, ``"nc"``, ``"anchors"``); YOLOv5 ``eval``s them, we
look them up: nothing in a yaml is ever executed.

Channel arithmetic follows YOLOv5's ``parse_model`` at v5.0 to v7.0: a block's first argument
is its output channels, scaled by ``width_multiple`` and rounded up to a multiple of 8;
``number`` is scaled by ``depth_multiple`` and either repeats the block or, for the CSP
blocks, becomes their inner depth.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from .._errors import CheckpointError
from . import common, experimental, ghost, transformer
from .detect import Detect

# Blocks whose first argument is their output channels (scaled by width_multiple).
CHANNEL_BLOCKS: dict[str, type[nn.Module]] = {
    "Conv": common.Conv,
    "GhostConv": ghost.GhostConv,
    "Bottleneck": common.Bottleneck,
    "GhostBottleneck": ghost.GhostBottleneck,
    "SPP": common.SPP,
    "SPPF": common.SPPF,
    "DWConv": common.DWConv,
    "MixConv2d": experimental.MixConv2d,
    "Focus": common.Focus,
    "CrossConv": common.CrossConv,
    "BottleneckCSP": common.BottleneckCSP,
    "C3": common.C3,
    "C3TR": transformer.C3TR,
    "C3SPP": common.C3SPP,
    "C3Ghost": ghost.C3Ghost,
    "C3x": common.C3x,
    "DWConvTranspose2d": common.DWConvTranspose2d,
    "nn.ConvTranspose2d": nn.ConvTranspose2d,
}
# CSP blocks: ``number`` is their inner depth, not a repeat count.
DEPTH_INSIDE = frozenset({"BottleneckCSP", "C3", "C3TR", "C3Ghost", "C3x"})
# Blocks that keep (or, for Contract/Expand/Concat/Sum, compute) their channels.
OTHER_BLOCKS: dict[str, type[nn.Module]] = {
    "Concat": common.Concat,
    "Contract": common.Contract,
    "Expand": common.Expand,
    "Sum": experimental.Sum,
    "Detect": Detect,
    "nn.Upsample": nn.Upsample,
    "nn.BatchNorm2d": nn.BatchNorm2d,
    "nn.Identity": nn.Identity,
    "nn.MaxPool2d": nn.MaxPool2d,
    "nn.ZeroPad2d": nn.ZeroPad2d,
}


def _task_heads() -> dict[str, type[nn.Module]]:
    """Heads of other tasks, looked up lazily: their module imports ``yolo``, which imports this one."""
    from . import segment

    return {"Segment": segment.Segment}


def make_divisible(x: float, divisor: int) -> int:
    return math.ceil(x / divisor) * divisor


def parse_activation(text: str) -> nn.Module:
    """``"nn.LeakyReLU(0.1)"`` -> that module: an ``nn.`` activation class called with literal arguments."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            raise ValueError
        owner, name = ast.unparse(call.func.value), call.func.attr
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
    except (SyntaxError, ValueError) as exc:
        raise CheckpointError(f"activation {text!r} is not of the form nn.Name(literal arguments)") from exc
    from torch.nn.modules import activation

    cls = getattr(activation, name, None) if owner in ("nn", "torch.nn") else None
    if name == "Identity" and owner in ("nn", "torch.nn"):
        cls = nn.Identity
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CheckpointError(f"activation {text!r} is not a torch.nn activation")
    return cls(*args, **kwargs)


def _resolve_arg(value: Any, nc: int, anchors: Any) -> Any:
    """A yaml argument as YOLOv5's ``eval`` would see it: names and literals resolved, other strings kept."""
    if not isinstance(value, str):
        return value
    if value == "nc":
        return nc
    if value == "anchors":
        return anchors
    try:
        return ast.literal_eval(value)  # "None", "True", "0.5", "(3, 5)"
    except (ValueError, SyntaxError):
        return value  # "nearest"


def parse_layers(cfg: Mapping[str, Any], ch: list[int]) -> tuple[nn.Sequential, list[int]]:
    """The layers (each with ``i``, ``f``, ``type``, ``np``) and the indices whose outputs are kept."""
    anchors, nc = cfg["anchors"], int(cfg["nc"])
    depth, width = float(cfg["depth_multiple"]), float(cfg["width_multiple"])
    activation = cfg.get("activation")
    with common.default_activation(parse_activation(activation) if activation else None):
        return _parse_rows(list(cfg["backbone"]) + list(cfg["head"]), ch, nc, anchors, depth, width)


def _layer_args(
    name: str, source: Any, args: list[Any], repeats: int, ch: list[int], c_out: int, no: int, width: float
) -> tuple[list[Any], int, int]:
    """A row's constructor arguments, output channels and repeats (``c_out``: the previous row's, kept by
    ``Detect``), from the channels ``ch`` of the rows before it."""
    if name in CHANNEL_BLOCKS:
        c_in, c_out = ch[source], args[0]
        if c_out != no:
            c_out = make_divisible(c_out * width, 8)
        args = [c_in, c_out, *args[1:]]
        if name in DEPTH_INSIDE:
            args.insert(2, repeats)
            repeats = 1
    elif name == "nn.BatchNorm2d":
        args, c_out = [ch[source]], ch[source]
    elif name == "Concat":
        c_out = sum(ch[j] for j in source)
    elif name in ("Detect", "Segment"):
        if isinstance(args[1], int):  # placeholder anchors, replaced by AutoAnchor in training
            args[1] = [list(range(args[1] * 2))] * len(source)
        args.append([ch[j] for j in source])
        if name == "Segment":  # [nc, anchors, nm, npr, ch]: the protos' width scales like a block's
            args[3] = make_divisible(args[3] * width, 8)
    elif name == "Contract":
        c_out = ch[source] * args[0] ** 2
    elif name == "Expand":
        c_out = ch[source] // args[0] ** 2
    else:  # Sum and the shape-keeping torch layers
        c_out = ch[source if isinstance(source, int) else source[0]]
    return args, c_out, repeats


def _parse_rows(
    rows: Sequence[Sequence[Any]], ch: list[int], nc: int, anchors: Any, depth: float, width: float
) -> tuple[nn.Sequential, list[int]]:
    na = len(anchors[0]) // 2 if isinstance(anchors, list) else int(anchors)
    no = na * (nc + 5)
    layers: list[nn.Module] = []
    save: list[int] = []
    c_out = ch[-1]
    for index, (source, number, name, raw_args) in enumerate(rows):
        args = [_resolve_arg(a, nc, anchors) for a in raw_args]
        repeats = max(round(number * depth), 1) if number > 1 else number
        module_cls = CHANNEL_BLOCKS.get(name) or OTHER_BLOCKS.get(name) or _task_heads().get(name)
        if module_cls is None:
            raise CheckpointError(f"layer {index}: module type {name!r} is not supported")
        args, c_out, repeats = _layer_args(name, source, args, repeats, ch, c_out, no, width)
        block = nn.Sequential(*(module_cls(*args) for _ in range(repeats))) if repeats > 1 else module_cls(*args)
        block.i, block.f = index, source  # type: ignore[assignment]
        block.type = _type_name(module_cls)  # type: ignore[assignment]
        block.np = sum(p.numel() for p in block.parameters())  # type: ignore[assignment]
        sources = [source] if isinstance(source, int) else source
        save.extend(j % index for j in sources if j != -1)
        layers.append(block)
        if index == 0:
            ch = []
        ch.append(c_out)
    return nn.Sequential(*layers), sorted(save)


def _type_name(cls: type) -> str:
    """The ``type`` YOLOv5 records per layer: its class path (``models.common.C3``, ``torch.nn...``)."""
    if cls.__module__.startswith("torch."):
        return f"{cls.__module__}.{cls.__qualname__}"
    home = "models.experimental" if cls.__module__.endswith(".experimental") else "models.common"
    return f"{'models.yolo' if issubclass(cls, Detect) else home}.{cls.__qualname__}"
