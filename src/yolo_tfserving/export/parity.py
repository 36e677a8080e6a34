"""Parity between PyTorch, ONNX Runtime and the exported SavedModel's signatures.

Raw predictions are compared element-wise. Box sizes are in pixels (up to ~1,500), where
float32 itself is coarse: PyTorch float32 differs from PyTorch float64 by ~2e-3 px on
``wh``. So the tolerance is mixed, ``|a - b| <= tol * max(1, |b|)``: absolute for the
probabilities and sub-pixel offsets, relative for large box sizes. Both the absolute and
the scaled maxima are reported. Detections from the in-graph
``serving_default`` are matched 1:1 against a reference pipeline with YOLOv5's semantics
(our numpy letterbox -> PyTorch -> our numpy NMS -> scale back): same class and IoU >= a
floor. A detection whose score is within ``score_margin`` of the confidence threshold may
be missing on one side (float noise decides which side of the threshold it falls). A detection
whose absence on one side is an NMS near-tie (two overlapping boxes scored within the raw
tolerance, or an IoU within ``nms_iou_margin`` of the NMS threshold: see :mod:`.parity_ties`) is
reported as a near-tie, not a failure; a box that moved, vanished or changed its score past the
tolerance fails.

Without PyTorch weights (an export from a YOLOv5 ``.onnx``), the ONNX file under ONNX
Runtime is the reference instead; the report says which one it used.

A ``--rect`` export is checked at each image's own rectangle (YOLOv5's ``letterbox(auto=True)``):
``raw`` against PyTorch there, and ``serving_default`` against the reference pipeline with that
letterbox; the ONNX file (fixed at the square size) is checked on the square canvas.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._deps import require
from .._errors import InputError
from ..ops import box_iou, detections_from_predictions, letterbox_batch
from .parity_ties import Detections, NMSInputs, TieCheck


@dataclass(frozen=True)
class ParityOptions:
    raw_tolerance: float = 1e-3
    iou_floor: float = 0.98
    score_margin: float = 0.01
    nms_iou_margin: float = 1e-3  # an IoU this close to the NMS threshold is a near-tie
    max_images: int | None = None


@dataclass
class DetectionMatch:
    matched: int = 0
    missing: int = 0  # in the reference, not in the candidate
    extra: int = 0  # in the candidate, not in the reference
    excused: int = 0  # unmatched but within score_margin of the threshold
    near_tie: int = 0  # unmatched, explained by an NMS near-tie (see parity_ties)
    min_iou: float = 1.0
    max_score_diff: float = 0.0

    def add(self, other: DetectionMatch) -> None:
        self.matched += other.matched
        self.missing += other.missing
        self.extra += other.extra
        self.excused += other.excused
        self.near_tie += other.near_tie
        self.min_iou = min(self.min_iou, other.min_iou)
        self.max_score_diff = max(self.max_score_diff, other.max_score_diff)

    @property
    def passed(self) -> bool:
        return self.missing == 0 and self.extra == 0


@dataclass
class ParityReport:
    images: int
    raw_max_abs_diff: dict[str, float]
    raw_max_scaled_diff: dict[str, float]
    detections: DetectionMatch
    options: ParityOptions
    per_image_failures: list[str] = field(default_factory=list)
    per_image_near_ties: list[str] = field(default_factory=list)
    reference: str = "pytorch"  # "onnxruntime" when only the ONNX file is known (a .onnx export)

    @property
    def passed(self) -> bool:
        raw_ok = all(v <= self.options.raw_tolerance for v in self.raw_max_scaled_diff.values())
        return raw_ok and self.detections.passed

    def to_json(self) -> dict[str, Any]:
        d = self.detections
        return {
            "passed": self.passed,
            "images": self.images,
            "reference": self.reference,
            "raw_max_abs_diff": self.raw_max_abs_diff,
            "raw_max_scaled_diff": self.raw_max_scaled_diff,
            "raw_tolerance": self.options.raw_tolerance,
            "detections": detections_json(d, iou_floor=self.options.iou_floor),
            "failures": self.per_image_failures[:20],
            "near_ties": self.per_image_near_ties[:20],
        }

    def summary(self) -> str:
        lines = raw_lines(self.raw_max_abs_diff, self.raw_max_scaled_diff, self.options.raw_tolerance)
        lines.append(detections_line(self.detections))
        lines.extend(self.per_image_failures[:5])
        return "\n".join(lines)


def detections_json(d: DetectionMatch, *, iou_floor: float) -> dict[str, Any]:
    """A report's ``detections`` object (every task that runs NMS writes the same keys)."""
    return {
        "matched": d.matched,
        "missing": d.missing,
        "extra": d.extra,
        "excused_near_threshold": d.excused,
        "excused_near_tie": d.near_tie,
        "min_iou": d.min_iou,
        "max_score_diff": d.max_score_diff,
        "iou_floor": iou_floor,
    }


