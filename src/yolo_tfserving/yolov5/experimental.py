"""The layers of YOLOv5's ``models/experimental.py`` a detection checkpoint can hold: Sum, MixConv2d.

Attribute names are the checkpoint format (see :mod:`.common`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class Sum(nn.Module):
    """Sum of ``n`` inputs, optionally weighted by learned ``2 * sigmoid(w)`` (BiFPN's fusion)."""

    def __init__(self, n: int, weight: bool = False) -> None:
        super().__init__()
        self.weight = weight
        self.iter = range(n - 1)
        if weight:
            self.w = nn.Parameter(-torch.arange(1.0, n) / 2, requires_grad=True)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        y = x[0]
        if self.weight:
            w = torch.sigmoid(self.w) * 2
            for i in self.iter:
                y = y + x[i + 1] * w[i]
        else:
            for i in self.iter:
                y = y + x[i + 1]
        return y


def _split_channels(c_out: int, kernels: Sequence[int], equal_ch: bool) -> list[int]:
    """Output channels per kernel: equal counts, or counts that give each kernel equal weights."""
    n = len(kernels)
    if equal_ch:
        index = torch.linspace(0, n - 1e-6, c_out).floor()
        return [int((index == g).sum()) for g in range(n)]
    import numpy as np

    b = [c_out] + [0] * n
    a = np.eye(n + 1, n, k=-1)
    a -= np.roll(a, 1, axis=1)
    a *= np.array(kernels) ** 2
    a[0] = 1
    return [int(c) for c in np.linalg.lstsq(a, b, rcond=None)[0].round()]


class MixConv2d(nn.Module):
    """Convolutions of several kernel sizes side by side, concatenated, then BatchNorm and activation.

    Two forms exist. Up to v6.x: LeakyReLU(0.1), full (not grouped) convolutions, and a
    residual ``x + ...``. From v7.0: SiLU, groups ``gcd(c_in, c_split)``, no residual. The
    pickled state tells them apart by the activation, which each form hard-codes; ``legacy``
    builds the old form.
    """

    def __init__(
        self, c1: int, c2: int, k: Sequence[int] = (1, 3), s: int = 1, equal_ch: bool = True, legacy: bool = False
    ) -> None:
        super().__init__()
        splits = _split_channels(c2, k, equal_ch)
        self.m = nn.ModuleList(
            nn.Conv2d(c1, c, kk, s, kk // 2, groups=1 if legacy else math.gcd(c1, c), bias=False)
            for kk, c in zip(k, splits, strict=True)
        )
        self.bn = nn.BatchNorm2d(c2)
        self.act: nn.Module = nn.LeakyReLU(0.1) if legacy else nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn(torch.cat([m(x) for m in self.m], 1)))
        return x + y if isinstance(self.act, nn.LeakyReLU) else y
