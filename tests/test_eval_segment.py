"""eval with YOLO-seg polygon labels: COCO polygons in the ground truth, mask AP (segm) next to box AP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from yolo_tfserving._errors import InputError
from yolo_tfserving.client import Detections
from yolo_tfserving.evaluation import coco_scores, evaluate, load_dataset
from yolo_tfserving.ops.masks import MaskCrops

pytest.importorskip("pycocotools")

SIZE_WH = (100, 80)
# per image: (class, normalised polygon)
POLYGONS = {
    "a": [(0, [0.1, 0.1, 0.5, 0.1, 0.5, 0.6, 0.1, 0.6]), (1, [0.6, 0.2, 0.9, 0.5, 0.6, 0.8])],
    "b": [(1, [0.2, 0.3, 0.8, 0.3, 0.5, 0.9])],
    "c": [(0, [0.05, 0.5, 0.3, 0.4, 0.45, 0.7, 0.3, 0.95, 0.1, 0.85])],
}


def _write_dataset(root: Path, polygons: dict[str, list[tuple[int, list[float]]]], extra_box: bool = False) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for stem, rows in polygons.items():
        Image.new("RGB", SIZE_WH, (90, 90, 90)).save(root / "images" / f"{stem}.png")
        lines = [" ".join([str(c), *(f"{v:.6f}" for v in poly)]) for c, poly in rows]
        lines.append(lines[0])  # an exact duplicate counts once
        if extra_box and stem == "a":
            lines.append("0 0.5 0.5 0.2 0.2")
        (root / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return root


def _raster(poly: list[float], shift_px: int = 0) -> np.ndarray:
    width, height = SIZE_WH
    canvas = Image.new("L", SIZE_WH, 0)
    xy = [(x * width + shift_px, y * height) for x, y in zip(poly[::2], poly[1::2], strict=True)]
    ImageDraw.Draw(canvas).polygon(xy, fill=255)
    return np.asarray(canvas) > 0


class _PolygonBackend:
    """Answers each image's ground-truth polygons: exact boxes, masks drawn with ``shift_px``."""

    name = "polygons"
    class_names = ("cat", "dog")

    def __init__(self, polygons: dict[str, list[tuple[int, list[float]]]], *, shift_px: int = 0, masks: bool = True):
        self.polygons, self.shift_px, self.masks = polygons, shift_px, masks

    def detect(self, path: Path) -> Detections:
        width, height = SIZE_WH
        rows = self.polygons[path.stem]
        boxes = []
        for _, poly in rows:
            xy = np.asarray(poly).reshape(-1, 2) * [width, height]
            boxes.append([*xy.min(0), *xy.max(0)])
        xyxy = np.asarray(boxes, np.float32)
        crops = None
        if self.masks:
            dense = np.stack([_raster(poly, self.shift_px) for _, poly in rows])
            crops = MaskCrops.from_dense(dense, np.tile([0, 0, width, height], (len(rows), 1)))
        return Detections.from_arrays(
            xyxy,
            np.full(len(rows), 0.9),
            [c for c, _ in rows],
            names=self.class_names,
            image_size_hw=(height, width),
            mask_crops=crops,
        )

    def close(self) -> None:
        pass


def test_polygon_labels_become_coco_polygons_in_pixels(tmp_path: Path) -> None:
    ds = load_dataset(_write_dataset(tmp_path / "ds", POLYGONS))
    assert ds.has_segments and ds.num_boxes == 4  # the duplicate line counted once
    first = next(a for a in ds.annotations if a["image_id"] == 1 and a["category_id"] == 0)
    np.testing.assert_allclose(first["segmentation"], [[10, 8, 50, 8, 50, 48, 10, 48]], atol=1e-3)
    np.testing.assert_allclose(first["bbox"], [10, 8, 40, 40], atol=1e-3)


def test_mask_ap_next_to_box_ap(tmp_path: Path) -> None:
    ds = load_dataset(_write_dataset(tmp_path / "ds", POLYGONS))
    exact = evaluate(ds, _PolygonBackend(POLYGONS))
    assert exact.map50_95 == pytest.approx(1.0) and exact.mask_map50_95 is not None
    # polygon rasterisation (Pillow vs pycocotools) differs by edge pixels: high, not exactly 1
    assert exact.mask_map50 == pytest.approx(1.0) and exact.mask_map50_95 > 0.8
    shifted = evaluate(ds, _PolygonBackend(POLYGONS, shift_px=6))
    assert shifted.map50_95 == pytest.approx(exact.map50_95)  # same boxes
    assert shifted.mask_map50_95 < exact.mask_map50_95 - 0.2
    report = shifted.to_json()
    assert report["mask_map50_95"] == shifted.mask_map50_95 and "AP@.50" in report["mask_coco_stats"]


