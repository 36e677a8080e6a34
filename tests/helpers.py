"""Test helpers: write checkpoints exactly as YOLOv5 pickles them, find ../shared."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REAL_WEIGHTS = SHARED / "models" / "yolov5n.pt"
COCO128 = SHARED / "data" / "coco128"


def coco128_images(limit: int | None = None) -> list[Path]:
    images = sorted((COCO128 / "images").rglob("*.jpg"))
    return images[:limit] if limit else images


@contextlib.contextmanager
def yolov5_class_paths() -> Iterator[None]:
    """Make our layer classes pickle under YOLOv5's paths (models.common.*, models.yolo.*)."""
    from yolo_tfserving.yolov5 import common, yolo

    layout = {
        "models.common": {
            n: getattr(common, n)
            for n in ("Conv", "DWConv", "Bottleneck", "C3", "BottleneckCSP", "SPP", "SPPF", "Focus", "Concat")
        },
        "models.yolo": {"Model": yolo.Model, "Detect": yolo.Detect},
    }
    saved_modules = {k: sys.modules.get(k) for k in ("models", "models.common", "models.yolo")}
    saved_attrs: list[tuple[type, str, str]] = []
    sys.modules["models"] = types.ModuleType("models")
    try:
        for module_name, classes in layout.items():
            module = types.ModuleType(module_name)
            for name, cls in classes.items():
                setattr(module, name, cls)
                if cls.__module__ != module_name and (cls, cls.__module__, cls.__qualname__) not in saved_attrs:
                    saved_attrs.append((cls, cls.__module__, cls.__qualname__))
                    cls.__module__ = module_name
            sys.modules[module_name] = module
        yield
    finally:
        for cls, module_name, qualname in saved_attrs:
            cls.__module__ = module_name
            cls.__qualname__ = qualname
        for name, previous in saved_modules.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def save_yolov5_checkpoint(net: Any, path: Path, *, half: bool = True, key: str = "model", **extra: Any) -> Path:
    """torch.save a model the way YOLOv5's training does (a dict, fp16 weights)."""
    import copy

    import torch

    net = copy.deepcopy(net)
    if half:
        net = net.half()
    with yolov5_class_paths():
        torch.save({"epoch": -1, "best_fitness": None, key: net, "optimizer": None, "date": "test", **extra}, path)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(**options: Any) -> Iterator[Any]:
    """The embedded server on free loopback ports (REST and gRPC), stopped on exit."""
    from yolo_tfserving.serving.server import ModelServer, ServerOptions

    defaults: dict[str, Any] = {
        "port": free_port(),
        "rest_api_port": free_port(),
        "rest_api_host": "127.0.0.1",
        "grpc_host": "127.0.0.1",
        "file_system_poll_wait_seconds": 0,
    }
    server = ModelServer(ServerOptions(**{**defaults, **options}))
    server.start()
    try:
        yield server
    finally:
        server.stop()
