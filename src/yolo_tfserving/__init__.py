"""yolo-tfserving: YOLOv5 (PyTorch) -> TensorFlow Serving, with a light client.

The base install is the client side (numpy, Pillow, httpx). The converter needs the
``export`` extra and the embedded server the ``serve`` extra; their entry points below
are imported lazily, so ``import yolo_tfserving`` never pulls TensorFlow or PyTorch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._errors import (
    CheckpointError,
    ExportError,
    ImageError,
    ImageTooLargeError,
    InputError,
    MissingDependencyError,
    ModelFileError,
    ModelNotFoundError,
    OutputExistsError,
    ParityError,
    RequestError,
    ServerUnavailableError,
    ServingError,
    UnsafeCheckpointError,
    YoloTFServingError,
)
from ._version import __version__
from .client import AsyncClient, Classification, Client, Detections

if TYPE_CHECKING:  # pragma: no cover
    from .export.parity import ParityReport, verify_parity
    from .export.pipeline import ExportOptions, ExportResult, export_model

_LAZY = {
    "export_model": "yolo_tfserving.export.pipeline",
    "ExportOptions": "yolo_tfserving.export.pipeline",
    "ExportResult": "yolo_tfserving.export.pipeline",
    "verify_parity": "yolo_tfserving.export.parity",
    "ParityReport": "yolo_tfserving.export.parity",
}

__all__ = [
    "AsyncClient",
    "CheckpointError",
    "Classification",
    "Client",
    "Detections",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "ImageError",
    "ImageTooLargeError",
    "InputError",
    "MissingDependencyError",
    "ModelFileError",
    "ModelNotFoundError",
    "OutputExistsError",
    "ParityError",
    "ParityReport",
    "RequestError",
    "ServerUnavailableError",
    "ServingError",
    "UnsafeCheckpointError",
    "YoloTFServingError",
    "__version__",
    "export_model",
    "verify_parity",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yolo_tfserving' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
