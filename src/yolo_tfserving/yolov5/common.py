"""Building blocks found in YOLOv5 checkpoints (releases v5.0 to v7.0).

Checkpoints pickle these modules by YOLOv5's class paths (``models.common.*``); the
safe unpickler in :mod:`yolo_tfserving.yolov5.checkpoint` maps those paths here. A
checkpoint restores a module by setting its ``__dict__``, without calling ``__init__``: the
attribute names (``cv1``, ``bn``, ``m`` ...) are therefore part of the checkpoint format and
must not be renamed, and ``forward`` may rely on nothing else. This is an independent
implementation written from the architecture's description; it shares no code with YOLOv5.
The Ghost, Transformer and experimental layers live in :mod:`.ghost`, :mod:`.transformer`
and :mod:`.experimental`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn

# The activation of every Conv built with ``act=True``: SiLU, unless a model's yaml says
# otherwise (``activation: nn.LeakyReLU(0.1)``), in which case YOLOv5 shares one instance.
_DEFAULT_ACT: ContextVar[nn.Module | None] = ContextVar("yolov5_default_act", default=None)


@contextlib.contextmanager
def default_activation(module: nn.Module | None) -> Iterator[None]:
    """Build Convs with ``module`` (one shared instance, as YOLOv5 does) as their default activation."""
    token = _DEFAULT_ACT.set(module)
    try:
        yield
    finally:
        _DEFAULT_ACT.reset(token)


def same_padding(kernel: int | Sequence[int], dilation: int = 1) -> int | list[int]:
    """Padding that keeps the spatial size for stride 1 ('same' convolution)."""
    if isinstance(kernel, int):
        return (dilation * (kernel - 1) + 1) // 2
    return [(dilation * (k - 1) + 1) // 2 for k in kernel]


class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> SiLU; after fusing, Conv2d (with bias) -> SiLU."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        k: int = 1,
        s: int = 1,
        p: int | None = None,
        g: int = 1,
        d: int = 1,
        act: bool | nn.Module = True,
    ) -> None:
        super().__init__()
        padding = same_padding(k, d) if p is None else p
        self.conv = nn.Conv2d(c_in, c_out, k, s, padding, groups=g, dilation=d, bias=False)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(c_out)
        if act is True:
            self.act: nn.Module = _DEFAULT_ACT.get() or nn.SiLU()
        elif isinstance(act, nn.Module):
            self.act = act
        else:
            self.act = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "bn"):
            return self.act(self.bn(self.conv(x)))
        return self.act(self.conv(x))

    def fuse(self) -> None:
        """Fold the batch norm into the convolution (inference only)."""
        if not hasattr(self, "bn"):
            return
        self.conv = fuse_conv_bn(self.conv, self.bn)
        del self.bn


class DWConv(Conv):
    """Depth-wise convolution: a Conv whose groups are gcd(c_in, c_out)."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, d: int = 1, act: bool | nn.Module = True) -> None:
        super().__init__(c_in, c_out, k, s, g=math.gcd(c_in, c_out), d=d, act=act)


class ShuffleConvTranspose2d(nn.ConvTranspose2d):
    """A ConvTranspose2d that, when its kernel equals its stride (YOLOv5's only use), runs as a
    grouped 1x1 convolution then a pixel shuffle (depth to space): the same values, and a form
    onnx2tf converts with a dynamic batch (its ConvTranspose needs a static one). Loading a
    checkpoint gives its ``nn.ConvTranspose2d`` layers this class; the state is unchanged.
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        plain = output_size is None and k == s and k[0] == k[1] and not any(self.padding)  # type: ignore[arg-type]
        if not (plain and not any(self.output_padding) and self.dilation == (1, 1) and self.padding_mode == "zeros"):
            return super().forward(x, output_size)
        g, (c_in, c_group, kh, kw) = self.groups, self.weight.shape
        # weight (c_in, c_out/g, k, k) -> 1x1 kernel (c_out*k*k, c_in/g): output channel o*k*k + i*k + j
        weight = self.weight.reshape(g, c_in // g, c_group, kh, kw).permute(0, 2, 3, 4, 1)
        weight = weight.reshape(g * c_group * kh * kw, c_in // g, 1, 1)
        bias = self.bias.repeat_interleave(kh * kw) if self.bias is not None else None
        return nn.functional.pixel_shuffle(nn.functional.conv2d(x, weight, bias, groups=g), kh)


class DWConvTranspose2d(ShuffleConvTranspose2d):
    """Depth-wise transposed convolution (groups gcd(c_in, c_out)); its state is ConvTranspose2d's."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, p1: int = 0, p2: int = 0) -> None:
        super().__init__(c_in, c_out, k, s, p1, p2, groups=math.gcd(c_in, c_out))


