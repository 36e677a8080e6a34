"""GhostNet layers of YOLOv5's ``yolov5*-ghost`` models: GhostConv, GhostBottleneck, C3Ghost.

YOLOv5 v5.0 pickles GhostConv and GhostBottleneck as ``models.experimental.*``, v6.0 and
later as ``models.common.*``; the allowlist accepts both. Attribute names are the
checkpoint format (see :mod:`.common`).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import C3, Conv, DWConv


class GhostConv(nn.Module):
    """Half the output channels from a convolution, the other half from a cheap 5x5 depth-wise one on them."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, g: int = 1, act: bool | nn.Module = True) -> None:
        super().__init__()
        hidden = c_out // 2
        self.cv1 = Conv(c_in, hidden, k, s, None, g, act=act)
        self.cv2 = Conv(hidden, hidden, 5, 1, None, hidden, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv1(x)
        return torch.cat((y, self.cv2(y)), 1)


class GhostBottleneck(nn.Module):
    """GhostConv -> (depth-wise stride-2 conv) -> GhostConv, plus a shortcut (identity at stride 1)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1) -> None:
        super().__init__()
        hidden = c_out // 2
        self.conv = nn.Sequential(
            GhostConv(c_in, hidden, 1, 1),
            DWConv(hidden, hidden, k, s, act=False) if s == 2 else nn.Identity(),
            GhostConv(hidden, c_out, 1, 1, act=False),
        )
        self.shortcut = (
            nn.Sequential(DWConv(c_in, c_in, k, s, act=False), Conv(c_in, c_out, 1, 1, act=False))
            if s == 2
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class C3Ghost(C3):
    """C3 whose inner blocks are GhostBottlenecks."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__(c_in, c_out, n, shortcut, g, e)
        hidden = int(c_out * e)
        self.m = nn.Sequential(*(GhostBottleneck(hidden, hidden) for _ in range(n)))
