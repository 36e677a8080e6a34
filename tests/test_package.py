"""The public surface: a curated __all__, light imports, one error hierarchy, actionable extras."""

from __future__ import annotations

import subprocess
import sys

import pytest

import yolo_tfserving
from yolo_tfserving import _errors


def test_all_is_curated_and_resolvable() -> None:
    assert yolo_tfserving.__all__ == sorted(yolo_tfserving.__all__)
    for name in yolo_tfserving.__all__:
        assert getattr(yolo_tfserving, name) is not None, name
    assert {"Client", "AsyncClient", "Detections", "Classification"} <= set(yolo_tfserving.__all__)
    with pytest.raises(AttributeError):
        yolo_tfserving.not_a_thing  # noqa: B018


def test_import_is_light() -> None:
    code = (
        "import sys, yolo_tfserving; from yolo_tfserving import Client, Detections; "
        "heavy = [m for m in ('tensorflow', 'torch', 'onnx', 'grpc') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_public_error_derives_from_the_base() -> None:
    errors = [
        getattr(_errors, n) for n in dir(_errors) if n.endswith("Error") and isinstance(getattr(_errors, n), type)
    ]
    assert len(errors) >= 12
    assert all(issubclass(e, _errors.YoloTFServingError) for e in errors)
    assert issubclass(_errors.ModelNotFoundError, _errors.RequestError)
    assert issubclass(_errors.UnsafeCheckpointError, _errors.CheckpointError)


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from yolo_tfserving._deps import require

    monkeypatch.setitem(sys.modules, "onnx2tf", None)  # as if the export extra were not installed
    with pytest.raises(_errors.MissingDependencyError, match=r"pip install 'yolo-tfserving\[export\]'"):
        require("onnx2tf")
    monkeypatch.setitem(sys.modules, "grpc", None)
    with pytest.raises(_errors.MissingDependencyError, match=r"yolo-tfserving\[grpc\]"):
        require("grpc")


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("yolo_tfserving").joinpath("py.typed").is_file()


def test_no_builtin_exception_is_raised_on_purpose() -> None:
    """Every error the library raises on purpose is one of ours (callers catch one family): no
    ``raise ValueError/TypeError/RuntimeError/KeyError(...)`` in the package's source. The private wire
    codec (``_wire/``) is the exception: its errors never reach a caller untranslated (the server maps
    them to INVALID_ARGUMENT, the client to RequestError)."""
    import ast
    from pathlib import Path

    builtins = {"ValueError", "TypeError", "RuntimeError", "KeyError", "Exception"}
    root = Path(yolo_tfserving.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if "_wire" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id in builtins:
                    found.append(f"{path.relative_to(root)}:{node.lineno} raises {func.id}")
    assert not found, found
