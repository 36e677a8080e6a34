"""Import heavy optional dependencies with one actionable error when an extra is missing."""

from __future__ import annotations

from types import ModuleType

from ._errors import MissingDependencyError

_EXTRA_OF = {
    "torch": "export",
    "onnx": "export",
    "onnxruntime": "export",
    "onnxsim": "export",
    "onnx2tf": "export",
    "tensorflow": "serve",
    "grpc": "grpc",
    "tensorflow_serving": "serve",
    "yaml": "deploy",
    "packaging": "deploy",
}


def require(module: str) -> ModuleType:
    """``importlib.import_module`` that names the extra to install when it fails."""
    from ._frameworks import quiet_import

    try:
        return quiet_import(module)
    except ImportError as exc:
        root = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != root:
            raise
        raise MissingDependencyError(root, _EXTRA_OF.get(root, "all")) from exc
