"""Every global a YOLOv5 checkpoint may reference, and what each one resolves to.

A pickle names globals (``module.name``) and calls them; :func:`resolve_global` is the only
way our unpickler finds one. It resolves:

- YOLOv5's layer and model classes (``models.common.*``, ``models.experimental.*``,
  ``models.yolo.*``, and the same under ``yolov5.`` for the ``yolov5`` PyPI package) to our
  own implementation. Layers moved between ``common`` and ``experimental`` across releases
  (GhostConv, CrossConv ...), so a layer resolves from either;
- PyTorch's layers (``torch.nn.modules.*``), tensor rebuilders, dtypes, sizes and devices;
- what YOLOv5's train.py pickles besides the model: numpy arrays, scalars and dtypes
  (``best_fitness``, warm-up's ``np.interp`` values in the optimizer's param groups), byte
  strings (protocol 2 writes them as ``_codecs.encode(text, 'latin1')``), ``range`` (the
  ``Sum`` layer), ``argparse.Namespace`` and paths (training options), as inert data.

Numpy's two rebuilders are narrowed to what numpy itself writes: an ndarray always starts
empty (its data and shape come from its state), and ``_codecs.encode`` only encodes Latin-1.
Anything else, such as ``posix.system``, ``builtins.exec`` or ``subprocess.Popen``, is refused
with :class:`UnsafeCheckpointError` before it is called.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import pathlib
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import CheckpointError, UnsafeCheckpointError
from . import classify, common, experimental, ghost, segment, transformer, yolo

# Our classes by YOLOv5 name: every layer of models/common.py and models/experimental.py
# (v5.0 to v7.0) that a detection model can hold ...
LAYERS: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        common.Conv,
        common.DWConv,
        common.DWConvTranspose2d,
        common.Bottleneck,
        common.BottleneckCSP,
        common.CrossConv,
        common.C3,
        common.C3x,
        common.C3SPP,
        common.SPP,
        common.SPPF,
        common.Focus,
        common.Contract,
        common.Expand,
        common.Concat,
        ghost.GhostConv,
        ghost.GhostBottleneck,
        ghost.C3Ghost,
        transformer.TransformerLayer,
        transformer.TransformerBlock,
        transformer.C3TR,
        experimental.Sum,
        experimental.MixConv2d,
        classify.Classify,  # v7.0's classification head
        segment.Proto,  # v7.0's segmentation prototype masks
    )
}
# ... and models/yolo.py (v7.0 pickles DetectionModel; earlier releases Model).
MODELS: dict[str, type[nn.Module]] = {
    "Model": yolo.Model,
    "DetectionModel": yolo.Model,
    "Detect": yolo.Detect,
    "ClassificationModel": classify.ClassificationModel,
    "SegmentationModel": segment.SegmentationModel,
    "Segment": segment.Segment,
}
# YOLOv5 classes of other tasks: a clear refusal rather than "unknown layer".
_OTHER_TASKS: dict[str, str] = {}
_PACKAGES = ("models.", "yolov5.models.")  # YOLOv5's repository; the yolov5 PyPI package


def _numpy_multiarray() -> Any:
    try:
        return importlib.import_module("numpy._core.multiarray")  # numpy >= 2 (and 1.26's alias)
    except ImportError:  # pragma: no cover - numpy < 1.26
        return importlib.import_module("numpy.core.multiarray")


_MULTIARRAY = _numpy_multiarray()


def _empty_ndarray(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """``numpy.core.multiarray._reconstruct`` as numpy's pickles use it: an empty ndarray."""
    if subtype is not np.ndarray or tuple(shape) != (0,):
        raise UnsafeCheckpointError(f"checkpoint rebuilds a numpy array unusually ({subtype!r}, shape {shape!r})")
    return _MULTIARRAY._reconstruct(subtype, shape, dtype)  # type: ignore[no-any-return]  # noqa: SLF001 - the pickled global


