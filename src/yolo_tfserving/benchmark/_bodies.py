"""Pre-built request bodies: the original write-up's JSON-floats request (``--mode json-floats``).

The letterboxed image as a ``1x3xHxW`` float32 array written as JSON nested lists,
``{"signature_name": "predict_nchw", "inputs": {"input": [...]}}``; its response's ``outputs``
are the raw predictions. Bodies are built once per image, outside the timed part, and shared by
the workers.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError, RequestError
from ..client import Client

NCHW_SIGNATURE = "predict_nchw"


@dataclass(frozen=True)
class JsonBody:
    body: bytes
    plan: Any  # ops.Letterbox


class JsonFloatsBodies:
    """The JSON bodies, built once per image and shared by the workers (the model size read once)."""

    def __init__(self, images: list[bytes], model: str) -> None:
        self.images = images
        self.model = model
        self.size_hw: tuple[int, int] | None = None
        self.bodies: dict[int, JsonBody] = {}
        self.lock = threading.Lock()

    def get(self, image: int, client: Client) -> JsonBody:
        ready = self.bodies.get(image)
        if ready is not None:
            return ready
        with self.lock:
            if self.size_hw is None:
                self.size_hw = nchw_input_size(client.metadata(), self.model)
            if image not in self.bodies:
                self.bodies[image] = json_floats_body(self.images[image], self.size_hw)
            return self.bodies[image]


def nchw_input_size(metadata: dict[str, Any], model: str) -> tuple[int, int]:
    """``(H, W)`` of the ``predict_nchw`` signature's ``input`` [N, 3, H, W] from model metadata."""
    sigs = metadata.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    sig = sigs.get(NCHW_SIGNATURE)
    if sig is None:
        raise InputError(
            f"model {model!r} has no {NCHW_SIGNATURE!r} signature (it has {sorted(sigs)}); "
            "export with --nchw-signature add for --mode json-floats"
        )
    dims = sig["inputs"]["input"]["tensor_shape"]["dim"]
    return int(dims[2]["size"]), int(dims[3]["size"])


def json_floats_body(image: bytes, size_hw: tuple[int, int]) -> JsonBody:
    """The original write-up's request: letterboxed float32 NCHW in [0, 1] as JSON nested lists."""
    from ..client.images import prepare
    from ..ops import letterbox_batch

    canvases, (plan,) = letterbox_batch([prepare(image).rgb], size_hw)
    canvas = canvases[0]
    x = (canvas.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None]
    body = json.dumps({"signature_name": NCHW_SIGNATURE, "inputs": {"input": x.tolist()}}).encode()
    return JsonBody(body=body, plan=plan)


def json_predictions(response: bytes) -> np.ndarray:
    """The ``output`` tensor of a REST predict response as float32 (TF Serving writes a lone output unnamed)."""
    outputs = json.loads(response).get("outputs")
    if outputs is None:
        raise RequestError(f"unexpected response (no 'outputs'): {response[:200]!r}", status=200)
    if isinstance(outputs, dict):
        outputs = outputs["output"]
    return np.asarray(outputs, dtype=np.float32)
