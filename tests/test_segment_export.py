"""Issue 13, the model side of segmentation: our Segment/Proto layers, v7.0 checkpoints, export, masks, parity."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from helpers import training_checkpoint, yolov5_class_paths
from yolo_tfserving.yolov5 import segment
from yolo_tfserving.yolov5.checkpoint import load_checkpoint

NC = 3
NAMES = ["cat", "dog", "bird"]


@contextlib.contextmanager
def seg_class_paths() -> Iterator[None]:
    """v7.0's class paths, plus where v7.0 keeps the segmentation classes (models.yolo, models.common)."""
    moved = [(segment.Segment, "yolo"), (segment.SegmentationModel, "yolo"), (segment.Proto, "common")]
    saved = [(cls, cls.__module__, cls.__qualname__) for cls, _ in moved]
    with yolov5_class_paths(release="v7.0"):
        try:
            for cls, short in moved:
                cls.__module__ = f"models.{short}"
                setattr(sys.modules[f"models.{short}"], cls.__name__, cls)
            yield
        finally:
            for cls, module, qualname in saved:
                cls.__module__, cls.__qualname__ = module, qualname


def tiny_seg_model(seed: int = 0, *, confident: bool = False) -> segment.SegmentationModel:
    """A narrow random YOLOv5n-seg; ``confident`` raises objectness and class biases so detections appear."""
    model = segment.build_segmentation_model(nc=NC, width_multiple=0.125, names=NAMES, seed=seed)
    if confident:
        head = model.model[-1]
        for conv in head.m:
            bias = conv.bias.detach().view(head.na, -1)
            bias[:, 4] += 6.0
            bias[:, 5 : 5 + NC] += 3.0
    return model


def save_seg_checkpoint(model: torch.nn.Module, path: Path, **extra: Any) -> Path:
    """As YOLOv5 v7.0's segment/train.py saves last.pt: model and ema fp16, optimizer state, opt, git, date."""
    ckpt = training_checkpoint(model, release="v7.0") | extra
    with seg_class_paths():
        torch.save(ckpt, path)
    return path


def test_v7_segmentation_checkpoint_loads(tmp_path):
    model = tiny_seg_model()
    path = save_seg_checkpoint(model, tmp_path / "best.pt")
    loaded = load_checkpoint(path)
    assert loaded.task == "segment"
    assert loaded.names == tuple(NAMES)
    assert isinstance(loaded.model, segment.SegmentationModel)
    head = loaded.model.model[-1]
    assert isinstance(head, segment.Segment) and (head.nm, head.npr, head.no) == (32, 32, 5 + NC + 32)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want_pred, want_protos = model.float().eval()(x)
        got_pred, got_protos = loaded.model(x)
    assert got_pred.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 5 + NC + 32)
    assert got_protos.shape == (1, 32, 16, 16)
    # fp16 weights: the loaded model is the saved one rounded to half precision
    assert torch.allclose(got_pred, want_pred, atol=0.05, rtol=0.01)
    assert torch.allclose(got_protos, want_protos, atol=0.05, rtol=0.01)
