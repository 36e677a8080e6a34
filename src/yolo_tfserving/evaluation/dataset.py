"""Evaluation datasets: YOLO-format folders or COCO JSON, as COCO ground truth in memory.

Two layouts are read:

- **YOLO** (``DIR/images/...`` and ``DIR/labels/...``): every image under ``images/``
  (recursively) has its labels at the same relative path under ``labels/`` with the suffix
  ``.txt``, one box a line, ``class cx cy w h`` normalised to the (EXIF-upright) image.
  An image without a label file is a background image (no boxes), as in YOLOv5; polygon
  lines (``class x1 y1 x2 y2 ...``, YOLO-seg) become their bounding boxes and, in pixels, the
  annotation's COCO polygon ``segmentation``; exact duplicate lines count once. The COCO category
  id of a box is its YOLO class index.
- **COCO JSON**: an annotations file (``images``, ``annotations``, ``categories``) and the
  folder its ``file_name``s are relative to; an annotation's ``segmentation`` (polygons or RLE)
  is kept.

When every annotation has a segmentation (:attr:`Dataset.has_segments`), eval scores masks
(``COCOeval`` ``segm``) as well as boxes.

Ground truth is converted to COCO in memory: image sizes from the image files (EXIF
orientation honoured), boxes from normalised ``cxcywh`` to absolute ``[x, y, w, h]``,
``iscrowd`` 0, ``area`` ``w * h``, annotation ids from 1 (pycocotools treats id 0 as "no
match").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ImageError, InputError
from ..client.inputs import IMAGE_SUFFIXES

log = logging.getLogger("yolo_tfserving.evaluation")

_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90 degrees


@dataclass(frozen=True)
class ImageRecord:
    """One image of the dataset: its COCO id, file and upright size."""

    id: int
    path: Path
    width: int
    height: int

    @property
    def size_hw(self) -> tuple[int, int]:
        return self.height, self.width


@dataclass(frozen=True)
class Dataset:
    """Images plus ground truth as COCO annotations (``bbox`` is ``[x, y, w, h]`` in pixels).

    ``format`` is ``"yolo"`` or ``"coco"``. ``categories`` are ``{"id", "name"}`` dicts; a YOLO
    dataset has no class names of its own (``name`` is the class index as text) and takes the
    model's names at evaluation time (:meth:`coco_ground_truth`).
    """

    root: Path
    format: str
    images: tuple[ImageRecord, ...]
    annotations: tuple[dict[str, Any], ...]
    categories: tuple[dict[str, Any], ...]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_boxes(self) -> int:
        return len(self.annotations)

    @property
    def has_segments(self) -> bool:
        """Every annotation has a ``segmentation`` (polygons or RLE): mask AP can be scored."""
        return bool(self.annotations) and all(a.get("segmentation") for a in self.annotations)

    def head(self, n: int | None) -> Dataset:
        """The first ``n`` images and their ground truth (all when ``n`` is None)."""
        if n is None or n >= len(self.images):
            return self
        if n < 1:
            raise InputError(f"--max-images must be at least 1, got {n}")
        images = self.images[:n]
        ids = {im.id for im in images}
        return replace(self, images=images, annotations=tuple(a for a in self.annotations if a["image_id"] in ids))

    def category_ids(self, class_names: Sequence[str]) -> list[int] | None:
        """Model class index -> COCO category id (``-1``: no such category); None for the identity.

        YOLO datasets: the class index is the category id. COCO JSON: by name when every
        category name is one of the model's names, else by position in ascending id order
        (YOLOv5's ``coco80_to_91`` mapping for COCO's 80 categories) when the counts agree.
        """
        if self.format == "yolo":
            return None
        by_name = {str(c["name"]): int(c["id"]) for c in self.categories}
        if class_names and set(by_name) <= set(class_names):
            return [by_name.get(name, -1) for name in class_names]
        ordered = sorted(int(c["id"]) for c in self.categories)
        if len(ordered) == len(class_names):
            log.warning(
                "category names differ from the model's class names; mapping class i to the i-th category "
                "in ascending id order"
            )
            return ordered
        raise InputError(
            f"cannot map the model's {len(class_names)} classes onto the dataset's {len(ordered)} "
            "categories: the category names are not the model's class names and the counts differ"
        )

    def coco_ground_truth(self, class_names: Sequence[str] = ()) -> dict[str, Any]:
        """The COCO dataset dict pycocotools loads (``images``, ``annotations``, ``categories``).

        For a YOLO dataset the categories are every class index seen in the labels plus every
        index of ``class_names``, named from ``class_names`` where known.
        """
        categories = [dict(c) for c in self.categories]
        if self.format == "yolo":
            ids = sorted({int(c["id"]) for c in categories} | set(range(len(class_names))))
            categories = [{"id": i, "name": class_names[i] if i < len(class_names) else str(i)} for i in ids]
        return {
            "info": {"description": f"yolo-tfserving eval: {self.root}"},
            "images": [
                {"id": im.id, "file_name": str(im.path), "width": im.width, "height": im.height} for im in self.images
            ],
            "annotations": [dict(a) for a in self.annotations],
            "categories": categories,
        }


def load_dataset(path: str | Path, *, images_dir: str | Path | None = None) -> Dataset:
    """A YOLO dataset folder, or a COCO JSON (a ``.json`` file, or a folder holding exactly one).

    ``DIR`` is read as YOLO when it has a ``labels/`` folder (or is itself an ``images/``
    folder with a sibling ``labels/``); otherwise a single ``*.json`` in it is the COCO
    annotations. COCO images are looked up in ``images_dir``, else ``images/`` beside the
    JSON, else the JSON's folder.
    """
    path = Path(path)
    images = Path(images_dir) if images_dir is not None else None
    if not path.exists():
        raise InputError(f"--data {path} does not exist")
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise InputError(
                f"--data {path} is a file but not a COCO .json; pass a YOLO dataset folder "
                "(images/ and labels/) or a COCO annotations .json"
            )
        return load_coco_dataset(path, images or _default_coco_images(path.parent))
    if images is None:
        if (path / "labels").is_dir():
            return load_yolo_dataset(path)
        if path.name == "images" and (path.parent / "labels").is_dir():
            return load_yolo_dataset(path.parent)
    jsons = sorted(path.glob("*.json"))
    if len(jsons) == 1:
        return load_coco_dataset(jsons[0], images or _default_coco_images(path))
    if len(jsons) > 1:
        raise InputError(
            f"{path} holds {len(jsons)} .json files; pass the annotations file itself: --data {jsons[0]} --images DIR"
        )
    if images is not None:
        raise InputError(f"--images is for COCO JSON datasets, and {path} holds no .json file")
    if (path / "images").is_dir():
        raise InputError(
            f"{path} has images/ but no labels/ folder: a YOLO dataset needs labels/<stem>.txt "
            "beside images/ (or pass a COCO JSON: --data annotations.json --images DIR)"
        )
    raise InputError(f"{path} is not a dataset: expected images/ and labels/ (YOLO) or a COCO annotations .json")


def _default_coco_images(folder: Path) -> Path:
    return folder / "images" if (folder / "images").is_dir() else folder


# -- YOLO ---------------------------------------------------------------------------------
def load_yolo_dataset(root: str | Path) -> Dataset:
    """``root/images/**`` with ``root/labels/**/<stem>.txt`` (see the module docstring)."""
    root = Path(root)
    images_root, labels_root = root / "images", root / "labels"
    if not images_root.is_dir():
        raise InputError(f"{root} has no images/ folder (YOLO layout: {root}/images and {root}/labels)")
    if not labels_root.is_dir():
        raise InputError(
            f"{root} has images/ but no labels/ folder: a YOLO dataset needs labels/<stem>.txt beside images/"
        )
    paths = sorted(p for p in images_root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise InputError(f"no images in {images_root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    records: list[ImageRecord] = []
    annotations: list[dict[str, Any]] = []
    class_ids: set[int] = set()
    labelled = 0
    for image_id, image_path in enumerate(paths, start=1):
        height, width = upright_size_hw(image_path)
        records.append(ImageRecord(id=image_id, path=image_path, width=width, height=height))
        label_path = (labels_root / image_path.relative_to(images_root)).with_suffix(".txt")
        if not label_path.is_file():
            continue
        labelled += 1
        for cls, (cx, cy, w, h), polygon in read_yolo_label_rows(label_path):
            class_ids.add(cls)
            bw, bh = w * width, h * height
            annotation: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cls,
                "bbox": [(cx - w / 2) * width, (cy - h / 2) * height, bw, bh],
                "area": bw * bh,
                "iscrowd": 0,
            }
            if polygon is not None:
                annotation["segmentation"] = [_polygon_pixels(polygon, width, height)]
            annotations.append(annotation)
    if not labelled:
        raise InputError(
            f"none of the {len(paths)} images under {images_root} has a label file in {labels_root} "
            "(expected labels/<stem>.txt)"
        )
    if len(paths) - labelled:
        log.info("%d of %d images have no label file (background images)", len(paths) - labelled, len(paths))
    categories = tuple({"id": c, "name": str(c)} for c in sorted(class_ids))
    return Dataset(
        root=root, format="yolo", images=tuple(records), annotations=tuple(annotations), categories=categories
    )


def read_yolo_labels(path: Path) -> list[tuple[int, tuple[float, float, float, float]]]:
    """``(class, (cx, cy, w, h))`` rows of one label file, normalised; duplicates once."""
    return [(cls, box) for cls, box, _ in read_yolo_label_rows(path)]


def _polygon_pixels(polygon: tuple[float, ...], width: int, height: int) -> list[float]:
    """A normalised ``x1 y1 x2 y2 ...`` polygon in pixels, as COCO's flat ``[x1, y1, ...]`` list."""
    xy = np.asarray(polygon, dtype=np.float64).reshape(-1, 2) * np.asarray([width, height], dtype=np.float64)
    return [float(v) for v in xy.reshape(-1)]


