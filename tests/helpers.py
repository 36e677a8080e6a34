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


# Where each of our layer classes lives in YOLOv5, per release: layers moved from
# models/experimental.py to models/common.py over time, v5.0's DWConv was a function (so its
# checkpoints hold plain Convs), and v7.0 pickles the model as DetectionModel.
_V5_COMMON = ("Conv", "TransformerLayer", "TransformerBlock", "Bottleneck", "BottleneckCSP", "C3", "C3TR")
_V5_COMMON += ("SPP", "Focus", "Contract", "Expand", "Concat")
_V6_COMMON = (*_V5_COMMON, "DWConv", "C3SPP", "C3Ghost", "SPPF", "GhostConv", "GhostBottleneck")
_LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "v5.0": {
        "common": _V5_COMMON,
        "experimental": ("CrossConv", "Sum", "GhostConv", "GhostBottleneck", "MixConv2d"),
        "yolo": ("Model", "Detect"),
    },
    "v6.0": {"common": _V6_COMMON, "experimental": ("CrossConv", "Sum", "MixConv2d"), "yolo": ("Model", "Detect")},
    "v7.0": {
        "common": (*_V6_COMMON, "DWConvTranspose2d", "CrossConv", "C3x"),
        "experimental": ("Sum", "MixConv2d"),
        "yolo": ("DetectionModel", "Detect"),
    },
}


def _our_class(name: str) -> type:
    from yolo_tfserving.yolov5 import common, experimental, ghost, transformer, yolo

    if name in ("Model", "DetectionModel"):
        return yolo.Model
    if name == "Detect":
        return yolo.Detect
    for module in (common, ghost, transformer, experimental):
        if hasattr(module, name):
            return getattr(module, name)  # type: ignore[no-any-return]
    raise KeyError(name)


@contextlib.contextmanager
def yolov5_class_paths(*, release: str = "v7.0", prefix: str = "") -> Iterator[None]:
    """Make our layer classes pickle under YOLOv5's paths (``models.common.*``, ``models.yolo.*``).

    ``prefix="yolov5."`` gives the paths the ``yolov5`` PyPI package pickles (``yolov5.models.*``).
    """
    layout = _LAYOUTS[release]
    packages = [prefix + "models"] if not prefix else [prefix.rstrip("."), prefix + "models"]
    module_names = [*packages, *(f"{prefix}models.{m}" for m in layout)]
    saved_modules = {k: sys.modules.get(k) for k in module_names}
    saved_attrs: list[tuple[type, str, str]] = []
    try:
        for package in packages:
            sys.modules[package] = types.ModuleType(package)
        for short, names in layout.items():
            module_name = f"{prefix}models.{short}"
            module = types.ModuleType(module_name)
            for name in names:
                cls = _our_class(name)
                setattr(module, name, cls)
                if not any(c is cls for c, _, _ in saved_attrs):
                    saved_attrs.append((cls, cls.__module__, cls.__qualname__))
                cls.__module__, cls.__qualname__ = module_name, name
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


@contextlib.contextmanager
def seg_class_paths() -> Iterator[None]:
    """v7.0's class paths, plus where v7.0 keeps the segmentation classes (models.yolo, models.common)."""
    from yolo_tfserving.yolov5 import segment

    moved = [(segment.Segment, "yolo"), (segment.SegmentationModel, "yolo"), (segment.Proto, "common")]
    saved = [(cls, cls.__module__, cls.__qualname__) for cls, _ in moved]
    with yolov5_class_paths(release="v7.0"):
        try:
            for cls, short in moved:
                cls.__module__ = f"models.{short}"
                setattr(sys.modules[f"models.{short}"], cls.__name__, cls)
            yield
        finally:
            for cls, module, qualname in saved:
                cls.__module__, cls.__qualname__ = module, qualname


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


GIT_INFO = {"remote": "https://github.com/ultralytics/yolov5", "branch": "master", "commit": "915bbf2"}


