"""``yolo-tfserving``: export, verify (and, as they land, serve, deploy, detect, eval, bench).

Data goes to stdout (a table, or JSON with ``--json``); logs and progress go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .._frameworks import configure as configure_frameworks
from .._frameworks import preload_tensorflow
from .._limits import DEFAULT_MAX_PIXELS
from ._errors import friendly_errors
from ._output import Reporter

app = typer.Typer(
    name="yolo-tfserving",
    help="Take a YOLOv5 PyTorch model to TensorFlow Serving and get correct detections back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


@app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show TensorFlow's and absl's own log lines (quiet by default).")
    ] = False,
) -> None:
    """Take a YOLOv5 PyTorch model to TensorFlow Serving and get correct detections back."""
    if verbose:
        configure_frameworks(verbose_output=True)


def _image_list(images: list[Path] | None) -> list[Path]:
    from ..client.inputs import expand_image_paths

    return expand_image_paths(images or [])


@app.command()
def export(
    weights: Annotated[Path, typer.Argument(help="YOLOv5 .pt checkpoint (v5.0-v7.0) or .onnx from YOLOv5's export.py")],
    out: Annotated[Path, typer.Option("--out", help="Model repository base directory")],
    name: Annotated[str, typer.Option(help="Model name (the repository's <name> directory)")] = "yolov5",
    version: Annotated[int, typer.Option(help="Version directory to write")] = 1,
    imgsz: Annotated[
        str,
        typer.Option(
            help="Input size: one side (square) or HEIGHT WIDTH (also HEIGHT,WIDTH), multiples of 32; "
            "with --rect, the size each image's long side is fitted to"
        ),
    ] = "640",
    rect: Annotated[
        bool,
        typer.Option(
            "--rect/--square",
            help="Rectangular inference: pad each batch only to the next stride multiple (YOLOv5 detect.py's "
            "letterbox), not to the full square; raw takes any stride-multiple H and W",
        ),
    ] = False,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch/--static-batch", help="Batch dimension")] = True,
    conf: Annotated[float, typer.Option(help="Default confidence threshold")] = 0.25,
    iou: Annotated[float, typer.Option(help="Default NMS IoU threshold")] = 0.45,
    max_det: Annotated[int, typer.Option("--max-det", help="Maximum detections per image")] = 300,
    agnostic: Annotated[bool, typer.Option(help="Class-agnostic NMS")] = False,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="Keep every class above the threshold")] = False,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels",
            help="Refuse images whose header states more pixels, before decoding them (0: no limit)",
        ),
    ] = DEFAULT_MAX_PIXELS,
    nchw_signature: Annotated[
        str, typer.Option(help="The original write-up's NCHW 'input'->'output' signature: none, add or default")
    ] = "add",
    opset: Annotated[int, typer.Option(help="ONNX opset")] = 12,
    force: Annotated[bool, typer.Option(help="Replace an existing version")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check parity before finishing")] = True,
    verify_images: Annotated[
        list[Path] | None, typer.Option("--verify-images", help="Images (files, folders, globs) for the parity check")
    ] = None,
    keep_onnx: Annotated[
        bool,
        typer.Option(
            "--onnx/--no-onnx", help="Keep the intermediate ONNX in assets.extra/ (verify's and eval's reference)"
        ),
    ] = True,
    json_output: JsonFlag = False,
) -> None:
    """Export a YOLOv5 model into a TF Serving model repository, verified against PyTorch."""
    configure_frameworks()
    preload_tensorflow()
    reporter = Reporter(json_output=json_output)
    with friendly_errors(reporter.error):
        from ..export.pipeline import ExportOptions, export_model
        from ..ops import NMSConfig

        options = ExportOptions(
            name=name,
            version=version,
            imgsz=_parse_imgsz(imgsz),
            rect=rect,
            dynamic_batch=dynamic_batch,
            nms=NMSConfig(
                conf_threshold=conf, iou_threshold=iou, max_det=max_det, agnostic=agnostic, multi_label=multi_label
            ),
            max_pixels=max_pixels,
            nchw_signature=nchw_signature,
            opset=opset,
            force=force,
            verify=verify,
            verify_images=_image_list(verify_images)[:16],
            keep_onnx=keep_onnx,
        )
        from ..export.interrupt import exit_on_interrupt

        with exit_on_interrupt(), reporter.steps("export") as step:
            result = export_model(weights, out, options=options, progress=step)
        data = result.to_json()
        if json_output:
            reporter.data(data)
            return
        rows = [
            ("model", f"{result.model_name} v{result.version}"),
            ("written to", str(result.version_dir)),
            ("input", f"{result.size_hw[0]}x{result.size_hw[1]}, {len(result.class_names)} classes"),
            ("signatures", ", ".join(result.signatures)),
            ("max pixels", f"{max_pixels:,}" if max_pixels else "no limit"),
        ]
        rows += [(f"time: {k}", f"{v:.1f} s") for k, v in result.seconds.items()]
        if result.parity:
            rows.append(("parity", "passed" if result.parity["passed"] else "FAILED"))
        reporter.table("Export", rows)
        if result.parity:
            _parity_table(reporter, result.parity)


@app.command("verify")
def verify_cmd(
    model_dir: Annotated[Path, typer.Argument(help="A version directory, or a model directory (newest version)")],
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help="The YOLOv5 .pt it was exported from (without it: ONNX Runtime is the reference)"
        ),
    ] = None,
    images: Annotated[list[Path] | None, typer.Option("--images", help="Images: files, folders or globs")] = None,
    max_images: Annotated[int | None, typer.Option("--max-images", help="Use at most this many images")] = None,
    tolerance: Annotated[float, typer.Option(help="Raw-output tolerance (mixed abs/rel)")] = 1e-3,
    iou_floor: Annotated[float, typer.Option("--iou-floor", help="Minimum IoU of a matched detection")] = 0.98,
    json_output: JsonFlag = False,
) -> None:
    """Compare PyTorch (or, without --weights, ONNX Runtime) with the SavedModel's signatures on the same images."""
    configure_frameworks()
    preload_tensorflow()
    reporter = Reporter(json_output=json_output)
    with friendly_errors(reporter.error):
        from .._repository_layout import read_export_metadata, resolve_version_dir
        from ..export.parity import ParityOptions, verify_parity

        version_dir = resolve_version_dir(model_dir)
        if read_export_metadata(version_dir).task == "classify":  # a classifier: export/parity_classify
            from ..export.parity_classify import verify_classifier_dir as verify_parity  # type: ignore[assignment]
        paths = _image_list(images)
        if max_images:
            paths = paths[:max_images]
        options = ParityOptions(raw_tolerance=tolerance, iou_floor=iou_floor)
        with reporter.progress("verify", total=len(paths) or 3) as advance:
            report = verify_parity(version_dir, weights=weights, images=paths, options=options, progress=advance)
        data = report.to_json()
        if json_output:
            reporter.data(data)
        else:
            _parity_table(reporter, data)
        if not report.passed:
            raise SystemExit(4)