def read_yolo_label_rows(
    path: Path,
) -> list[tuple[int, tuple[float, float, float, float], tuple[float, ...] | None]]:
    """``(class, (cx, cy, w, h), polygon)`` rows of one label file, normalised; duplicates once.

    ``polygon`` is a YOLO-seg line's ``x1 y1 x2 y2 ...`` (``None`` for a box line).
    """
    rows: list[tuple[int, tuple[float, float, float, float], tuple[float, ...] | None]] = []
    seen: set[tuple[float, ...]] = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise InputError(f"{path}:{number}: not a YOLO label line (class cx cy w h): {line.strip()!r}") from None
        polygon: tuple[float, ...] | None = None
        if len(values) == 5:
            box = (values[1], values[2], values[3], values[4])
        elif len(values) >= 7 and len(values) % 2 == 1:  # a polygon: its bounding box, as YOLOv5's segments2boxes
            xy = np.asarray(values[1:], dtype=np.float64).reshape(-1, 2)
            (x1, y1), (x2, y2) = xy.min(0), xy.max(0)
            box = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
            polygon = tuple(values[1:])
        else:
            raise InputError(f"{path}:{number}: expected 'class cx cy w h' (5 numbers), got {len(values)}")
        cls = values[0]
        if cls < 0 or cls != int(cls) or not all(np.isfinite(box)) or box[2] < 0 or box[3] < 0:
            raise InputError(
                f"{path}:{number}: invalid label {line.strip()!r} (class must be a non-negative integer, "
                "w and h non-negative)"
            )
        key = (cls, *box)  # YOLOv5 drops duplicate boxes, with their segments
        if key in seen:
            continue
        seen.add(key)
        rows.append((int(cls), box, polygon))
    return rows