def training_checkpoint(net: Any, *, release: str = "v7.0", stripped: bool = False) -> dict[str, Any]:
    """The dict YOLOv5's train.py saves as last.pt / best.pt at ``release`` (v5.0, v6.0, v7.0).

    Like train.py: ``model`` is the trained model and ``ema`` its EMA copy, both fp16; the
    optimizer is saved as ``state_dict()`` with real momentum buffers, and warm-up leaves
    numpy floats (``np.interp``) in its param groups; ``best_fitness`` is the numpy array
    ``fitness()`` returns. ``ema`` here is ``net`` itself, so a loader (which must prefer it)
    gives back ``net``. ``stripped`` applies that release's ``strip_optimizer``, as train.py
    does when training ends (and as release weights are).
    """
    import argparse
    import copy
    from datetime import datetime

    import numpy as np
    import torch

    names = list(getattr(net, "names", [])) or [str(i) for i in range(net.model[-1].nc)]
    hyp = {"lr0": 0.01, "lrf": 0.01, "momentum": 0.937, "weight_decay": 0.0005, "warmup_momentum": 0.8}
    trained = copy.deepcopy(net).float().train()
    ema = copy.deepcopy(net).float().eval().requires_grad_(False)
    for model in (trained, ema):
        model.nc, model.hyp, model.gr = len(names), dict(hyp), 1.0
        model.class_weights = torch.rand(len(names)) * len(names)
        model.names = dict(enumerate(names)) if release == "v7.0" else list(names)
    decay, no_decay, biases = [], [], []  # smart_optimizer's three groups
    for module in trained.modules():
        for pname, param in module.named_parameters(recurse=False):
            group = biases if pname == "bias" else no_decay if isinstance(module, torch.nn.BatchNorm2d) else decay
            group.append(param)
    optimizer = torch.optim.SGD(biases, lr=hyp["lr0"], momentum=hyp["momentum"], nesterov=True)
    optimizer.add_param_group({"params": decay, "weight_decay": hyp["weight_decay"]})
    optimizer.add_param_group({"params": no_decay, "weight_decay": 0.0})
    size = max(64, int(net.stride.max()))  # every level at least 1x1; batch 2 for batch norm statistics
    out = trained(torch.rand(2, 3, size, size))
    (sum(o.mean() for o in out) if isinstance(out, tuple) else out.mean()).backward()  # seg: (preds, protos)
    optimizer.step()  # momentum buffers
    for group in optimizer.param_groups:  # warm-up: np.interp returns numpy floats
        group["initial_lr"] = hyp["lr0"]
        group["lr"] = np.interp(50, [0, 1000], [0.1, hyp["lr0"]])
        group["momentum"] = np.interp(50, [0, 1000], [hyp["warmup_momentum"], hyp["momentum"]])
    trained.eval().requires_grad_(False)
    common: dict[str, Any] = {
        "epoch": 7,
        "best_fitness": np.array([0.4217]),  # what fitness() returns: (x[:, :4] * w).sum(1), shape (1,)
        "model": copy.deepcopy(trained).half(),
        "ema": copy.deepcopy(ema).half(),
        "updates": 1234,
        "optimizer": optimizer.state_dict(),
    }
    ckpt: dict[str, Any]
    if release == "v5.0":
        results = "      0/299     3.41G   0.1075  0.03121  0.04562\n"
        ckpt = {"epoch": 7, "best_fitness": common["best_fitness"], "training_results": results}
        ckpt |= {k: common[k] for k in ("model", "ema", "updates", "optimizer")} | {"wandb_id": None}
    elif release == "v6.0":
        ckpt = common | {"wandb_id": None, "date": datetime.now().isoformat()}
    else:
        opt = argparse.Namespace(
            weights="yolov5s.pt",
            cfg="",
            data="data/coco128.yaml",
            hyp=dict(hyp),
            epochs=300,
            batch_size=16,
            imgsz=640,
            rect=False,
            resume=False,
            nosave=False,
            noval=False,
            noautoanchor=False,
            evolve=None,
            cache=None,
            image_weights=False,
            device="",
            multi_scale=False,
            single_cls=False,
            optimizer="SGD",
            workers=8,
            project="runs/train",
            name="exp",
            exist_ok=False,
            cos_lr=False,
            label_smoothing=0.0,
            patience=100,
            freeze=[0],
            save_period=-1,
            seed=0,
            local_rank=-1,
            save_dir="runs/train/exp",
        )
        ckpt = common | {"opt": vars(opt), "git": dict(GIT_INFO), "date": datetime.now().isoformat()}
    if stripped:
        stripped_keys = {
            "v5.0": ("optimizer", "training_results", "wandb_id", "ema", "updates"),
            "v6.0": ("optimizer", "best_fitness", "wandb_id", "ema", "updates"),
            "v7.0": ("optimizer", "best_fitness", "ema", "updates"),
        }[release]
        ckpt["model"] = ckpt["ema"]
        ckpt |= dict.fromkeys(stripped_keys)
        ckpt["epoch"] = -1
        ckpt["model"].half().requires_grad_(False)
    return ckpt


def save_training_checkpoint(
    net: Any, path: Path, *, release: str = "v7.0", stripped: bool = False, prefix: str = "", **extra: Any
) -> Path:
    """torch.save what :func:`training_checkpoint` builds, under ``release``'s class paths."""
    import torch

    ckpt = training_checkpoint(net, release=release, stripped=stripped) | extra
    with yolov5_class_paths(release=release, prefix=prefix):
        torch.save(ckpt, path)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now.

    Under pytest-xdist each worker takes only its own share of the ports (``port // 2`` modulo the number of
    workers: Linux hands ``bind(0)`` odd ports only, so the port's own parity would starve a worker), so two
    workers never pick the same port between choosing it and binding it.
    """
    import os
    import socket

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % workers
    for _ in range(10_000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if (port // 2) % workers == index:
            return port
    raise RuntimeError(f"no free port in worker {index}'s share after 10,000 tries")


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
