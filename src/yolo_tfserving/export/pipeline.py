"""``export``: a YOLOv5 ``.pt`` (or YOLOv5 ``.onnx``) -> a verified TF Serving model repository."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._deps import require
from .._errors import InputError
from .._limits import DEFAULT_MAX_PIXELS, check_max_pixels
from .._repository_layout import ONNX_ASSET, ExportMetadata
from .._repository_layout import read_export_metadata as read_export_metadata
from .._repository_layout import resolve_version_dir as resolve_version_dir
from ..ops.nms import NMSConfig
from . import interrupt, repository
from .onnx_export import DEFAULT_OPSET, OnnxModelInfo, export_onnx, inspect_onnx
from .version_assets import record_parity, write_version_assets

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportOptions:
    """Options of ``yolo-tfserving export`` (keyword-only at the API)."""

    name: str = "yolov5"
    version: int = 1
    imgsz: int | tuple[int, ...] = 640  # one side (square) or (height, width), as YOLOv5's export.py
    rect: bool = False  # rectangular inference: minimal stride-multiple canvas per batch (tf_module)
    dynamic_batch: bool = True
    nms: NMSConfig = field(
        default_factory=NMSConfig
    )  # the in-graph NMS: serving_default's thresholds, detect's structure and cap
    max_pixels: int = DEFAULT_MAX_PIXELS  # images past it are refused before decoding; 0: no limit
    nchw_signature: str = "add"
    opset: int = DEFAULT_OPSET
    force: bool = False
    verify: bool = True
    verify_images: Sequence[Path] = ()
    warmup: bool = True
    keep_onnx: bool = True  # the intermediate ONNX in assets.extra/ (verify's and eval's reference)


@dataclass
class ExportResult:
    version_dir: Path
    model_name: str
    version: int
    size_hw: tuple[int, int]
    class_names: tuple[str, ...]
    signatures: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    parity: dict[str, object] | None = None
    config_files: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["version_dir"] = str(self.version_dir)
        data["config_files"] = [str(p) for p in self.config_files]
        data["num_classes"] = len(self.class_names)
        data.pop("class_names")
        return data


def export_model(
    weights: str | Path,
    out: str | Path,
    *,
    options: ExportOptions = ExportOptions(),
    progress: Progress = lambda _msg: None,
) -> ExportResult:
    """Export ``weights`` into the repository at ``out``; see :class:`ExportOptions`."""
    weights = Path(weights)
    out = Path(out)
    repo = repository.ModelRepository(out, repository.validate_name(options.name))
    size_hw = image_size_hw(options.imgsz)
    if options.nchw_signature not in ("none", "add", "default"):
        raise InputError(f"--nchw-signature must be none, add or default, got {options.nchw_signature!r}")
    check_max_pixels(options.max_pixels, "--max-pixels")
    if options.nms.classes is not None:
        raise InputError("the in-graph NMS keeps every class; filter classes in the client (Client(classes=...))")
    if not weights.is_file():
        raise InputError(f"weights file not found: {weights}")
    repository.read_models_config(out / repository.MODELS_CONFIG)  # one we could not merge into: refused now
    if weights.suffix.lower() != ".onnx" and _checkpoint_task(weights) == "classify":
        from .classify_export import export_classifier

        return export_classifier(weights, out, options=options, progress=progress, size_hw=size_hw)
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    with (
        tempfile.TemporaryDirectory(prefix="yolo-tfserving-export-") as scratch_dir,
        repository.staged_version(repo, options.version, force=options.force) as staging,
        interrupt.remove_on_interrupt(Path(scratch_dir)),
        interrupt.remove_on_interrupt(staging),
    ):
        scratch = Path(scratch_dir)
        onnx_path = scratch / "model.onnx"
        torch_model = None
        task, num_masks = "detect", 0
        if weights.suffix.lower() == ".onnx":
            if options.rect:
                raise InputError("--rect needs the .pt checkpoint (an ONNX file's graph has a fixed input size)")
            progress("inspecting ONNX")
            info = inspect_onnx(weights)
            shutil.copyfile(weights, onnx_path)
        else:
            progress("loading checkpoint")
            from ..yolov5.checkpoint import load_checkpoint

            ckpt = load_checkpoint(weights)
            torch_model = ckpt.model
            task, num_masks = _task_of(ckpt, options)
            progress("exporting ONNX")
            export_onnx(
                ckpt.model,
                onnx_path,
                size_hw=size_hw,
                opset=options.opset,
                dynamic_batch=options.dynamic_batch,
                class_names=ckpt.names,
                stride=max(ckpt.strides),
                output_names=("output0", "output1") if num_masks else ("output0",),
            )
            info = inspect_onnx(onnx_path, num_masks=num_masks)
        seconds["onnx"] = time.perf_counter() - started

        progress("converting to TensorFlow (onnx2tf)")
        network = _convert(torch_model, onnx_path, info, options, scratch)
        seconds["convert"] = time.perf_counter() - started - sum(seconds.values())

        progress("writing SavedModel")
        signatures = _save(network, info, options, staging, num_masks=num_masks)
        metadata = ExportMetadata(
            size_hw=info.size_hw,
            class_names=info.class_names,
            stride=info.stride,
            nms=options.nms,
            max_pixels=options.max_pixels,
            rect=options.rect,
            signatures=tuple(signatures),
            onnx_asset=str(ONNX_ASSET) if options.keep_onnx else None,
            source=weights.name,
            tensorflow_version=require("tensorflow").__version__,
            task=task,
        )
        write_version_assets(staging, onnx_path=onnx_path, keep_onnx=options.keep_onnx, metadata=metadata)
        if options.warmup:
            from .warmup import write_warmup_records

            write_warmup_records(
                staging / repository.WARMUP_FILE,
                model_name=repo.name,
                version_dir=staging,
                size_hw=info.size_hw,
                nms=options.nms,
            )
        seconds["save"] = time.perf_counter() - started - sum(seconds.values())

        parity_json = None
        if options.verify:
            progress("verifying parity against PyTorch")
            from .parity import ParityOptions

            report = _parity_check(task)(
                staging,
                torch_model=torch_model,
                onnx_path=onnx_path,
                images=options.verify_images,
                options=ParityOptions(),
            )
            parity_json = record_parity(staging, report)
            seconds["verify"] = time.perf_counter() - started - sum(seconds.values())
    return finish_export(
        repo,
        options,
        size_hw=info.size_hw,
        class_names=info.class_names,
        signatures=signatures,
        seconds=seconds,
        started=started,
        parity=parity_json,
    )


def finish_export(
    repo: repository.ModelRepository,
    options: ExportOptions,
    *,
    size_hw: tuple[int, int],
    class_names: tuple[str, ...],
    signatures: list[str],
    seconds: dict[str, float],
    started: float,
    parity: dict[str, object] | None,
) -> ExportResult:
    """After the version is in place: the repository's configs merged, and what the export did."""
    config_files = repository.write_repository_configs(repo)
    seconds["total"] = time.perf_counter() - started
    return ExportResult(
        version_dir=repo.version_dir(options.version),
        model_name=repo.name,
        version=options.version,
        size_hw=size_hw,
        class_names=class_names,
        signatures=signatures,
        seconds=seconds,
        parity=parity,
        config_files=config_files,
    )


