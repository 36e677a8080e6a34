from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from helpers import REAL_WEIGHTS, save_yolov5_checkpoint


@pytest.fixture(scope="session")
def tiny_model():
    """A small random-weight YOLOv5 (3 classes, narrow) built from our own layers."""
    pytest.importorskip("torch", reason="needs the [export] extra")
    from yolo_tfserving.yolov5.yolo import build_model

    return build_model(nc=3, width_multiple=0.125, depth_multiple=0.33, names=["cat", "dog", "bird"])


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model) -> Path:
    return save_yolov5_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory, tiny_checkpoint):
    """The tiny model exported once per session (imgsz 64, no parity): ``(repository dir, ExportResult)``.

    Shared by every test that only needs *an* export to serve or read; treat it as read-only.
    Tests of export options export their own.
    """
    pytest.importorskip("onnx2tf")
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    out = tmp_path_factory.mktemp("tiny-repo")
    result = export_model(tiny_checkpoint, out, options=ExportOptions(imgsz=64, verify=False))
    return out, result


@pytest.fixture(scope="session")
def real_weights() -> Path:
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"{REAL_WEIGHTS} is absent (the real yolov5n lives in ../shared)")
    return REAL_WEIGHTS


@pytest.fixture(scope="session")
def real_export(tmp_path_factory, real_weights):
    """The real yolov5n exported once per session (640, verified on 4 coco128 images)."""
    from helpers import coco128_images
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    out = tmp_path_factory.mktemp("real-repo")
    result = export_model(real_weights, out, options=ExportOptions(verify_images=coco128_images(4)))
    return out, result


@pytest.fixture(scope="session")
def real_rect_export(tmp_path_factory, real_weights):
    """The real yolov5n exported once per session with ``--rect`` (verified on 4 coco128 images)."""
    from helpers import coco128_images
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    out = tmp_path_factory.mktemp("real-rect-repo")
    result = export_model(real_weights, out, options=ExportOptions(rect=True, verify_images=coco128_images(4)))
    return out, result


# -- test tiers -----------------------------------------------------------------------------------
# `make test-fast` runs `-m "not slow and not shared and not export"`: no real model, and no export but
# the one session-scoped tiny export (`tiny_repo`). A test that exports a model of its own is marked
# `export` here, in one table, by module or by the fixture it uses.
EXPORTING_MODULES = {"test_export", "test_cli_export", "test_warmup", "test_repository_config", "test_no_onnx"}
EXPORTING_FIXTURES = {"rect_export", "exported", "real_export", "real_rect_export", "cls_export", "seg_export"}
EXPORTING_TESTS = {"test_family_exports_with_parity", "test_fixed_rectangular_imgsz", "test_cli_export_of_a_classifier"}


# `make test` runs the suite on both cores (pytest-xdist, --dist loadgroup). A worker builds each session
# fixture it needs, so the real model's exports are one group (one worker exports them once), and a test whose
# fixtures are module- or class-scoped runs on the worker that holds the rest of its module. Everything else
# is spread test by test.
REAL_MODEL_FIXTURES = {"real_export", "real_rect_export"}
_SHARED_SCOPES = {"module", "class", "package"}


def _xdist_group(item) -> str | None:
    names = set(getattr(item, "fixturenames", ()))
    if REAL_MODEL_FIXTURES & names:
        return "real-model"
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        if any(d.scope in _SHARED_SCOPES for d in defs):
            return item.module.__name__ if item.module else None
    return None


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if (
            module in EXPORTING_MODULES
            or EXPORTING_FIXTURES & set(getattr(item, "fixturenames", ()))
            or item.originalname in EXPORTING_TESTS
        ):
            item.add_marker(pytest.mark.export)
        group = _xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