def raw_lines(abs_diff: dict[str, float], scaled_diff: dict[str, float], tolerance: float) -> list[str]:
    """A summary's lines for the raw outputs, one per compared runtime."""
    return [
        f"{k}: raw max|diff| {v:.2e} (scaled {scaled_diff[k]:.2e}, tolerance {tolerance:.0e})"
        for k, v in abs_diff.items()
    ]


def detections_line(d: DetectionMatch) -> str:
    return (
        f"serving_default: {d.matched} matched, {d.missing} missing, {d.extra} extra, "
        f"{d.excused} near threshold, {d.near_tie} near-tie; "
        f"min IoU {d.min_iou:.4f}, max score diff {d.max_score_diff:.4f}"
    )


def match_detections(
    ref: Detections,
    cand: Detections,
    *,
    conf_threshold: float,
    iou_floor: float,
    score_margin: float,
    ties: TieCheck | None = None,
) -> DetectionMatch:
    """Greedy 1:1 matching by class and IoU, highest reference score first; an unmatched detection is
    excused near the threshold, a near-tie when ``ties`` explains it, else missing or extra."""
    rb, rs, rc = ref
    cb, cs, cc = cand
    result = DetectionMatch()
    used = np.zeros(len(cb), dtype=bool)
    ious = (
        box_iou(rb.astype(np.float64), cb.astype(np.float64)) if len(rb) and len(cb) else np.zeros((len(rb), len(cb)))
    )
    for i in np.argsort(-rs, kind="stable"):
        candidates = np.where((cc == rc[i]) & ~used)[0]
        if candidates.size:
            j = candidates[np.argmax(ious[i, candidates])]
            if ious[i, j] >= iou_floor:
                used[j] = True
                result.matched += 1
                result.min_iou = min(result.min_iou, float(ious[i, j]))
                result.max_score_diff = max(result.max_score_diff, abs(float(rs[i]) - float(cs[j])))
                continue
        if rs[i] - conf_threshold <= score_margin:
            result.excused += 1
        elif ties is not None and ties.explains(rb[i], int(rc[i]), absent_from="candidate", kept=cand, floor=iou_floor):
            result.near_tie += 1
        else:
            result.missing += 1
    for j in np.where(~used)[0]:
        if cs[j] - conf_threshold <= score_margin:
            result.excused += 1
        elif ties is not None and ties.explains(cb[j], int(cc[j]), absent_from="reference", kept=ref, floor=iou_floor):
            result.near_tie += 1
        else:
            result.extra += 1
    return result


def load_rgb(path: Path) -> tuple[bytes, NDArray[np.uint8]]:
    """The bytes ``serving_default`` is sent and the upright HWC RGB array, as the client prepares them
    (one loader: EXIF orientation honoured; a rotated image is sent re-encoded upright, losslessly)."""
    from ..client.images import prepare

    prepared = prepare(path, max_pixels=0)
    return prepared.encoded, prepared.rgb


def _references(
    version_dir: Path, torch_model: Any | None, weights: Path | None, onnx_path: Path | None
) -> tuple[Any | None, Any | None]:
    """(PyTorch model, ONNX Runtime session): what the export is compared with; at least one of them."""
    ort = require("onnxruntime")
    from .._repository_layout import ONNX_ASSET, missing_onnx_message

    if torch_model is None and weights is not None:
        from ..yolov5.checkpoint import load_checkpoint

        torch_model = load_checkpoint(weights).model
    onnx_file = onnx_path or version_dir / ONNX_ASSET
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]) if onnx_file.is_file() else None
    if torch_model is None and session is None:
        remedy = "pass --weights model.pt (the checkpoint it came from)"
        raise InputError("verify needs a reference: " + missing_onnx_message(version_dir, remedy))
    return torch_model, session