class Bottleneck(nn.Module):
    """1x1 then 3x3 convolution, with a residual connection when shapes allow."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        hidden = int(c_out * e)
        self.cv1 = Conv(c_in, hidden, 1, 1)
        self.cv2 = Conv(hidden, c_out, 3, 1, g=g)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class CrossConv(nn.Module):
    """A (1, k) then a (k, 1) convolution, with a residual connection when asked and shapes allow."""

    def __init__(
        self, c_in: int, c_out: int, k: int = 3, s: int = 1, g: int = 1, e: float = 1.0, shortcut: bool = False
    ) -> None:
        super().__init__()
        hidden = int(c_out * e)
        self.cv1 = Conv(c_in, hidden, (1, k), (1, s))  # type: ignore[arg-type]
        self.cv2 = Conv(hidden, c_out, (k, 1), (s, 1), g=g)  # type: ignore[arg-type]
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block with three convolutions: two branches joined by a 1x1 convolution.

    The variants (C3x, C3SPP, C3Ghost, C3TR) differ only in their inner block ``m``.
    """

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        hidden = int(c_out * e)
        self.cv1 = Conv(c_in, hidden, 1, 1)
        self.cv2 = Conv(c_in, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, c_out, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3x(C3):
    """C3 whose inner blocks are CrossConvs."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__(c_in, c_out, n, shortcut, g, e)
        hidden = int(c_out * e)
        self.m = nn.Sequential(*(CrossConv(hidden, hidden, 3, 1, g, 1.0, shortcut) for _ in range(n)))


class C3SPP(C3):
    """C3 whose inner block is an SPP (note: the kernels come before ``n`` in its arguments)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        k: Sequence[int] = (5, 9, 13),
        n: int = 1,
        shortcut: bool = True,
        g: int = 1,
        e: float = 0.5,
    ) -> None:
        super().__init__(c_in, c_out, n, shortcut, g, e)
        hidden = int(c_out * e)
        self.m = SPP(hidden, hidden, k)  # type: ignore[assignment]


class BottleneckCSP(nn.Module):
    """The original CSP bottleneck (YOLOv5 before C3)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        hidden = int(c_out * e)
        self.cv1 = Conv(c_in, hidden, 1, 1)
        self.cv2 = nn.Conv2d(c_in, hidden, 1, 1, bias=False)
        self.cv3 = nn.Conv2d(hidden, hidden, 1, 1, bias=False)
        self.cv4 = Conv(2 * hidden, c_out, 1, 1)
        self.bn = nn.BatchNorm2d(2 * hidden)
        self.act = nn.SiLU()
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.cv3(self.m(self.cv1(x)))
        y2 = self.cv2(x)
        return self.cv4(self.act(self.bn(torch.cat((y1, y2), 1))))


class SPP(nn.Module):
    """Spatial pyramid pooling with parallel max pools of several kernel sizes."""

    def __init__(self, c_in: int, c_out: int, k: Sequence[int] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1, 1)
        self.cv2 = Conv(hidden * (len(k) + 1), c_out, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [pool(x) for pool in self.m], 1))


class SPPF(nn.Module):
    """Fast SPP: one max pool applied three times in sequence (same result as SPP(5, 9, 13))."""

    def __init__(self, c_in: int, c_out: int, k: int = 5) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1, 1)
        self.cv2 = Conv(hidden * 4, c_out, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Focus(nn.Module):
    """Space-to-depth (2x2 pixel blocks to channels) followed by a convolution."""

    def __init__(
        self, c_in: int, c_out: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = Conv(c_in * 4, c_out, k, s, p, g, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(
            torch.cat(
                (x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]),
                1,
            )
        )


class Contract(nn.Module):
    """Space to depth: ``(b, c, h, w) -> (b, c*s*s, h/s, w/s)``, channel ``(i*s + j)*c + k`` from pixel offset (i, j).

    Written as strided slices (like Focus) rather than 6-D reshapes, so converters follow it.
    """

    def __init__(self, gain: int = 2) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gain
        return torch.cat([x[..., i::s, j::s] for i in range(s) for j in range(s)], 1)


class Expand(nn.Module):
    """Depth to space, the inverse of Contract: ``(b, c, h, w) -> (b, c/(s*s), h*s, w*s)``."""

    def __init__(self, gain: int = 2) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gain
        b, c, h, w = x.shape
        out = c // (s * s)
        # input channel (i*s + j)*out + k -> output pixel (h*s + i, w*s + j), channel k
        y = x.reshape(b, s, s, out, h, w).permute(0, 3, 4, 1, 5, 2)
        return y.reshape(b, out, h * s, w * s)


class Concat(nn.Module):
    """Concatenate a list of tensors along one dimension."""

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return one Conv2d equal to ``bn(conv(x))`` in inference mode."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        groups=conv.groups,
        bias=True,
    ).requires_grad_(False)
    assert bn.running_var is not None and bn.running_mean is not None
    w_conv = conv.weight.detach().clone().view(conv.out_channels, -1)
    scale = bn.weight.detach() / torch.sqrt(bn.eps + bn.running_var)
    fused.weight.copy_((torch.diag(scale) @ w_conv).view(fused.weight.shape))
    b_conv = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    b_bn = bn.bias.detach() - bn.weight.detach() * bn.running_mean / torch.sqrt(bn.running_var + bn.eps)
    fused.bias.copy_(scale * b_conv + b_bn)  # type: ignore[union-attr]
    return fused


def module_kwargs(module: Any) -> dict[str, Any]:  # pragma: no cover - debugging helper
    """Public attributes of a module, for error messages."""
    return {k: v for k, v in vars(module).items() if not k.startswith("_")}
