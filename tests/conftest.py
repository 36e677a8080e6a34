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
    from yolo_tfserving.yolov5.yolo import build_model

    return build_model(nc=3, width_multiple=0.125, depth_multiple=0.33, names=["cat", "dog", "bird"])


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model) -> Path:
    return save_yolov5_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.pt")


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