def _latin1(text: Any, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it: the bytes of a Latin-1 string."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError(f"checkpoint calls _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_PLAIN_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "range"): range,
    ("__builtin__", "xrange"): range,  # protocol 2 writes range so
    ("_codecs", "encode"): _latin1,
    ("argparse", "Namespace"): argparse.Namespace,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,  # type: ignore[attr-defined]  # noqa: SLF001 - the pickled global
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,  # type: ignore[attr-defined]  # noqa: SLF001 - the pickled global
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,  # type: ignore[attr-defined]  # noqa: SLF001 - the pickled global
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _spelling in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1, numpy 2
    _PLAIN_GLOBALS[(_spelling, "_reconstruct")] = _empty_ndarray
    _PLAIN_GLOBALS[(_spelling, "scalar")] = _MULTIARRAY.scalar
# Paths in training options, as pure paths: no file system access (and Windows paths load on Linux).
for _module in ("pathlib", "pathlib._local"):
    for _name, _pure in (
        ("PosixPath", pathlib.PurePosixPath),
        ("WindowsPath", pathlib.PureWindowsPath),
        ("PurePosixPath", pathlib.PurePosixPath),
        ("PureWindowsPath", pathlib.PureWindowsPath),
    ):
        _PLAIN_GLOBALS[(_module, _name)] = _pure
# v7.0's classify/train.py pickles the inference transforms as model.transforms: inert data here.
for _module, _names in (
    ("utils.augmentations", ("CenterCrop", "ToTensor")),
    ("yolov5.utils.augmentations", ("CenterCrop", "ToTensor")),
    ("torchvision.transforms.transforms", ("Compose", "Normalize")),
):
    for _name in _names:
        _PLAIN_GLOBALS[(_module, _name)] = classify.InertTransform


def _forward_getter(spelling: str) -> Any:
    """``getattr`` as protocol-2 pickles use it for a function named by a dotted path: v7.0's Segment
    keeps the unbound ``Detect.forward``. Only ``forward`` of one of our YOLOv5 classes resolves."""

    def forward_of(*args: Any) -> Any:
        ours = (*LAYERS.values(), *MODELS.values())
        if len(args) != 2 or args[1] != "forward" or not any(args[0] is cls for cls in ours):
            raise UnsafeCheckpointError(
                f"checkpoint calls '{spelling}.getattr' on {args!r}; only a YOLOv5 layer's forward is allowed"
            )
        return args[0].forward

    return forward_of


for _spelling in ("__builtin__", "builtins"):
    _PLAIN_GLOBALS[(_spelling, "getattr")] = _forward_getter(_spelling)
_DTYPES = {name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}


def _yolov5_class(module: str, name: str) -> type[nn.Module] | None:
    """Our class for a YOLOv5 class path, None if it is not one; raises for known-unsupported ones."""
    package = next((p for p in _PACKAGES if module.startswith(p)), None)
    if package is None:
        return None
    short = module[len(package) :]
    if short == "yolo" and name in MODELS:
        return MODELS[name]
    if short in ("common", "experimental") and name in LAYERS:
        return LAYERS[name]
    if name in _OTHER_TASKS:
        raise CheckpointError(
            f"checkpoint is a YOLOv5 {_OTHER_TASKS[name]} model ('{module}.{name}'); only detection models export"
        )
    raise UnsafeCheckpointError(
        f"checkpoint uses YOLOv5 layer '{module}.{name}', which yolo-tfserving does not implement"
    )


def resolve_global(module: str, name: str) -> Any:
    """The object a checkpoint may reference as ``module.name``, or raise."""
    key = (module, name)
    if key in _PLAIN_GLOBALS:
        return _PLAIN_GLOBALS[key]
    found = _yolov5_class(module, name)
    if found is not None:
        return found
    if module == "torch" and name in _DTYPES:
        return getattr(torch, name)
    if module.startswith("torch.nn.modules."):
        try:
            candidate = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            candidate = None
        if isinstance(candidate, type) and issubclass(candidate, nn.Module):
            return candidate
    if module.startswith("ultralytics"):
        raise CheckpointError(
            f"checkpoint is not a YOLOv5 model: it references '{module}.{name}' (an Ultralytics YOLOv8+ model)"
        )
    raise UnsafeCheckpointError(
        f"checkpoint references '{module}.{name}', which is not part of a YOLOv5 model; "
        "refusing to load it (unpickling it could run arbitrary code)"
    )
