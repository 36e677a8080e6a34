"""Valid REST requests for every route the soak's models serve (the seeds the mutators start from)."""

from __future__ import annotations

import base64
import math
import random
from dataclasses import dataclass
from typing import Any

from . import images
from .models import Target

MAX_JSON_NUMBERS = 300_000


@dataclass
class Route:
    """One request: method, path and (for POST) a JSON document."""

    method: str
    path: str
    doc: Any = None
    what: str = ""


def b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode("ascii")}


def max_valid_batch(target: Target) -> int:
    """Images a valid request may carry: within the server's default batch limit (64) and answered well inside
    the client timeout on two busy cores (a 640-pixel model: 4)."""
    return 64 if target.imgsz <= 64 else 4


def _model_path(rng: random.Random, name: str, version: int) -> str:
    roll = rng.random()
    if roll < 0.6:
        return f"/v1/models/{name}"
    if roll < 0.9:
        return f"/v1/models/{name}/versions/{version}"
    return f"/v1/models/{name}/labels/{rng.choice(['stable', 'canary'])}"  # no labels configured: an error


def yolo_predict(rng: random.Random, target: Target) -> Route:
    base = _model_path(rng, target.yolo, target.yolo_version)
    n = rng.choice([1, 1, 1, 2, 3, rng.randint(1, max_valid_batch(target))])
    pics = [b64(images.valid_image(rng)) for _ in range(n)]
    form = rng.randrange(5)
    if form == 0:
        doc: Any = {"instances": pics}
    elif form == 1:
        doc = {"instances": [{"images": p} for p in pics]}
    elif form == 2:
        doc = {"inputs": {"images": pics}}
    elif form == 3:
        doc = {"inputs": pics, "signature_name": "serving_default"}
    else:
        doc = {
            "signature_name": "detect",
            "instances": [
                {
                    "images": p,
                    "conf_threshold": round(rng.random(), 3),
                    "iou_threshold": round(rng.random(), 3),
                    "max_det": rng.randint(1, 300),
                }
                for p in pics
            ],
        }
    return Route("POST", f"{base}:predict", doc, f"yolo predict form={form} n={n}")


def yolo_tensor(rng: random.Random, target: Target) -> Route:
    """The raw / raw_bytes / class_names / predict_nchw signatures."""
    base = _model_path(rng, target.yolo, target.yolo_version)
    s = target.imgsz
    small = s <= 64
    which = rng.choice(["raw_bytes", "class_names", "raw", "predict_nchw"] if small else ["raw_bytes", "class_names"])
    n = rng.randint(1, 2)
    if which == "raw_bytes":
        doc: Any = {"signature_name": which, "instances": [b64(rng.randbytes(s * s * 3)) for _ in range(n)]}
    elif which == "class_names":
        ids = [rng.randrange(target.num_classes) for _ in range(rng.randint(1, 5))]
        doc = {"signature_name": which, "inputs": {"class_ids": ids}}
    else:
        v = round(rng.random(), 2)
        shape = (s, s, 3) if which == "raw" else (3, s, s)
        doc = {"signature_name": which, "instances": [_filled(shape, v) for _ in range(n)]}
    return Route("POST", f"{base}:predict", doc, f"yolo {which} n={n}")


def wrong_shapes(s: int) -> list[tuple[int, ...]]:
    """Shapes a float [N, s, s, 3] (or [N, 3, s, s]) input must refuse: every rank, a wrong size on each axis."""
    return [
        (1,),
        (1, 30),
        (2, 3),
        (1, s, s),
        (1, s, s, 4),
        (1, s + 1, s, 3),
        (1, s, s // 2, 3),
        (1, 1, 1, 3),
        (1, 3, s, s),
        (1, s, s, 3, 1),
        (0, s, s, 3),
        (1, 3, s, 1),
    ]


def tensor_shape_route(rng: random.Random, target: Target) -> Route:
    """The float signatures with an input of the wrong rank or size (dtype and element type right)."""
    which = rng.choice(["raw", "predict_nchw"])
    # JSON of more than ~300k numbers (a 640-pixel canvas is 1.2M) is legitimate work slower than the client waits
    shape = rng.choice([s for s in wrong_shapes(target.imgsz) if math.prod(s) <= MAX_JSON_NUMBERS])
    v = round(rng.random(), 2)
    rows = _filled(shape[1:], v) if len(shape) > 1 else v
    doc: Any = {"signature_name": which}
    if rng.random() < 0.5:
        doc["instances"] = [rows] * shape[0]
    else:
        doc["inputs"] = _filled(shape, v)
    return Route("POST", f"/v1/models/{target.yolo}:predict", doc, f"yolo {which} shape {list(shape)}")


def _filled(shape: tuple[int, ...], value: float) -> Any:
    out: Any = value
    for size in reversed(shape):
        out = [out] * size  # shared rows: serialized as full JSON, built without copying
    return out


def half_predict(rng: random.Random, target: Target) -> Route:
    base = _model_path(rng, target.half, target.half_version)
    xs = [round(rng.uniform(-100, 100), 3) for _ in range(rng.randint(1, 16))]
    doc: Any = rng.choice(
        [{"instances": xs}, {"inputs": {"x": [[x] for x in xs]}}, {"instances": [{"x": x} for x in xs]}]
    )
    return Route("POST", f"{base}:predict", doc, f"half predict n={len(xs)}")


def half_classify_regress(rng: random.Random, target: Target) -> Route:
    base = _model_path(rng, target.half, target.half_version)
    verb = rng.choice(["classify", "regress"])
    sig = "classify_x_to_y" if verb == "classify" else rng.choice(["regress_x_to_y", "regress_x_to_y2"])
    examples = [{"x": round(rng.uniform(-10, 10), 2)} for _ in range(rng.randint(1, 8))]
    doc: dict[str, Any] = {"signature_name": sig, "examples": examples}
    if rng.random() < 0.3:
        doc["context"] = {"x2": 1.5}
    return Route("POST", f"{base}:{verb}", doc, f"half {verb} {sig} n={len(examples)}")


def get_route(rng: random.Random, target: Target) -> Route:
    name, version = rng.choice([(target.yolo, target.yolo_version), (target.half, target.half_version)])
    base = _model_path(rng, name, version)
    suffix = rng.choice(["", "/metadata"])
    return Route("GET", base + suffix, None, f"GET {name}{suffix or ' status'}")


VALID = [yolo_predict, yolo_predict, yolo_tensor, half_predict, half_classify_regress, get_route]


def valid_route(rng: random.Random, target: Target) -> Route:
    return rng.choice(VALID)(rng, target)