def _convert(
    torch_model: Any, onnx_path: Path, info: OnnxModelInfo, options: ExportOptions, scratch: Path
) -> Callable[..., object]:
    """The TensorFlow network: trunk + our NHWC head from a checkpoint, the whole graph from an ONNX file."""
    from . import tf_convert

    batch = None if info.dynamic_batch else 1
    if torch_model is None:
        return tf_convert.convert_onnx(onnx_path, input_name=info.input_name, size_hw=info.size_hw, batch=batch)
    from .onnx_export import export_trunk_onnx
    from .tf_head import DetectHead

    if getattr(torch_model.model[-1], "nm", 0):  # a Segment head: the trunk also computes the protos
        from .tf_segment import convert_segment

        return convert_segment(torch_model, info, opset=options.opset, scratch=scratch)

    trunk_path = scratch / "trunk.onnx"
    export_trunk_onnx(
        torch_model, trunk_path, size_hw=info.size_hw, opset=options.opset, dynamic_batch=info.dynamic_batch
    )
    head = DetectHead.from_detect(torch_model.model[-1])
    return tf_convert.convert_trunk(
        trunk_path, head, input_name="images", size_hw=info.size_hw, batch=batch, dynamic_size=options.rect
    )


def _save(
    network: Callable[..., object], info: OnnxModelInfo, options: ExportOptions, target: Path, *, num_masks: int = 0
) -> list[str]:
    tf = require("tensorflow")
    from .tf_module import ServingSpec, YoloServingModule

    spec = ServingSpec(
        size_hw=info.size_hw,
        class_names=info.class_names,
        nms=options.nms,
        max_pixels=options.max_pixels,
        rect=options.rect,
        stride=info.stride,
    )
    if num_masks:  # a segmentation model: masks and protos too
        from .tf_segment_module import SegmentServingModule

        module: YoloServingModule = SegmentServingModule.from_spec(network, spec, num_masks=num_masks)
    else:
        module = YoloServingModule(network, spec)
    signatures = module.signatures(nchw=options.nchw_signature)
    tf.saved_model.save(module, str(target), signatures=signatures)
    return sorted(signatures)


def image_size_hw(imgsz: int | Sequence[int]) -> tuple[int, int]:
    """``--imgsz``: one side (square) or height and width, each a positive multiple of 32."""
    sides = [imgsz] if isinstance(imgsz, int) else list(imgsz)
    if len(sides) == 1:
        sides = sides * 2
    if len(sides) != 2 or any(not isinstance(s, int) or s < 32 or s % 32 for s in sides):
        shown = imgsz if isinstance(imgsz, int) else " ".join(map(str, imgsz))
        raise InputError(f"--imgsz takes one size or a height and a width, each a positive multiple of 32; got {shown}")
    return sides[0], sides[1]


def _checkpoint_task(weights: Path) -> str:
    """What a ``.pt`` holds (detect, segment, classify), from its pickle's class names; nothing is loaded."""
    from ..yolov5.checkpoint import checkpoint_task

    return checkpoint_task(weights)


def _task_of(ckpt: Any, options: ExportOptions) -> tuple[str, int]:
    """A loaded checkpoint's task and mask coefficients per candidate (0 but for a Segment head)."""
    num_masks = int(getattr(ckpt.model.model[-1], "nm", 0))
    if ckpt.task == "segment" and options.rect:
        raise InputError("--rect is not supported for segmentation models yet")
    return ckpt.task, num_masks


def _parity_check(task: str) -> Callable[..., Any]:
    """The parity check of a task: detections, or detections, protos and masks (``parity_segment``)."""
    if task == "segment":
        from .parity_segment import verify_segment_parity

        return verify_segment_parity
    from .parity import verify_parity

    return verify_parity
