"""The models the soak serves: YOLOv5 (the real yolov5n when present, else a tiny random one) and TF1
half_plus_two, in one ``--model_config_file``.

Model builders come from ``tests/`` (``helpers.save_yolov5_checkpoint``, ``tf_serving_models.half_plus_two_tf1``)
so the soak serves exactly what the test suite serves.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REAL_WEIGHTS = ROOT.parent / "shared" / "models" / "yolov5n.pt"
YOLO_NAME = "yolov5"
HALF_NAME = "half_plus_two"
YOLO_VERSION = 1
HALF_VERSION = 123  # tf_serving_models.VERSION_DIR, zero-padded on disk


@dataclass(frozen=True)
class Target:
    """What the generators aim at: model names, versions and the YOLO input size."""

    yolo: str = YOLO_NAME
    half: str = HALF_NAME
    yolo_version: int = YOLO_VERSION
    half_version: int = HALF_VERSION
    imgsz: int = 64
    num_classes: int = 3


def _from_tests(module: str) -> Any:
    """A module of tests/ (imported at run time: tests/ is not a package)."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    return importlib.import_module(module)


def tiny_checkpoint(path: Path) -> Path:
    """A small random-weight YOLOv5 checkpoint (as tests/conftest.py ``tiny_checkpoint`` builds it)."""
    from yolo_tfserving.yolov5.yolo import build_model

    net = build_model(nc=3, width_multiple=0.125, depth_multiple=0.33, names=["cat", "dog", "bird"])
    return Path(_from_tests("helpers").save_yolov5_checkpoint(net, path))


def export_yolo(weights: Path, out: Path, *, imgsz: int) -> Path:
    """Export ``weights`` (no parity run) into the repository ``out``; the model's base path."""
    from yolo_tfserving.export.pipeline import ExportOptions, export_model

    export_model(weights, out, options=ExportOptions(imgsz=imgsz, verify=False, force=True))
    return out / YOLO_NAME


def build_half_plus_two(base: Path) -> Path:
    """TF1 half_plus_two under ``base`` (version 00000123; kept when already there); returns ``base``."""
    if any(base.glob("*/saved_model.pb")):
        return base
    _from_tests("tf_serving_models").half_plus_two_tf1(base)
    return base


def write_config(path: Path, bases: dict[str, Path]) -> Path:
    """A ModelServerConfig listing every model (absolute base paths)."""
    blocks = [
        f'  config {{ name: "{name}" base_path: "{base.resolve()}" model_platform: "tensorflow" }}'
        for name, base in bases.items()
    ]
    path.write_text("model_config_list {\n" + "\n".join(blocks) + "\n}\n")
    return path


def prepare(workdir: Path, *, weights: Path | None, yolo_dir: Path | None = None) -> tuple[Path, Target]:
    """Build everything under ``workdir``; the config file and the target.

    ``yolo_dir``: an exported model base path to serve as is (its input size is read from it); otherwise
    ``weights`` is exported at 640, or, when None, a tiny random model at 64.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if yolo_dir is None:
        if weights is None:
            weights, imgsz = tiny_checkpoint(workdir / "tiny.pt"), 64
        else:
            imgsz = 640
        yolo_dir = export_yolo(weights, workdir / "repo", imgsz=imgsz)
    half = build_half_plus_two(workdir / HALF_NAME)
    imgsz, classes = read_facts(yolo_dir)
    config = write_config(workdir / "models.config", {YOLO_NAME: yolo_dir, HALF_NAME: half})
    return config, Target(imgsz=imgsz, num_classes=classes)


def read_facts(yolo_dir: Path) -> tuple[int, int]:
    """(input size, class count) of an exported model, from the metadata export stored beside it."""
    from yolo_tfserving._repository_layout import ExportMetadata, resolve_version_dir

    meta = ExportMetadata.read(resolve_version_dir(yolo_dir))
    return meta.size_hw[0], len(meta.class_names)
