"""``export`` of a YOLOv5 v7.0 classification checkpoint: the whole classifier ONNX -> onnx2tf ->
:class:`.tf_classify.ClassifierServingModule` -> a verified version directory.

The same repository steps as detection (staging, ``models.config``, ``assets.extra``) with
``ExportMetadata.task = "classify"``, warm-up records for its signatures; no ``detect`` or
``predict_nchw`` signature. ``export_model`` dispatches here when the checkpoint names
``ClassificationModel``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._deps import require
from .._errors import InputError
from .._repository_layout import ONNX_ASSET, ExportMetadata
from . import interrupt, repository
from .onnx_export import export_onnx
from .version_assets import record_parity, write_version_assets

if TYPE_CHECKING:
    from .pipeline import ExportOptions, ExportResult, Progress


def export_classifier(
    weights: Path, out: Path, *, options: ExportOptions, progress: Progress, size_hw: tuple[int, int]
) -> ExportResult:
    """Export the classifier ``weights`` into the repository at ``out``."""
    from ..yolov5.checkpoint import load_classifier
    from .pipeline import finish_export

    if options.rect:
        raise InputError("--rect applies to detection models; a classifier takes YOLOv5's centre crop")
    if options.nchw_signature == "default":
        raise InputError("--nchw-signature default applies to detection models")
    repo = repository.ModelRepository(out, repository.validate_name(options.name))
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    progress("loading classification checkpoint")
    ckpt = load_classifier(weights)
    with (
        tempfile.TemporaryDirectory(prefix="yolo-tfserving-export-") as scratch_dir,
        repository.staged_version(repo, options.version, force=options.force) as staging,
        interrupt.remove_on_interrupt(Path(scratch_dir)),
        interrupt.remove_on_interrupt(staging),
    ):
        onnx_path = Path(scratch_dir) / "model.onnx"
        progress("exporting ONNX")
        export_onnx(
            ckpt.model,
            onnx_path,
            size_hw=size_hw,
            opset=options.opset,
            dynamic_batch=options.dynamic_batch,
            class_names=ckpt.names,
            stride=ckpt.stride,
        )
        seconds["onnx"] = time.perf_counter() - started
        progress("converting to TensorFlow (onnx2tf)")
        from .tf_convert import convert_onnx

        batch = None if options.dynamic_batch else 1
        network = convert_onnx(onnx_path, input_name="images", size_hw=size_hw, batch=batch)
        seconds["convert"] = time.perf_counter() - started - sum(seconds.values())
        progress("writing SavedModel")
        signatures = _save(network, size_hw, ckpt.names, options.max_pixels, staging)
        _write_assets(staging, onnx_path, weights, size_hw, ckpt.names, ckpt.stride, signatures, options)
        if options.warmup:
            from .warmup import write_warmup_records

            write_warmup_records(
                staging / repository.WARMUP_FILE, model_name=repo.name, version_dir=staging, size_hw=size_hw
            )
        seconds["save"] = time.perf_counter() - started - sum(seconds.values())
        parity_json = None
        if options.verify:
            progress("verifying parity against PyTorch")
            from .parity_classify import verify_classifier_parity

            report = verify_classifier_parity(
                staging, torch_model=ckpt.model, size_hw=size_hw, images=options.verify_images
            )
            parity_json = record_parity(staging, report, what="classifier")
            seconds["verify"] = time.perf_counter() - started - sum(seconds.values())
    return finish_export(
        repo,
        options,
        size_hw=size_hw,
        class_names=ckpt.names,
        signatures=signatures,
        seconds=seconds,
        started=started,
        parity=parity_json,
    )


def _save(
    network: object, size_hw: tuple[int, int], names: tuple[str, ...], max_pixels: int, target: Path
) -> list[str]:
    tf = require("tensorflow")
    from .tf_classify import ClassifierServingModule, ClassifierSpec

    module = ClassifierServingModule(network, ClassifierSpec(size_hw=size_hw, class_names=names, max_pixels=max_pixels))  # type: ignore[arg-type]
    signatures = module.signatures()
    tf.saved_model.save(module, str(target), signatures=signatures)
    return sorted(signatures)


def _write_assets(
    staging: Path,
    onnx_path: Path,
    weights: Path,
    size_hw: tuple[int, int],
    names: tuple[str, ...],
    stride: int,
    signatures: list[str],
    options: ExportOptions,
) -> None:
    metadata = ExportMetadata(
        size_hw=size_hw,
        class_names=names,
        stride=stride,
        nms=options.nms,
        max_pixels=options.max_pixels,
        signatures=tuple(signatures),
        onnx_asset=str(ONNX_ASSET) if options.keep_onnx else None,
        source=weights.name,
        tensorflow_version=require("tensorflow").__version__,
        task="classify",
    )
    write_version_assets(staging, onnx_path=onnx_path, keep_onnx=options.keep_onnx, metadata=metadata)
