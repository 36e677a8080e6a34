"""YOLOv5's Detect head (``models.yolo.Detect``): feature maps -> decoded predictions.

Checkpoints store this class with its state; the attribute names are part of the format.
Any number of levels (P3-P5, P2-P5, P3-P6, P3-P7) works the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


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
