"""COCO mAP with pycocotools: run a backend over a dataset, score with ``COCOeval``.

Nothing here computes AP by hand: predictions become COCO result rows
(:meth:`Detections.to_coco`), the ground truth a COCO dict (:meth:`Dataset.coco_ground_truth`),
and ``COCOeval(..., "bbox")`` with its standard parameters (10 IoU thresholds 0.50:0.95,
101 recall points, ``maxDets`` 1/10/100) does the rest. mAP50-95 and mAP50 are
``stats[0]`` and ``stats[1]``; a class's AP is the mean of
``eval["precision"][:, :, k, area=all, maxDets=100]`` over entries > -1 (what ``summarize``
averages), listed for classes with ground truth only.

Mask AP: when the dataset has segmentations (YOLO-seg polygon labels or COCO JSON
``segmentation``) and the model returns masks, the same rows (their RLE ``segmentation``, no
``bbox``) are scored again with ``COCOeval(..., "segm")``. A YOLO dataset's ground-truth
``area`` (what COCO's small/medium/large ranges read) is the box area for box AP and the
polygon's area for mask AP, as COCO's own annotations give mask areas.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .._deps import require
from .._errors import InputError
from .backends import Backend
from .dataset import Dataset

STAT_NAMES = (
    "AP@[.50:.95]",
    "AP@.50",
    "AP@.75",
    "AP small",
    "AP medium",
    "AP large",
    "AR@1",
    "AR@10",
    "AR@100",
    "AR small",
    "AR medium",
    "AR large",
)


class ClassAP(NamedTuple):
    """One category's AP; ``class_id`` is the COCO category id (the class index for YOLO data)."""

    class_id: int
    name: str
    ap50_95: float
    ap50: float
    n_gt: int


@dataclass(frozen=True)
class CocoScores:
    map50_95: float
    map50: float
    per_class: list[ClassAP]
    stats: list[float]


@dataclass
class EvalResult:
    """One backend's scores on one dataset."""

    backend: str
    map50_95: float
    map50: float
    per_class: list[ClassAP]
    images: int
    detections: int
    seconds: float
    stats: list[float] = field(default_factory=list)
    mask_map50_95: float | None = None
    mask_map50: float | None = None
    mask_stats: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        masks = (
            {
                "mask_map50_95": self.mask_map50_95,
                "mask_map50": self.mask_map50,
                "mask_coco_stats": dict(zip(STAT_NAMES, self.mask_stats, strict=False)),
            }
            if self.mask_map50_95 is not None
            else {}
        )
        return {
            "backend": self.backend,
            "map50_95": self.map50_95,
            "map50": self.map50,
            "images": self.images,
            "detections": self.detections,
            "seconds": round(self.seconds, 3),
            "coco_stats": dict(zip(STAT_NAMES, self.stats, strict=False)),
            "per_class": [c._asdict() for c in self.per_class],
            **masks,
        }