def verify_parity(
    version_dir: Path,
    *,
    torch_model: Any | None = None,
    weights: Path | None = None,
    onnx_path: Path | None = None,
    images: Sequence[Path] = (),
    options: ParityOptions = ParityOptions(),
    progress: Any = None,
) -> ParityReport:
    """Run the same images through every backend and compare (see the module docstring)."""
    tf = require("tensorflow")
    torch = require("torch")
    from .._repository_layout import ExportMetadata

    meta = ExportMetadata.read(version_dir)
    size_hw = meta.size_hw
    nms_config = meta.nms
    conf = nms_config.conf_threshold
    torch_model, session = _references(version_dir, torch_model, weights, onnx_path)
    loaded = tf.saved_model.load(str(version_dir))
    raw_fn = loaded.signatures["raw"]
    detect_fn = (
        loaded.signatures["detect_images"]
        if "detect_images" in loaded.signatures
        else loaded.signatures["serving_default"]
    )

    samples = _image_samples(images, options.max_images)
    backends = ["onnxruntime", "savedmodel_raw"] if session and torch_model is not None else ["savedmodel_raw"]
    diffs = dict.fromkeys(backends, 0.0)
    scaled = dict.fromkeys(backends, 0.0)

    def record(backend: str, got: NDArray[np.float32], want: NDArray[np.float32]) -> None:
        err = np.abs(got - want)
        diffs[backend] = max(diffs[backend], float(err.max()))
        scaled[backend] = max(scaled[backend], float((err / np.maximum(1.0, np.abs(want))).max()))

    total = DetectionMatch()
    failures: list[str] = []
    near_ties: list[str] = []

    def run_raw(canvas: NDArray[np.uint8], *, with_onnx: bool) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(reference, SavedModel ``raw``) predictions for one canvas; ONNX Runtime recorded beside."""
        x = (canvas.astype(np.float32) / 255.0)[None]
        x_nchw = x.transpose(0, 3, 1, 2).copy()
        ort_raw = (
            session.run(None, {session.get_inputs()[0].name: x_nchw})[0] if session is not None and with_onnx else None
        )
        if torch_model is not None:
            with torch.no_grad():
                ref_raw = torch_model(torch.from_numpy(x_nchw)).numpy()
            if ort_raw is not None:
                record("onnxruntime", ort_raw, ref_raw)
        else:
            assert ort_raw is not None  # checked above: without PyTorch there is a session (square canvases)
            ref_raw = ort_raw
        tf_raw = raw_fn(images=tf.constant(x))["predictions"].numpy()
        record("savedmodel_raw", tf_raw, ref_raw)
        return ref_raw, tf_raw

    rect = meta.rect
    stride = meta.stride
    if rect and torch_model is None:
        raise InputError(
            "verify of a --rect export needs PyTorch as the reference at rectangular sizes: pass --weights model.pt"
        )
    for label, data, rgb in samples:
        canvases, (plan,) = letterbox_batch([rgb], size_hw, rect_stride=stride if rect else None)
        canvas = canvases[0]
        if rect:
            run_raw(letterbox_batch([rgb], size_hw)[0][0], with_onnx=True)  # the ONNX file's fixed size
        ref_raw, tf_raw = run_raw(canvas, with_onnx=not rect or canvas.shape[:2] == size_hw)
        ref = detections_from_predictions(ref_raw[0], plan, nms_config)
        out = detect_fn(images=tf.constant([data]))
        n = int(out["num_detections"].numpy()[0])
        cand = (out["boxes"].numpy()[0, :n], out["scores"].numpy()[0, :n], out["classes"].numpy()[0, :n])
        ties = TieCheck(
            reference=NMSInputs.from_raw(ref_raw[0], nms_config, plan),
            candidate=NMSInputs.from_raw(tf_raw[0], nms_config, plan),
            iou_threshold=nms_config.iou_threshold,
            score_tolerance=options.raw_tolerance,
            iou_margin=options.nms_iou_margin,
            agnostic=nms_config.agnostic,
        )
        match = match_detections(
            ref, cand, conf_threshold=conf, iou_floor=options.iou_floor, score_margin=options.score_margin, ties=ties
        )
        if not match.passed:
            failures.append(f"{label}: {match.missing} missing, {match.extra} extra")
        if match.near_tie:
            near_ties.append(f"{label}: {match.near_tie} near-tie")
        total.add(match)
        if progress is not None:
            progress()
    return ParityReport(
        images=len(samples),
        raw_max_abs_diff=diffs,
        raw_max_scaled_diff=scaled,
        detections=total,
        options=options,
        per_image_failures=failures,
        per_image_near_ties=near_ties,
        reference="pytorch" if torch_model is not None else "onnxruntime",
    )


def _image_samples(images: Sequence[Path], limit: int | None) -> list[tuple[str, bytes, NDArray[np.uint8]]]:
    paths = list(images)[:limit] if limit else list(images)
    if not paths:
        return [(name, data, rgb) for name, data, rgb in _synthetic_samples()]
    out = []
    for p in paths:
        data, rgb = load_rgb(p)
        out.append((p.name, data, rgb))
    return out


def _synthetic_samples() -> list[tuple[str, bytes, NDArray[np.uint8]]]:
    """Three encoded images of odd sizes (no data files needed); PNG so decoding is exact."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for h, w in ((480, 640), (333, 500), (720, 405)):
        base = np.zeros((h, w, 3), np.uint8)
        base[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None]
        base[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
        for _ in range(6):  # a few solid rectangles to give the model something to look at
            y0, x0 = rng.integers(0, h - 40), rng.integers(0, w - 40)
            base[y0 : y0 + rng.integers(20, h - y0), x0 : x0 + rng.integers(20, w - x0)] = rng.integers(0, 255, 3)
        buf = io.BytesIO()
        Image.fromarray(base).save(buf, format="PNG")
        out.append((f"synthetic-{h}x{w}.png", buf.getvalue(), base))
    return out
