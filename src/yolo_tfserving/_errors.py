"""The one error hierarchy of yolo-tfserving.

Every error the library raises on purpose derives from :class:`YoloTFServingError`;
foreign errors (torch, onnx, TensorFlow, httpx, grpc) are translated where they cross
into our code, so callers catch one family::

    YoloTFServingError
    ├── MissingDependencyError      an optional extra is not installed
    ├── InputError                  the caller gave us something unusable
    │   ├── CheckpointError         not a YOLOv5 checkpoint / unreadable
    │   │   └── UnsafeCheckpointError   the pickle names a global outside the allowlist
    │   ├── ModelFileError          a corrupt or unsupported ONNX / SavedModel
    │   └── ImageError              an image that cannot be decoded
    │       └── ImageTooLargeError  more pixels than the limit (refused before decoding)
    ├── ExportError                 conversion failed
    │   ├── OutputExistsError       target version exists (use --force)
    │   └── ParityError             the exported model disagrees with PyTorch
    └── ServingError                server side, and what a client gets back
        ├── ServerUnavailableError  cannot reach the server (down, wrong URL, timeout)
        └── RequestError            the server answered with an error status
            └── ModelNotFoundError  unknown model / version / label
"""

from __future__ import annotations


class YoloTFServingError(Exception):
    """Base of every error raised on purpose by yolo-tfserving."""


class MissingDependencyError(YoloTFServingError, ImportError):
    """An optional dependency (an extra) is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed; run: pip install 'yolo-tfserving[{extra}]'")
        self.package = package
        self.extra = extra


class InputError(YoloTFServingError, ValueError):
    """The caller passed something unusable (file, option, image)."""


class CheckpointError(InputError):
    """The file is not a loadable YOLOv5 checkpoint."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint's pickle references a global outside the YOLOv5 allowlist."""


class ModelFileError(InputError):
    """A model file (ONNX, SavedModel) is corrupt or of an unsupported kind."""


class ImageError(InputError):
    """An image could not be read or decoded."""


class ImageTooLargeError(ImageError):
    """An image has more pixels than the limit; it was refused before being decoded."""

    def __init__(self, message: str, *, pixels: int | None, limit: int) -> None:
        super().__init__(message)
        self.pixels = pixels
        self.limit = limit


class ExportError(YoloTFServingError, RuntimeError):
    """Converting or writing the model failed."""


class OutputExistsError(ExportError):
    """The target model version already exists and --force was not given."""


class ParityError(ExportError):
    """The exported model does not reproduce the PyTorch model within tolerance."""


class ServingError(YoloTFServingError, RuntimeError):
    """Base of errors on the serving side and of client transport errors."""


class ServerUnavailableError(ServingError):
    """The server cannot be reached (refused, DNS, timeout)."""


class RequestError(ServingError):
    """The server answered a request with an error (HTTP status / gRPC code and its message)."""

    def __init__(self, message: str, *, status: int | str, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class ModelNotFoundError(RequestError):
    """The model, version or label does not exist on the server."""
