"""Parity of a segmentation export: raw predictions and protos, detections, and masks.

- ``raw``: the SavedModel's ``predictions`` and ``protos`` vs PyTorch (and the ONNX file under ONNX
  Runtime vs PyTorch), with :mod:`.parity`'s mixed tolerance.
- ``serving_default``: detections matched 1:1 against the reference pipeline (our numpy letterbox ->
  PyTorch -> our numpy NMS -> scale back), as for a detection model; then every matched pair's mask:
  the served PNG crop (``masks_png_bytes`` in its ``mask_boxes`` window) against YOLOv5's
  ``process_mask_native`` in numpy (:mod:`yolo_tfserving.ops.masks`) on PyTorch's protos and the
  reference detection's coefficients. Each mask must reach ``mask_iou_floor`` (two empty masks agree).

The reference is client mode's own seg post-processing (:func:`ops.pipeline.segments_from_predictions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._deps import require
from ..ops import box_iou, letterbox_batch
from ..ops import masks as mask_ops
from ..ops.letterbox import Letterbox
from ..ops.nms import NMSConfig
from ..ops.pipeline import segments_from_predictions
from .parity import (
    DetectionMatch,
    ParityOptions,
    _image_samples,
    _references,
    detections_json,
    detections_line,
    match_detections,
    raw_lines,
)
from .parity_ties import NMSInputs, TieCheck


@dataclass
class MaskMatch:
    compared: int = 0
    failed: int = 0
    min_iou: float = 1.0
    iou_sum: float = 0.0

    @property
    def mean_iou(self) -> float:
        return self.iou_sum / self.compared if self.compared else 1.0

    def add(self, iou: float, floor: float) -> None:
        self.compared += 1
        self.iou_sum += iou
        self.min_iou = min(self.min_iou, iou)
        self.failed += int(iou < floor)


@dataclass
class SegmentParityReport:
    images: int
    raw_max_abs_diff: dict[str, float]
    raw_max_scaled_diff: dict[str, float]
    detections: DetectionMatch
    masks: MaskMatch
    options: ParityOptions
    mask_iou_floor: float
    per_image_failures: list[str] = field(default_factory=list)
    reference: str = "pytorch"

    @property
    def passed(self) -> bool:
        raw_ok = all(v <= self.options.raw_tolerance for v in self.raw_max_scaled_diff.values())
        return raw_ok and self.detections.passed and self.masks.failed == 0

    def to_json(self) -> dict[str, Any]:
        d, m = self.detections, self.masks
        return {
            "passed": self.passed,
            "task": "segment",
            "images": self.images,
            "reference": self.reference,
            "raw_max_abs_diff": self.raw_max_abs_diff,
            "raw_max_scaled_diff": self.raw_max_scaled_diff,
            "raw_tolerance": self.options.raw_tolerance,
            "detections": detections_json(d, iou_floor=self.options.iou_floor),
            "masks": {
                "compared": m.compared,
                "failed": m.failed,
                "min_iou": m.min_iou,
                "mean_iou": m.mean_iou,
                "iou_floor": self.mask_iou_floor,
            },
            "failures": self.per_image_failures[:20],
        }

    def summary(self) -> str:
        lines = raw_lines(self.raw_max_abs_diff, self.raw_max_scaled_diff, self.options.raw_tolerance)
        m = self.masks
        lines.append(detections_line(self.detections))
        lines.append(
            f"masks: {m.compared} compared, {m.failed} below IoU {self.mask_iou_floor}; min IoU {m.min_iou:.4f}"
        )
        lines.extend(self.per_image_failures[:5])
        return "\n".join(lines)


def reference_masks(
    prediction: NDArray[np.float32], protos_hwc: NDArray[np.float32], plan: Letterbox, config: NMSConfig
) -> tuple[tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]], NDArray[np.bool_]]:
    """YOLOv5's segment predict path in numpy (:func:`ops.pipeline.segments_from_predictions`, client mode's):
    ((boxes in source pixels, scores, classes), dense masks bool [n, H, W])."""
    boxes, scores, classes, windows, crops = segments_from_predictions(prediction, protos_hwc, plan, config)
    return (boxes, scores, classes), mask_ops.paste(windows, crops, plan.source_hw)


def mask_iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else int(np.logical_and(a, b).sum()) / union


def served_masks(out: dict[str, Any], n: int, image_hw: tuple[int, int]) -> NDArray[np.bool_]:
    """serving_default's first image's ``n`` masks, pasted into dense ``bool [n, H, W]``."""
    windows = out["mask_boxes"].numpy()[0, :n]
    pngs = out["masks_png_bytes"].numpy()[0, :n]
    crops = [mask_ops.decode_png(bytes(p), w) for p, w in zip(pngs, windows.tolist(), strict=True)]
    return mask_ops.paste(windows, crops, image_hw)


def _pairs(
    ref_boxes: NDArray[np.float32], ref_classes: Any, boxes: NDArray[np.float32], classes: Any, floor: float
) -> list[tuple[int, int]]:
    """Greedy 1:1 pairs (reference, served) of the same class with box IoU >= ``floor``."""
    if not len(ref_boxes) or not len(boxes):
        return []
    ious = box_iou(ref_boxes.astype(np.float64), boxes.astype(np.float64))
    used: set[int] = set()
    pairs = []
    for i in range(len(ref_boxes)):
        options = [j for j in range(len(boxes)) if j not in used and classes[j] == ref_classes[i]]
        if options:
            j = max(options, key=lambda c: ious[i, c])
            if ious[i, j] >= floor:
                used.add(j)
                pairs.append((i, j))
    return pairs


def verify_segment_parity(
    version_dir: Path,
    *,
    torch_model: Any | None = None,
    weights: Path | None = None,
    onnx_path: Path | None = None,
    images: Sequence[Path] = (),
    options: ParityOptions = ParityOptions(),
    mask_iou_floor: float = 0.99,
) -> SegmentParityReport:
    """Run the same images through PyTorch, ONNX Runtime and the SavedModel; compare (module docstring)."""
    tf = require("tensorflow")
    torch = require("torch")
    from .._repository_layout import ExportMetadata

    meta = ExportMetadata.read(version_dir)
    torch_model, session = _references(version_dir, torch_model, weights, onnx_path)
    if torch_model is None:
        from .._errors import InputError

        raise InputError("verify of a segmentation export needs PyTorch as the reference: pass --weights model.pt")
    loaded = tf.saved_model.load(str(version_dir))
    raw_fn, detect_fn = loaded.signatures["raw"], loaded.signatures["serving_default"]
    backends = ["savedmodel_raw", "savedmodel_protos"]
    backends = ["onnxruntime", *backends] if session is not None else backends
    diffs = dict.fromkeys(backends, 0.0)
    scaled = dict.fromkeys(backends, 0.0)

    def record(backend: str, got: NDArray[np.float32], want: NDArray[np.float32]) -> None:
        err = np.abs(got - want)
        diffs[backend] = max(diffs[backend], float(err.max()))
        scaled[backend] = max(scaled[backend], float((err / np.maximum(1.0, np.abs(want))).max()))

    total, masks, failures = DetectionMatch(), MaskMatch(), []
    num_masks = int(torch_model.model[-1].nm)
    samples = _image_samples(images, options.max_images)
    for label, data, rgb in samples:
        canvases, (plan,) = letterbox_batch([rgb], meta.size_hw)
        x = canvases.astype(np.float32) / 255.0
        x_nchw = x.transpose(0, 3, 1, 2).copy()
        with torch.no_grad():
            ref_pred, ref_protos = (t.numpy() for t in torch_model(torch.from_numpy(x_nchw)))
        ref_protos_hwc = ref_protos.transpose(0, 2, 3, 1)
        if session is not None:
            ort_pred, ort_protos = session.run(None, {session.get_inputs()[0].name: x_nchw})[:2]
            record(
                "onnxruntime",
                np.concatenate([ort_pred.ravel(), ort_protos.ravel()]),
                np.concatenate([ref_pred.ravel(), ref_protos.ravel()]),
            )
        raw = raw_fn(images=tf.constant(x))
        record("savedmodel_raw", raw["predictions"].numpy(), ref_pred)
        record("savedmodel_protos", raw["protos"].numpy(), ref_protos_hwc)
        image_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        ref, ref_dense = reference_masks(ref_pred[0], ref_protos_hwc[0], plan, meta.nms)
        out = detect_fn(images=tf.constant([data]))
        n = int(out["num_detections"].numpy()[0])
        cand = (out["boxes"].numpy()[0, :n], out["scores"].numpy()[0, :n], out["classes"].numpy()[0, :n])
        scored = ref_pred.shape[2] - num_masks
        ties = TieCheck(
            reference=NMSInputs.from_raw(ref_pred[0, :, :scored], meta.nms, plan),
            candidate=NMSInputs.from_raw(raw["predictions"].numpy()[0, :, :scored], meta.nms, plan),
            iou_threshold=meta.nms.iou_threshold,
            score_tolerance=options.raw_tolerance,
            iou_margin=options.nms_iou_margin,
            agnostic=meta.nms.agnostic,
        )
        match = match_detections(
            ref,
            cand,
            conf_threshold=meta.nms.conf_threshold,
            iou_floor=options.iou_floor,
            score_margin=options.score_margin,
            ties=ties,
        )
        total.add(match)
        dense = served_masks(out, n, image_hw)
        low = 0
        for i, j in _pairs(ref[0], ref[2], cand[0], cand[2], options.iou_floor):
            iou = mask_iou(ref_dense[i], dense[j])
            masks.add(iou, mask_iou_floor)
            low += int(iou < mask_iou_floor)
        if not match.passed or low:
            failures.append(f"{label}: {match.missing} missing, {match.extra} extra, {low} masks below the IoU floor")
    return SegmentParityReport(
        images=len(samples),
        raw_max_abs_diff=diffs,
        raw_max_scaled_diff=scaled,
        detections=total,
        masks=masks,
        options=options,
        mask_iou_floor=mask_iou_floor,
        per_image_failures=failures,
    )
