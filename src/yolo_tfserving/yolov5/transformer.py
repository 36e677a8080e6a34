"""The vision-transformer layers of YOLOv5's ``yolov5s-transformer``: C3TR and its parts.

In YOLOv5 a feature map ``(b, c, h, w)`` becomes a sequence of ``h*w`` tokens of width ``c``
(sequence first, as ``nn.MultiheadAttention`` takes it by default), gets a learned position
term, goes through the transformer layers and is folded back. Attribute names are the
checkpoint format (see :mod:`.common`).

:meth:`TransformerBlock.forward` computes exactly that, but on the feature map itself: every
linear layer applied to tokens is a 1x1 convolution on the map, and attention runs on
``(b, heads, head_dim, h*w)`` tensors. Converters that move images to NHWC (onnx2tf) follow
4-D image tensors, not 3-D token sequences, so this form is the one that exports.
:meth:`TransformerLayer.forward` keeps the token form.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import C3, Conv


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A linear layer over the channels of a ``(b, c, h, w)`` map, as a 1x1 convolution."""
    return F.conv2d(x, weight[:, :, None, None], bias)


class TransformerLayer(nn.Module):
    """Multi-head self-attention and a two-layer projection, each with a residual; no LayerNorm."""

    def __init__(self, c: int, num_heads: int) -> None:
        super().__init__()
        self.q = nn.Linear(c, c, bias=False)
        self.k = nn.Linear(c, c, bias=False)
        self.v = nn.Linear(c, c, bias=False)
        self.ma = nn.MultiheadAttention(embed_dim=c, num_heads=num_heads)
        self.fc1 = nn.Linear(c, c, bias=False)
        self.fc2 = nn.Linear(c, c, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(h*w, b, c)`` -> tokens."""
        x = self.ma(self.q(x), self.k(x), self.v(x))[0] + x
        return self.fc2(self.fc1(x)) + x

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """The same layer on a feature map ``(b, c, h, w)`` -> ``(b, c, h, w)``."""
        ma = self.ma
        if not ma._qkv_same_embed_dim or ma.bias_k is not None or ma.add_zero_attn:  # noqa: SLF001 - torch's own flag; not YOLOv5's configuration
            b, c, h, w = x.shape
            return self.forward(x.flatten(2).permute(2, 0, 1)).permute(1, 2, 0).reshape(b, c, h, w)
        b, c, h, w = x.shape
        heads = ma.num_heads
        w_q, w_k, w_v = ma.in_proj_weight.chunk(3)
        b_q, b_k, b_v = ma.in_proj_bias.chunk(3) if ma.in_proj_bias is not None else (None, None, None)
        # (b, c, h, w) -> (b, heads, head_dim, h*w): channel head*head_dim + j, as MultiheadAttention splits
        q = _pointwise(_pointwise(x, self.q.weight), w_q, b_q).reshape(b, heads, c // heads, h * w)
        k = _pointwise(_pointwise(x, self.k.weight), w_k, b_k).reshape(b, heads, c // heads, h * w)
        v = _pointwise(_pointwise(x, self.v.weight), w_v, b_v).reshape(b, heads, c // heads, h * w)
        # attention[key, query], softmax over keys; out[:, query] = sum over keys of v[:, key] * attention
        scores = torch.matmul(k.transpose(2, 3), q * (1.0 / math.sqrt(c // heads)))
        attended = torch.matmul(v, scores.softmax(dim=2)).reshape(b, c, h, w)
        x = _pointwise(attended, ma.out_proj.weight, ma.out_proj.bias) + x
        return _pointwise(_pointwise(x, self.fc1.weight), self.fc2.weight) + x


class TransformerBlock(nn.Module):
    """Optional Conv to ``c2`` channels, then a learned position term and ``num_layers`` TransformerLayers."""

    def __init__(self, c1: int, c2: int, num_heads: int, num_layers: int) -> None:
        super().__init__()
        self.conv = Conv(c1, c2) if c1 != c2 else None
        self.linear = nn.Linear(c2, c2)  # learned position embedding
        self.tr = nn.Sequential(*(TransformerLayer(c2, num_heads) for _ in range(num_layers)))
        self.c2 = c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        x = x + _pointwise(x, self.linear.weight, self.linear.bias)
        for layer in self.tr:
            assert isinstance(layer, TransformerLayer)
            x = layer.forward_map(x)
        return x

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """YOLOv5's own formulation (tokens through ``tr``), for reference."""
        if self.conv is not None:
            x = self.conv(x)
        b, _, h, w = x.shape
        tokens = x.flatten(2).permute(2, 0, 1)  # (h*w, b, c)
        y = self.tr(tokens + self.linear(tokens))
        return y.permute(1, 2, 0).reshape(b, self.c2, h, w)


class C3TR(C3):
    """C3 whose inner block is a TransformerBlock with 4 heads and ``n`` layers."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__(c_in, c_out, n, shortcut, g, e)
        hidden = int(c_out * e)
        self.m = TransformerBlock(hidden, hidden, 4, n)  # type: ignore[assignment]