def coco_scores(ground_truth: dict[str, Any], results: list[dict[str, Any]], *, iou_type: str = "bbox") -> CocoScores:
    """``COCOeval`` scores of ``results`` (COCO result rows) against ``ground_truth`` (a COCO dict).

    ``iou_type`` is ``"bbox"`` or ``"segm"`` (rows and ground truth need ``segmentation``).
    pycocotools prints as it goes; that is kept off stdout (stdout carries the command's data).
    """
    if iou_type not in ("bbox", "segm"):
        raise InputError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    if iou_type == "segm":
        if any("segmentation" not in r for r in results):
            raise InputError("mask AP needs a segmentation in every result row (a segmentation model's masks)")
        results = [{k: v for k, v in r.items() if k != "bbox"} for r in results]  # loadRes: areas from masks
    require("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not ground_truth["annotations"]:
        raise InputError("the dataset has no ground-truth boxes to evaluate against")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        if results:
            dt = gt.loadRes([dict(r) for r in results])
        else:  # loadRes refuses an empty list; no detections is a valid (zero) result
            dt = COCO()
            dt.dataset = {
                "images": list(ground_truth["images"]),
                "categories": list(ground_truth["categories"]),
                "annotations": [],
            }
            dt.createIndex()
        cocoeval = COCOeval(gt, dt, iou_type)
        cocoeval.params.imgIds = [im["id"] for im in ground_truth["images"]]
        cocoeval.evaluate()
        cocoeval.accumulate()
        cocoeval.summarize()
    stats = [float(s) for s in cocoeval.stats]
    precision = cocoeval.eval["precision"]  # [T iou, R recall, K categories, A areas, M maxDets]
    counts: dict[int, int] = {}
    for ann in ground_truth["annotations"]:
        if not ann.get("iscrowd", 0):
            counts[int(ann["category_id"])] = counts.get(int(ann["category_id"]), 0) + 1
    names = {int(c["id"]): str(c["name"]) for c in ground_truth["categories"]}
    per_class = []
    for k, cat_id in enumerate(cocoeval.params.catIds):
        if not counts.get(cat_id):
            continue
        p = precision[:, :, k, 0, -1]
        p50 = precision[0, :, k, 0, -1]
        per_class.append(
            ClassAP(int(cat_id), names.get(cat_id, str(cat_id)), _mean_valid(p), _mean_valid(p50), counts[cat_id])
        )
    return CocoScores(map50_95=max(stats[0], 0.0), map50=max(stats[1], 0.0), per_class=per_class, stats=stats)


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else math.nan


def evaluate(dataset: Dataset, backend: Backend, *, progress: Callable[[], None] | None = None) -> EvalResult:
    """Run ``backend`` over every image of ``dataset`` and score it with pycocotools."""
    started = time.perf_counter()
    class_names = tuple(backend.class_names)
    category_ids = dataset.category_ids(class_names)
    results: list[dict[str, Any]] = []
    seen_names: dict[int, str] = {}
    mismatched = 0
    saw_masks = False
    for record in dataset.images:
        dets = backend.detect(record.path)
        saw_masks = saw_masks or dets.mask_crops is not None
        if dets.image_size_hw is not None and tuple(dets.image_size_hw) != record.size_hw:
            mismatched += 1
        if len(dets):
            seen_names.update(zip(dets.class_id.tolist(), dets.class_name.tolist(), strict=True))
        if category_ids is not None:
            known = (dets.class_id >= 0) & (dets.class_id < len(category_ids))
            dets = dets[known]
            dets = dets[np.asarray(category_ids, dtype=np.int64)[dets.class_id] >= 0]
        results.extend(dets.to_coco(record.id, category_ids=category_ids))
        if progress is not None:
            progress()
    seconds = time.perf_counter() - started
    if mismatched:
        import logging

        logging.getLogger("yolo_tfserving.evaluation").warning(
            "%s: %d images decoded to a size other than the dataset's (EXIF orientation?); their boxes may not "
            "line up with the ground truth",
            backend.name,
            mismatched,
        )
    names = _names(class_names, seen_names)
    ground_truth = dataset.coco_ground_truth(names)
    scores = coco_scores(ground_truth, results)
    masks = None
    if saw_masks and dataset.has_segments:
        segm_truth = _with_mask_areas(ground_truth) if dataset.format == "yolo" else ground_truth
        masks = coco_scores(segm_truth, results, iou_type="segm")
    return EvalResult(
        backend=backend.name,
        map50_95=scores.map50_95,
        map50=scores.map50,
        per_class=scores.per_class,
        images=len(dataset.images),
        detections=len(results),
        seconds=seconds,
        stats=scores.stats,
        mask_map50_95=None if masks is None else masks.map50_95,
        mask_map50=None if masks is None else masks.map50,
        mask_stats=[] if masks is None else masks.stats,
    )


def _with_mask_areas(ground_truth: dict[str, Any]) -> dict[str, Any]:
    """The ground truth with each polygon annotation's ``area`` its polygons' area (pycocotools)."""
    from pycocotools import mask as mask_utils

    sizes = {im["id"]: (int(im["height"]), int(im["width"])) for im in ground_truth["images"]}
    annotations = []
    for ann in ground_truth["annotations"]:
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, list) and segmentation:
            height, width = sizes[ann["image_id"]]
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
            ann = {**ann, "area": float(mask_utils.area(rle))}
        annotations.append(ann)
    return {**ground_truth, "annotations": annotations}


def _names(class_names: Sequence[str], seen: dict[int, str]) -> tuple[str, ...]:
    if class_names:
        return tuple(class_names)
    if not seen:
        return ()
    size = max(seen) + 1
    return tuple(seen.get(i, str(i)) for i in range(size))
