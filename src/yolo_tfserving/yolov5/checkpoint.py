"""Load YOLOv5 ``.pt`` checkpoints without YOLOv5, safely.

A checkpoint is a pickle, and a pickle can name any Python callable: loading one with a
plain ``torch.load`` runs whatever it names. We load through an unpickler whose
``find_class`` is an allowlist (:mod:`.allowlist`): YOLOv5's own class paths map onto our
implementation, PyTorch's layer classes and tensor rebuilders pass, numpy values and the
other inert data train.py pickles pass, and every other global is refused with
:class:`UnsafeCheckpointError` before anything runs.
"""

from __future__ import annotations

import contextlib
import pickle
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from .._errors import CheckpointError, UnsafeCheckpointError
from . import common, yolo
from .allowlist import resolve_global
from .classify import ClassificationModel, LoadedClassifier, prepare_classifier
from .segment import Segment

_resolve_global = resolve_global  # the name tests and older callers use


class _AllowlistUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return resolve_global(module, name)


# torch.load takes a "pickle module": anything with Unpickler and load.
_SAFE_PICKLE = SimpleNamespace(
    Unpickler=_AllowlistUnpickler,
    load=lambda f, **kw: _AllowlistUnpickler(f, **kw).load(),
    __name__="yolo_tfserving_safe_pickle",
)


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A YOLOv5 model restored from a checkpoint, in float32 eval mode, with its facts."""

    model: yolo.Model
    names: tuple[str, ...]
    strides: tuple[int, ...]
    num_classes: int
    date: str | None
    task: str = "detect"  # "segment" for a Segment head (ExportMetadata.task)


def load_checkpoint(path: str | Path, *, fuse: bool = True) -> LoadedCheckpoint:
    """Restore a YOLOv5 ``.pt`` checkpoint (v5.0 to v7.0), refusing foreign globals."""
    path = Path(path)
    raw = _read(path)
    model = _pick_model(raw, path)
    return _prepare(model, path, fuse=fuse, date=raw.get("date") if isinstance(raw, dict) else None)


def _read(path: Path) -> Any:
    """The checkpoint's unpickled object, through the allowlist."""
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (expected a .pt zip archive written by torch.save)")
    try:
        return torch.load(path, map_location="cpu", pickle_module=_SAFE_PICKLE, weights_only=False)  # type: ignore[arg-type]
    except (CheckpointError, UnsafeCheckpointError):
        raise
    except Exception as exc:  # torch raises many types for corrupt archives
        raise CheckpointError(f"{path} could not be read as a PyTorch checkpoint: {exc}") from exc


def load_classifier(path: str | Path, *, fuse: bool = True) -> LoadedClassifier:
    """Restore a YOLOv5 v7.0 classification checkpoint (classify/train.py's last.pt / best.pt)."""
    path = Path(path)
    raw = _read(path)
    candidate = raw.get("ema") or raw.get("model") if isinstance(raw, dict) else raw
    if not isinstance(candidate, ClassificationModel):
        found = type(candidate).__name__
        raise CheckpointError(f"{path} is not a YOLOv5 classification checkpoint (found {found})")
    date = raw.get("date") if isinstance(raw, dict) else None
    return prepare_classifier(candidate, where=str(path), fuse=fuse, date=date)


_TASK_CLASSES = {"ClassificationModel": "classify", "SegmentationModel": "segment"}


def checkpoint_task(path: str | Path) -> str:
    """The task a checkpoint's model does (``detect``, ``segment``, ``classify``), read without unpickling.

    Only the pickle's opcodes are scanned (nothing runs); a file that is not a readable checkpoint
    answers "detect" and gets its error from :func:`load_checkpoint`.
    """
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return "detect"
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            return "detect"
        data = archive.read(pickles[0])
    with contextlib.suppress(Exception):  # a malformed pickle: load_checkpoint reports it
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL" and isinstance(arg, str):
                module, _, name = arg.partition(" ")
                if module.endswith("models.yolo") and name in _TASK_CLASSES:
                    return _TASK_CLASSES[name]
    return "detect"


def from_module(model: yolo.Model, *, fuse: bool = True) -> LoadedCheckpoint:
    """Wrap an in-memory model (e.g. one made by :func:`yolo.build_model`)."""
    return _prepare(model, Path("<memory>"), fuse=fuse, date=None)


def _pick_model(raw: Any, path: Path) -> yolo.Model:
    candidate = raw
    if isinstance(raw, dict):
        candidate = raw.get("ema") or raw.get("model")
        if candidate is None:
            keys = ", ".join(sorted(map(str, raw))[:8])
            raise CheckpointError(f"{path} holds no YOLOv5 model (keys: {keys}); a bare state_dict cannot be exported")
    if isinstance(candidate, ClassificationModel):
        raise CheckpointError(f"{path} is a YOLOv5 classification model: load it with load_classifier")
    if not isinstance(candidate, yolo.Model):
        raise CheckpointError(f"{path} is not a YOLOv5 detection checkpoint (found {type(candidate).__name__})")
    return candidate


def _prepare(model: yolo.Model, path: Path, *, fuse: bool, date: str | None) -> LoadedCheckpoint:
    detect = model.model[-1] if len(model.model) else None
    if not isinstance(detect, yolo.Detect):
        raise CheckpointError(f"{path} has no YOLOv5 Detect head (is it a classification or segmentation model?)")
    model = model.float().eval()
    _upgrade_legacy_modules(model)
    if fuse:
        model.fuse()
    stride_tensor = getattr(model, "stride", None)
    if stride_tensor is None:
        stride_tensor = detect.stride
    detect.stride = torch.as_tensor(stride_tensor, dtype=torch.float32)
    strides = tuple(int(s) for s in detect.stride.tolist())
    names_attr = getattr(model, "names", None) or [str(i) for i in range(detect.nc)]
    names = (
        tuple(str(names_attr[i]) for i in range(detect.nc))
        if isinstance(names_attr, dict)
        else tuple(map(str, names_attr))
    )
    if len(names) != detect.nc:
        raise CheckpointError(f"{path}: {len(names)} class names for {detect.nc} classes")
    for p in model.parameters():
        p.requires_grad_(False)
    task = "segment" if isinstance(detect, Segment) else "detect"
    return LoadedCheckpoint(model=model, names=names, strides=strides, num_classes=detect.nc, date=date, task=task)


def _upgrade_legacy_modules(model: nn.Module) -> None:
    """Fill attributes that newer PyTorch layers expect but old pickles lack; make every layer exportable."""
    for module in model.modules():
        if isinstance(module, nn.Upsample):
            module.recompute_scale_factor = None  # static output size: exportable
        if isinstance(module, (nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.ReLU)) and not hasattr(module, "inplace"):
            module.inplace = False
        if type(module) is nn.ConvTranspose2d:  # same state, a forward onnx2tf converts (see ShuffleConvTranspose2d)
            module.__class__ = common.ShuffleConvTranspose2d
        if isinstance(module, nn.MultiheadAttention) and not hasattr(module, "batch_first"):
            module.batch_first = False  # pickled by torch < 1.9 (YOLOv5 v5.0's C3TR): sequence first
        if isinstance(module, yolo.Detect):
            for stale in ("grid", "anchor_grid"):  # training-time caches, recomputed per forward
                if stale in module.__dict__:
                    del module.__dict__[stale]
                if stale in dict(module.named_buffers(recurse=False)):
                    delattr(module, stale)  # nn.Module.__delattr__ unregisters a buffer