def _parity_table(reporter: Reporter, parity: dict[str, Any]) -> None:
    if "max_abs_logit_diff" in parity:  # a classifier's (export/parity_classify)
        reporter.table("Parity (PyTorch reference)", [(k, str(v)) for k, v in parity.items()])
        return
    rows = []
    reference = "PyTorch" if parity["reference"] == "pytorch" else "ONNX Runtime"
    for backend, diff in parity["raw_max_abs_diff"].items():
        scaled = parity["raw_max_scaled_diff"][backend]
        rows.append(
            (
                f"{backend} vs {reference}",
                f"max|diff| {diff:.2e}  scaled {scaled:.2e}  (tol {parity['raw_tolerance']:.0e})",
            )
        )
    d = parity["detections"]
    rows.append(
        (
            "serving_default detections",
            f"{d['matched']} matched, {d['missing']} missing, {d['extra']} extra, "
            f"{d['excused_near_threshold']} near threshold, {d.get('excused_near_tie', 0)} near-tie; "
            f"min IoU {d['min_iou']:.4f}, "
            f"max score diff {d['max_score_diff']:.2e}",
        )
    )
    rows.append(("images", str(parity["images"])))
    rows.append(("result", "PASSED" if parity["passed"] else "FAILED"))
    reporter.table(f"Parity ({reference} reference)", rows)


def _register() -> None:
    from . import bench_cmd, detect_cmd, eval_cmd, serve_cmd

    app.command("serve", context_settings=serve_cmd.SERVE_CONTEXT, add_help_option=False)(serve_cmd.serve)
    app.command("deploy")(serve_cmd.deploy)
    app.command("detect")(detect_cmd.detect_command)
    app.command("bench")(bench_cmd.bench_command)
    app.command("eval")(eval_cmd.eval_command)


_register()


def _parse_imgsz(text: str) -> tuple[int, ...]:
    """``--imgsz`` as given: ``640``, ``480,640`` (``480 640`` arrives joined by :func:`join_imgsz`)."""
    from .._errors import InputError

    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts or len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise InputError(f"--imgsz takes one size or a height and a width (e.g. --imgsz 480 640), got {text!r}")
    return tuple(int(p) for p in parts)


def join_imgsz(argv: list[str]) -> list[str]:
    """``--imgsz H W`` (YOLOv5's export.py spelling, two values) -> ``--imgsz H,W`` for the option parser."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--imgsz" and i + 2 < len(argv) and argv[i + 1].isdigit() and argv[i + 2].isdigit():
            out += [token, f"{argv[i + 1]},{argv[i + 2]}"]
            i += 3
            continue
        out.append(token)
        i += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    argv = join_imgsz(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=argv, prog_name="yolo-tfserving")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