def upright_size_hw(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image as displayed (EXIF orientation applied), from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot read image {path}: {exc}") from exc
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return height, width


# -- COCO JSON ----------------------------------------------------------------------------
def load_coco_dataset(json_path: str | Path, images_dir: str | Path) -> Dataset:
    """A COCO annotations file; images are ``images_dir / file_name``."""
    json_path, images_dir = Path(json_path), Path(images_dir)
    try:
        data = json.loads(json_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{json_path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise InputError(f"{json_path} is not a COCO annotations file (needs 'images', 'annotations' and 'categories')")
    if not images_dir.is_dir():
        raise InputError(f"images folder {images_dir} does not exist (pass --images DIR)")
    records: list[ImageRecord] = []
    for entry in sorted(data["images"], key=lambda e: e["id"]):
        name = str(entry["file_name"])
        path = images_dir / name
        if not path.is_file() and (images_dir / Path(name).name).is_file():
            path = images_dir / Path(name).name
        if not path.is_file():
            raise InputError(f"image {name} of {json_path} is not in {images_dir} (pass --images DIR)")
        if "width" in entry and "height" in entry:
            height, width = int(entry["height"]), int(entry["width"])
        else:
            height, width = upright_size_hw(path)
        records.append(ImageRecord(id=int(entry["id"]), path=path, width=width, height=height))
    if not records:
        raise InputError(f"{json_path} lists no images")
    known = {r.id for r in records}
    raw = [a for a in data["annotations"] if a.get("image_id") in known]
    ids = [a.get("id") for a in raw]
    renumber = any(not isinstance(i, int) or i <= 0 for i in ids) or len(set(ids)) != len(ids)
    annotations = []
    for n, ann in enumerate(raw, start=1):
        x, y, w, h = (float(v) for v in ann["bbox"])
        annotations.append(
            {
                "id": n if renumber else int(ann["id"]),
                "image_id": int(ann["image_id"]),
                "category_id": int(ann["category_id"]),
                "bbox": [x, y, w, h],
                "area": float(ann.get("area", w * h)),
                "iscrowd": int(ann.get("iscrowd", 0)),
                **({"segmentation": ann["segmentation"]} if ann.get("segmentation") else {}),
            }
        )
    categories = tuple({"id": int(c["id"]), "name": str(c.get("name", c["id"]))} for c in data["categories"])
    return Dataset(
        root=json_path, format="coco", images=tuple(records), annotations=tuple(annotations), categories=categories
    )
