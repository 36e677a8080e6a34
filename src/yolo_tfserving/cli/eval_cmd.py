"""``eval``: COCO mAP (pycocotools) of a model through one backend, or several side by side."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .._frameworks import configure as configure_frameworks
from .._frameworks import preload_tensorflow
from ._errors import friendly_errors
from ._output import Reporter


class _StderrHandler(logging.Handler):
    """Log lines to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr, flush=True)


def _log_to_stderr() -> None:
    logger = logging.getLogger("yolo_tfserving.evaluation")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _backend_names(
    backend: str | None,
    compare: str | None,
    *,
    url: str | None,
    grpc: str | None,
    model_dir: Path | None,
    weights: Path | None,
) -> list[str]:
    from .._errors import InputError
    from ..evaluation import BACKENDS

    if compare:
        if backend:
            raise InputError("pass either --backend or --compare, not both")
        names = [n.strip() for n in compare.split(",") if n.strip()]
        if len(set(names)) != len(names):
            raise InputError(f"--compare lists a backend twice: {compare}")
    elif backend:
        names = [backend]
    elif url:
        names = ["grpc" if url.startswith("grpc://") else "rest"]
    elif grpc:
        names = ["grpc"]
    elif model_dir:
        names = ["tf"]
    elif weights:
        names = ["onnxruntime" if weights.suffix.lower() == ".onnx" else "torch"]
    else:
        raise InputError(
            "nothing to evaluate: add --weights model.pt, --model-dir DIR, --url http://host:8501 or --grpc host:8500"
        )
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise InputError(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
    return names


def eval_command(
    data: Annotated[Path, typer.Option("--data", help="YOLO dataset folder, COCO .json, or a folder with one .json")],
    images: Annotated[Path | None, typer.Option("--images", help="Image folder of a COCO JSON dataset")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Served model's REST address, http://host:8501")] = None,
    grpc: Annotated[str | None, typer.Option("--grpc", help="Served model's gRPC address, host:8500")] = None,
    backend: Annotated[
        str | None, typer.Option("--backend", help="torch, onnxruntime, tf, tf-bf16, tf-detect, rest or grpc")
    ] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="YOLOv5 .pt (torch) or .onnx (onnxruntime)")] = None,
    model_dir: Annotated[
        Path | None, typer.Option("--model-dir", help="Exported model or version directory (onnxruntime, tf)")
    ] = None,
    model_name: Annotated[str, typer.Option("--model-name", help="Served model name (rest, grpc)")] = "yolov5",
    imgsz: Annotated[
        int | None, typer.Option("--imgsz", help="Square input size [default: the exported size, else 640]")
    ] = None,
    conf: Annotated[float, typer.Option("--conf", help="Confidence threshold")] = 0.001,
    iou: Annotated[float, typer.Option("--iou", help="NMS IoU threshold")] = 0.6,
    max_det: Annotated[int, typer.Option("--max-det", help="Maximum detections per image")] = 300,
    single_label: Annotated[
        bool, typer.Option("--single-label", help="Best class per box only (val.py uses multi-label)")
    ] = False,
    mode: Annotated[
        str, typer.Option("--mode", help="rest/grpc: client (NMS here, multi-label) or server (in-graph detect)")
    ] = "client",
    compare: Annotated[
        str | None, typer.Option("--compare", help="Comma-separated backends to run side by side, e.g. torch,tf,rest")
    ] = None,
    max_images: Annotated[int | None, typer.Option("--max-images", help="Use only the first N images")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    """COCO mAP50-95 / mAP50 (pycocotools) of a model on a labelled dataset.

    Datasets (--data):
    - YOLO: DIR/images/... with DIR/labels/<same path>.txt lines
      'class cx cy w h' (normalised); COCO category id = class index.
    - COCO JSON: --data annotations.json [--images DIR] (default: the
      images/ folder beside the JSON), or a DIR without labels/ that
      holds exactly one *.json.

    Backends (--backend; --compare a,b,c runs several on the same images):
    - torch: --weights model.pt
    - onnxruntime: --model-dir DIR (assets.extra/model.onnx) or
      --weights model.onnx
    - tf, tf-bf16, tf-detect: --model-dir DIR, in-process, via the raw signature
      (NMS here; tf-bf16 in bfloat16, as serve --mixed_precision=bfloat16) or the
      in-graph detect signature
    - rest: --url http://host:8501, grpc: --grpc host:8500; --mode
      client (default: NMS here, multi-label) or server (in-graph NMS,
      whose multi-label is fixed at export time)
    Without --backend: --url -> rest, --grpc -> grpc, --model-dir -> tf,
    --weights -> torch.

    Settings are YOLOv5 val.py's: conf 0.001, IoU 0.6, multi-label NMS,
    at most 300 detections, square letterbox at the model size (--imgsz
    default: the exported size, else 640). Scores are COCOeval's
    (maxDets 100), so they may differ slightly from val.py's own mAP.
    """
    configure_frameworks()
    preload_tensorflow()
    _log_to_stderr()
    reporter = Reporter(json_output=json_output)
    with friendly_errors(reporter.error):
        from ..evaluation import eval_nms_config, evaluate, load_dataset, make_backend

        names = _backend_names(backend, compare, url=url, grpc=grpc, model_dir=model_dir, weights=weights)
        nms = eval_nms_config(conf_threshold=conf, iou_threshold=iou, max_det=max_det, multi_label=not single_label)
        dataset = load_dataset(data, images_dir=images).head(max_images)
        reporter.log(
            f"eval: {len(dataset)} images, {dataset.num_boxes} boxes ({dataset.format} format), "
            f"backends {', '.join(names)}"
        )
        results = []
        for name in names:
            runner = make_backend(
                name,
                weights=weights,
                model_dir=model_dir,
                url=url,
                grpc_target=grpc,
                nms_config=nms,
                imgsz=imgsz,
                mode=mode,
                model_name=model_name,
            )
            try:
                with reporter.progress(name, total=len(dataset)) as advance:
                    result = evaluate(dataset, runner, progress=advance)
            finally:
                runner.close()
            masks = "" if result.mask_map50_95 is None else f"  mask mAP50-95 {result.mask_map50_95:.4f}"
            reporter.log(
                f"{name}: mAP50-95 {result.map50_95:.4f}  mAP50 {result.map50:.4f}{masks}  "
                f"({result.images} images, {result.seconds:.1f} s)"
            )
            results.append(result)
        payload = _payload(data, dataset, nms, imgsz=imgsz, mode=mode, results=results)
        if json_output:
            reporter.data(payload)
            return
        if len(results) == 1:
            _single_tables(reporter, results[0])
        else:
            _compare_table(reporter, payload["comparison"])


def _payload(data: Path, dataset: Any, nms: Any, *, imgsz: int | None, mode: str, results: list[Any]) -> dict[str, Any]:
    first = results[0]
    comparison = [
        {
            "backend": r.backend,
            "map50_95": r.map50_95,
            "map50": r.map50,
            "delta_map50_95": r.map50_95 - first.map50_95,
            "delta_map50": r.map50 - first.map50,
            "seconds": round(r.seconds, 3),
        }
        for r in results
    ]
    return {
        "dataset": {"path": str(data), "format": dataset.format, "images": len(dataset), "boxes": dataset.num_boxes},
        "settings": {
            "conf_threshold": nms.conf_threshold,
            "iou_threshold": nms.iou_threshold,
            "max_det": nms.max_det,
            "multi_label": nms.multi_label,
            "imgsz": imgsz,
            "mode": mode,
        },
        "results": [r.to_json() for r in results],
        "comparison": comparison,
    }


def _single_tables(reporter: Reporter, result: Any) -> None:
    reporter.table(
        f"Evaluation ({result.backend})",
        [
            ("mAP50-95", f"{result.map50_95:.4f}"),
            ("mAP50", f"{result.map50:.4f}"),
            *_mask_rows(result),
            ("images", str(result.images)),
            ("detections", str(result.detections)),
            ("time", f"{result.seconds:.1f} s"),
        ],
    )
    rows = [(str(c.class_id), c.name, str(c.n_gt), f"{c.ap50_95:.4f}", f"{c.ap50:.4f}") for c in result.per_class]
    reporter.rows_table("Per-class AP (classes with ground truth)", ["id", "class", "boxes", "AP50-95", "AP50"], rows)


def _mask_rows(result: Any) -> list[tuple[str, str]]:
    """A segmentation model's mask AP (pycocotools ``segm``), when the labels have polygons."""
    if result.mask_map50_95 is None:
        return []
    return [("mask mAP50-95", f"{result.mask_map50_95:.4f}"), ("mask mAP50", f"{result.mask_map50:.4f}")]


def _compare_table(reporter: Reporter, comparison: list[dict[str, Any]]) -> None:
    first = comparison[0]["backend"]
    rows = [
        (
            c["backend"],
            f"{c['map50_95']:.4f}",
            f"{c['map50']:.4f}",
            f"{c['delta_map50_95']:+.4f}",
            f"{c['delta_map50']:+.4f}",
            f"{c['seconds']:.1f} s",
        )
        for c in comparison
    ]
    reporter.rows_table(
        f"Backends compared (deltas vs {first})",
        ["backend", "mAP50-95", "mAP50", "Δ mAP50-95", "Δ mAP50", "time"],
        rows,
    )