def test_no_mask_ap_without_masks_or_without_polygons(tmp_path: Path) -> None:
    ds = load_dataset(_write_dataset(tmp_path / "ds", POLYGONS))
    boxes_only = evaluate(ds, _PolygonBackend(POLYGONS, masks=False))
    assert boxes_only.mask_map50_95 is None and "mask_map50_95" not in boxes_only.to_json()
    assert boxes_only.map50_95 == pytest.approx(1.0)
    mixed = load_dataset(_write_dataset(tmp_path / "mixed", POLYGONS, extra_box=True))
    assert not mixed.has_segments
    assert evaluate(mixed, _PolygonBackend(POLYGONS)).mask_map50_95 is None


def test_segm_scores_need_segmentations(tmp_path: Path) -> None:
    ds = load_dataset(_write_dataset(tmp_path / "ds", POLYGONS))
    rows = [{"image_id": 1, "category_id": 0, "bbox": [10, 8, 40, 40], "score": 0.9}]
    with pytest.raises(InputError, match="segmentation"):
        coco_scores(ds.coco_ground_truth(("cat", "dog")), rows, iou_type="segm")
    with pytest.raises(InputError, match="iou_type"):
        coco_scores(ds.coco_ground_truth(("cat", "dog")), rows, iou_type="keypoints")


def test_letterbox_backend_adds_masks_for_a_segmentation_network(tmp_path: Path) -> None:
    from yolo_tfserving.evaluation.backends import LetterboxBackend
    from yolo_tfserving.ops import NMSConfig

    rng = np.random.default_rng(2)
    pred = rng.uniform(0, 1, (120, 5 + 2 + 32)).astype(np.float32)
    pred[:, :4] *= 64
    pred[:, 7:] = rng.normal(0, 2, (120, 32))
    protos = np.kron(rng.normal(size=(4, 4, 32)), np.ones((4, 4, 1))).astype(np.float32)
    seen: list[tuple[int, ...]] = []

    def raw_fn(canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(canvas.shape)
        return pred, protos

    image = tmp_path / "im.png"
    Image.new("RGB", (100, 70), (50, 120, 200)).save(image)
    config = NMSConfig(conf_threshold=0.3)
    seg = LetterboxBackend("seg", raw_fn, size_hw=(64, 64), class_names=("cat", "dog"), nms=config)
    dets = seg.detect(image)
    assert seen == [(64, 64, 3)] and len(dets) > 2
    assert dets.mask is not None and dets.mask.shape == (len(dets), 70, 100) and dets.mask.any()
    plain = LetterboxBackend("det", lambda _: pred[:, :7], size_hw=(64, 64), class_names=("cat", "dog"), nms=config)
    boxes_only = plain.detect(image)
    assert boxes_only.mask is None
    assert np.array_equal(boxes_only.xyxy, dets.xyxy) and np.array_equal(boxes_only.class_id, dets.class_id)


def test_eval_cli_table_shows_mask_ap(tmp_path: Path) -> None:
    """`eval`'s single-backend table has the mask AP rows when the result has them, and none otherwise."""
    from yolo_tfserving.cli.eval_cmd import _single_tables

    class Tables:
        def __init__(self) -> None:
            self.rows: list[tuple[str, str]] = []

        def table(self, _title: str, rows: list[tuple[str, str]]) -> None:
            self.rows += rows

        def rows_table(self, *_args: object) -> None:
            pass

    ds = load_dataset(_write_dataset(tmp_path / "ds", POLYGONS))
    with_masks, boxes_only = Tables(), Tables()
    result = evaluate(ds, _PolygonBackend(POLYGONS))
    _single_tables(with_masks, result)  # type: ignore[arg-type]
    shown = dict(with_masks.rows)
    assert shown["mask mAP50-95"] == f"{result.mask_map50_95:.4f}" and shown["mask mAP50"] == f"{result.mask_map50:.4f}"
    _single_tables(boxes_only, evaluate(ds, _PolygonBackend(POLYGONS, masks=False)))  # type: ignore[arg-type]
    assert "mAP50-95" in dict(boxes_only.rows) and "mask mAP50-95" not in dict(boxes_only.rows)
