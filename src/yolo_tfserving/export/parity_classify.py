"""Parity of an exported classifier against PyTorch.

Two checks, on seeded random crops plus the given images (YOLOv5's centre crop done in numpy):

- ``raw`` logits vs the PyTorch model's logits on the same normalised crops: the largest absolute
  difference, scaled by the logits' range, within ``logits_tolerance``;
- ``serving_default`` on the encoded images (the in-graph decode and crop) vs numpy crop +
  PyTorch + softmax: the same top-k class ids, probabilities within ``score_tolerance``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._deps import require
from .._errors import InputError
from .._repository_layout import read_export_metadata
from ..ops.classify import crop_batch, normalize, softmax, top_k


@dataclass(frozen=True)
class ClassifierParityReport:
    samples: int
    max_abs_logit_diff: float
    logit_scale: float
    images: int
    top_k_equal: int
    max_abs_score_diff: float
    logits_tolerance: float
    score_tolerance: float

    @property
    def passed(self) -> bool:
        logits_ok = self.max_abs_logit_diff <= self.logits_tolerance * max(self.logit_scale, 1.0)
        return logits_ok and self.top_k_equal == self.images and self.max_abs_score_diff <= self.score_tolerance

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        return (
            f"logits: max |tf - torch| {self.max_abs_logit_diff:.3g} over {self.samples} crops "
            f"(range {self.logit_scale:.3g}, tolerance {self.logits_tolerance:g} x range); "
            f"serving_default: top-k equal on {self.top_k_equal}/{self.images} images, "
            f"max |score diff| {self.max_abs_score_diff:.3g} (tolerance {self.score_tolerance:g})"
        )


def torch_logits(model: Any, crops_nhwc: NDArray[np.float32]) -> NDArray[np.float32]:
    """The PyTorch classifier's logits for [0, 1] NHWC crops (normalised here, as the export does)."""
    torch = require("torch")
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(normalize(crops_nhwc).transpose(0, 3, 1, 2)))
        return model(x).numpy().astype(np.float32)  # type: ignore[no-any-return]


def verify_classifier_parity(
    version_dir: Path,
    *,
    torch_model: Any,
    size_hw: tuple[int, int],
    images: Sequence[Path] = (),
    samples: int = 4,
    logits_tolerance: float = 1e-4,
    score_tolerance: float = 1e-4,
) -> ClassifierParityReport:
    """Run both checks on the SavedModel in ``version_dir``."""
    tf = require("tensorflow")
    from PIL import Image

    loaded = tf.saved_model.load(str(version_dir))
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (samples, *size_hw, 3), dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    rgbs = [np.asarray(Image.open(p).convert("RGB")) for p in images]
    if rgbs:
        crops = np.concatenate([crops, crop_batch(rgbs, size_hw)])
    reference = torch_logits(torch_model, crops)
    got = loaded.signatures["raw"](images=tf.constant(crops))["logits"].numpy()
    logit_diff = float(np.abs(got - reference).max())
    scale = float(reference.max() - reference.min())
    equal, score_diff = 0, 0.0
    if images:
        served = loaded.signatures["serving_default"](images=tf.constant([Path(p).read_bytes() for p in images]))
        ids, scores = top_k(softmax(reference[samples:]), int(served["classes"].shape[1]))
        equal = int(np.all(served["classes"].numpy() == ids, axis=1).sum())
        score_diff = float(np.abs(served["scores"].numpy() - scores).max())
    return ClassifierParityReport(
        samples=len(crops),
        max_abs_logit_diff=logit_diff,
        logit_scale=scale,
        images=len(rgbs),
        top_k_equal=equal,
        max_abs_score_diff=score_diff,
        logits_tolerance=logits_tolerance,
        score_tolerance=score_tolerance,
    )


def verify_classifier_dir(
    version_dir: Path,
    *,
    weights: Path | None,
    images: Sequence[Path] = (),
    options: Any = None,
    progress: Callable[[], None] = lambda: None,
) -> ClassifierParityReport:
    """``yolo-tfserving verify`` of a classifier export: against the ``.pt`` it came from (``weights``).

    Takes ``verify_parity``'s arguments; ``options.raw_tolerance`` (when given) is the logits' tolerance,
    relative to their range.
    """
    if weights is None:
        raise InputError("verifying a classifier needs --weights, the .pt it was exported from")
    from ..yolov5.checkpoint import load_classifier

    tolerance = float(getattr(options, "raw_tolerance", 1e-4))
    model = load_classifier(weights).model
    size_hw = read_export_metadata(version_dir).size_hw
    report = verify_classifier_parity(
        version_dir, torch_model=model, size_hw=size_hw, images=images, logits_tolerance=tolerance
    )
    for _ in images or range(3):
        progress()
    return report
