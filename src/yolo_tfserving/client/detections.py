"""``Detections``: one image's results as parallel numpy arrays, validated on construction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError, MissingDependencyError
from ..ops.masks import MaskCrops


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes in original-image pixels (``xyxy``), with confidence and class per row.

    Index with a boolean mask, an integer array or a slice to get a new ``Detections``::

        people = dets[dets.class_id == 0]
        confident = dets[dets.confidence > 0.5]

    ``a == b`` compares values: the same rows, in the same order, with exactly equal arrays and the
    same ``image_size_hw`` (use ``np.allclose`` on the arrays for a tolerance). Detections are not
    hashable (their arrays are mutable).

    A segmentation model's results also hold ``mask_crops`` (each mask inside its integer window,
    see :class:`~yolo_tfserving.ops.masks.MaskCrops`); :attr:`mask` decodes them lazily to
    ``bool [n, H, W]`` in original-image pixels. Indexing keeps masks aligned with their rows and
    ``==`` compares them too.
    """

    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]
    class_id: NDArray[np.int64]
    class_name: NDArray[np.str_] = field(default_factory=lambda: np.zeros((0,), dtype=str))
    image_size_hw: tuple[int, int] | None = None
    mask_crops: MaskCrops | None = None

    def __post_init__(self) -> None:
        xyxy = (
            np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
            if np.size(self.xyxy)
            else np.zeros((0, 4), np.float32)
        )
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        n = len(xyxy)
        names = np.asarray(self.class_name, dtype=str).reshape(-1)
        if names.size == 0 and n:
            names = np.asarray([str(c) for c in class_id], dtype=str)
        for label, arr in (("confidence", confidence), ("class_id", class_id), ("class_name", names)):
            if len(arr) != n:
                raise InputError(f"Detections: {label} has {len(arr)} rows, xyxy has {n}")
        if n and not np.isfinite(xyxy).all():
            raise InputError("Detections: xyxy must be finite")
        if n and ((xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any()):
            raise InputError("Detections: boxes must satisfy x1 <= x2 and y1 <= y2")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)
        object.__setattr__(self, "class_name", names)
        self._check_masks(n)

    def _check_masks(self, n: int) -> None:
        if self.mask_crops is None:
            return
        if len(self.mask_crops) != n:
            raise InputError(f"Detections: {len(self.mask_crops)} masks for {n} rows")
        if self.image_size_hw is None:
            object.__setattr__(self, "image_size_hw", self.mask_crops.image_hw)
        elif tuple(self.image_size_hw) != self.mask_crops.image_hw:
            raise InputError(f"Detections: masks are {self.mask_crops.image_hw}, the image is {self.image_size_hw}")

    @property
    def mask(self) -> NDArray[np.bool_] | None:
        """``bool [n, H, W]`` instance masks in original-image pixels (``None`` unless a segmentation model)."""
        return None if self.mask_crops is None else self.mask_crops.dense()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (
            self.image_size_hw == other.image_size_hw
            and np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.confidence, other.confidence)
            and np.array_equal(self.class_id, other.class_id)
            and np.array_equal(self.class_name, other.class_name)
            and self.mask_crops == other.mask_crops
        )

    __hash__ = None  # type: ignore[assignment]

    # -- constructors -------------------------------------------------------------
    @classmethod
    def empty(cls, image_size_hw: tuple[int, int] | None = None) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, dtype=str),
            image_size_hw,
        )

    @classmethod
    def from_serving_outputs(
        cls, outputs: dict[str, Any], index: int = 0, *, image_size_hw: tuple[int, int] | None = None
    ) -> Detections:
        """From ``serving_default``/``detect`` outputs (padded to max_det; ``num_detections`` counts)."""
        n = int(np.asarray(outputs["num_detections"]).reshape(-1)[index])
        names = np.asarray(outputs["class_names"])[index][:n]
        mask_crops = _mask_crops_from_outputs(outputs, index, n, image_size_hw)
        return cls(
            xyxy=np.asarray(outputs["boxes"], dtype=np.float32)[index][:n],
            confidence=np.asarray(outputs["scores"], dtype=np.float32)[index][:n],
            class_id=np.asarray(outputs["classes"])[index][:n],
            class_name=np.asarray([x.decode() if isinstance(x, bytes) else str(x) for x in names], dtype=str),
            image_size_hw=image_size_hw,
            mask_crops=mask_crops,
        )

    @classmethod
    def from_arrays(
        cls,
        xyxy: Any,
        confidence: Any,
        class_id: Any,
        *,
        names: Sequence[str] | None = None,
        image_size_hw: tuple[int, int] | None = None,
        mask_crops: MaskCrops | None = None,
    ) -> Detections:
        class_id = np.asarray(class_id, dtype=np.int64).reshape(-1)
        class_name = np.asarray([names[c] if names and 0 <= c < len(names) else str(c) for c in class_id], dtype=str)
        return cls(xyxy, confidence, class_id, class_name, image_size_hw, mask_crops)

    # -- container protocol --------------------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        masks = None if self.mask_crops is None else self.mask_crops.select(index)
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.class_name[index],
            self.image_size_hw,
            masks,
        )

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self.xyxy[i], float(self.confidence[i]), int(self.class_id[i]), str(self.class_name[i])

    # -- export --------------------------------------------------------------------
    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per row; with masks also ``mask_window`` (``x0, y0, x1, y1``) and ``mask_png_b64``
        (the window's crop as a base64 8-bit PNG, empty for an empty window)."""
        rows = self._box_dicts()
        if self.mask_crops is not None:
            import base64

            windows, pngs = self.mask_crops.windows.tolist(), self.mask_crops.pngs()
            for row, window, png in zip(rows, windows, pngs, strict=True):
                row["mask_window"] = window
                row["mask_png_b64"] = base64.b64encode(png).decode("ascii")
        return rows

    def _box_dicts(self) -> list[dict[str, Any]]:
        return [
            {
                "xyxy": [round(float(v), 3) for v in box],
                "confidence": round(conf, 5),
                "class_id": cid,
                "class_name": name,
            }
            for box, conf, cid, name in self
        ]

    def to_json(self) -> str:
        return json.dumps(self.to_dicts())

    def to_coco(self, image_id: int | str, *, category_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """COCO results rows: ``bbox`` is ``[x, y, w, h]``; ``category_id`` maps through ``category_ids``.

        With masks, each row also has ``segmentation``: the mask as COCO RLE (pycocotools'
        ``mask.encode``, ``counts`` as a string; needs the ``eval`` extra).
        """
        segmentations = _coco_rles(self.mask_crops) if self.mask_crops is not None else None
        rows = []
        for i, (box, conf, cid, _) in enumerate(self):
            x1, y1, x2, y2 = (float(v) for v in box)
            category = category_ids[cid] if category_ids is not None else cid
            rows.append(
                {
                    "image_id": image_id,
                    "category_id": int(category),
                    "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                    "score": round(conf, 5),
                }
            )
            if segmentations is not None:
                rows[-1]["segmentation"] = segmentations[i]
        return rows

    def annotate(self, image: Any, *, line_width: int | None = None) -> Any:
        """Draw labelled boxes (and masks, blended at 50%) on a copy of ``image`` (PIL image or HWC RGB
        array); returns a PIL image."""
        from PIL import Image, ImageDraw

        canvas = image.copy() if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
        canvas = canvas.convert("RGB")
        if self.mask_crops is not None:
            canvas = _blend_masks(canvas, self.mask_crops, self.class_id)
        draw = ImageDraw.Draw(canvas)
        width = line_width or max(2, round(sum(canvas.size) / 2 * 0.003))
        for box, conf, cid, name in self:
            color = _PALETTE[cid % len(_PALETTE)]
            x1, y1, x2, y2 = (float(v) for v in box)
            draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
            label = f"{name} {conf:.2f}"
            left, top, right, bottom = draw.textbbox((x1, y1), label)
            text_h = bottom - top
            y_text = y1 - text_h - 4 if y1 - text_h - 4 >= 0 else y1
            draw.rectangle((x1, y_text, x1 + (right - left) + 4, y_text + text_h + 4), fill=color)
            draw.text((x1 + 2, y_text + 1), label, fill=(255, 255, 255))
        return canvas

    # -- supervision interop (the ``supervision`` extra) -----------------------------------
    def to_supervision(self) -> Any:
        """A ``supervision.Detections`` (``xyxy``, ``confidence``, ``class_id``; the class names in
        ``data["class_name"]``; a segmentation model's masks as ``mask``), for supervision's trackers
        and annotators."""
        sv = _require_supervision()
        return sv.Detections(
            xyxy=self.xyxy.astype(np.float32),
            mask=self.mask,
            confidence=self.confidence.copy(),
            class_id=self.class_id.astype(int),
            data={"class_name": self.class_name.copy()},
        )

    @classmethod
    def from_supervision(
        cls, detections: Any, *, names: Sequence[str] | None = None, image_size_hw: tuple[int, int] | None = None
    ) -> Detections:
        """From a ``supervision.Detections``. Class names come from ``data["class_name"]`` or ``names``
        (else the ids); a missing ``confidence`` reads as 1; ``mask`` becomes the masks. Tracker ids are not carried."""
        _require_supervision()
        n = len(detections.xyxy)
        if detections.class_id is None and n:
            raise InputError("Detections.from_supervision: the supervision detections have no class_id")
        class_id = np.zeros(0, np.int64) if detections.class_id is None else np.asarray(detections.class_id)
        confidence = np.ones(n, np.float32) if detections.confidence is None else detections.confidence
        stored = detections.data.get("class_name") if isinstance(detections.data, dict) else None
        masks = None if getattr(detections, "mask", None) is None else MaskCrops.from_dense(detections.mask)
        if stored is not None and len(stored) == n:
            return cls(detections.xyxy, confidence, class_id, np.asarray(stored, dtype=str), image_size_hw, masks)
        return cls.from_arrays(
            detections.xyxy, confidence, class_id, names=names, image_size_hw=image_size_hw, mask_crops=masks
        )


def _require_supervision() -> Any:
    try:
        import supervision
    except ImportError as exc:
        from .._errors import MissingDependencyError

        raise MissingDependencyError("supervision", "supervision") from exc
    return supervision


# -- masks (segmentation models) ---------------------------------------------------
MASK_ALPHA = 0.5  # YOLOv5's Annotator.masks


def _mask_crops_from_outputs(
    outputs: dict[str, Any], index: int, n: int, image_size_hw: tuple[int, int] | None
) -> MaskCrops | None:
    """The ``mask_boxes`` + ``masks_png_bytes`` outputs of a segmentation model, or ``None``."""
    if "masks_png_bytes" not in outputs or "mask_boxes" not in outputs:
        return None
    if image_size_hw is None:
        raise InputError("Detections: segmentation outputs need image_size_hw to place their masks")
    windows = np.asarray(outputs["mask_boxes"])[index][:n]
    row = [_as_bytes(p) for p in np.asarray(outputs["masks_png_bytes"], dtype=object)[index][:n]]
    return MaskCrops(windows, image_size_hw, pngs=row)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InputError(f"masks_png_bytes holds a {type(value).__name__}, not bytes")


def _coco_rles(masks: MaskCrops) -> list[dict[str, Any]]:
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise MissingDependencyError("pycocotools", "eval") from None
    rles = []
    for i in range(len(masks)):
        rle = mask_utils.encode(np.asfortranarray(masks.dense_one(i).astype(np.uint8)))
        counts = rle["counts"]
        rles.append(
            {"size": [int(v) for v in rle["size"]], "counts": counts.decode() if isinstance(counts, bytes) else counts}
        )
    return rles


def _blend_masks(canvas: Any, masks: MaskCrops, class_ids: NDArray[np.int64]) -> Any:
    from PIL import Image

    pixels = np.asarray(canvas, dtype=np.float32).copy()
    if pixels.shape[:2] != masks.image_hw:
        raise InputError(f"annotate: the image is {pixels.shape[:2]}, its masks are {masks.image_hw}")
    for crop, (x0, y0, x1, y1), cid in zip(masks.crops(), masks.windows.tolist(), class_ids.tolist(), strict=True):
        color = np.asarray(_PALETTE[cid % len(_PALETTE)], np.float32)
        region = pixels[y0:y1, x0:x1]
        region[crop] = region[crop] * (1 - MASK_ALPHA) + color * MASK_ALPHA
    return Image.fromarray(np.round(pixels).astype(np.uint8))


_PALETTE = [
    (255, 56, 56),
    (255, 157, 151),
    (255, 112, 31),
    (255, 178, 29),
    (207, 210, 49),
    (72, 249, 10),
    (146, 204, 23),
    (61, 219, 134),
    (26, 147, 52),
    (0, 212, 187),
    (44, 153, 168),
    (0, 194, 255),
    (52, 69, 147),
    (100, 115, 255),
    (0, 24, 236),
    (132, 56, 255),
    (82, 0, 133),
    (203, 56, 255),
    (255, 149, 200),
    (255, 55, 199),
]
