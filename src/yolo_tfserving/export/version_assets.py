"""What every export writes beside its SavedModel, and the parity gate, whatever the model's task.

A detector (:mod:`.pipeline`), a segmenter (the same path) and a classifier (:mod:`.classify_export`)
write the same ``assets.extra``: the ONNX copy (unless ``--no-onnx``), the class names and the typed
:class:`~yolo_tfserving._repository_layout.ExportMetadata`; and each refuses to publish a version whose
parity report failed, after writing the report where ``verify`` finds it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Protocol

from .._errors import ParityError
from .._repository_layout import CLASS_NAMES_FILE, ONNX_ASSET, PARITY_ASSET, ExportMetadata


class ParityOutcome(Protocol):
    """What the parity checks of every task report."""

    @property
    def passed(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...

    def summary(self) -> str: ...


def write_version_assets(staging: Path, *, onnx_path: Path, keep_onnx: bool, metadata: ExportMetadata) -> None:
    """The ONNX copy (when ``keep_onnx``), ``class_names.txt`` and the export metadata, into ``staging``."""
    (staging / ONNX_ASSET).parent.mkdir(parents=True, exist_ok=True)
    if keep_onnx:
        shutil.copyfile(onnx_path, staging / ONNX_ASSET)
    (staging / CLASS_NAMES_FILE).parent.mkdir(exist_ok=True)
    (staging / CLASS_NAMES_FILE).write_text("\n".join(metadata.class_names) + "\n")
    metadata.write(staging)


def record_parity(staging: Path, report: ParityOutcome, *, what: str = "model") -> dict[str, Any]:
    """Write ``report`` beside the model; a :class:`ParityError` (nothing is published) if it failed."""
    data = report.to_json()
    (staging / PARITY_ASSET).write_text(json.dumps(data, indent=2))
    if not report.passed:
        raise ParityError(f"exported {what} failed the parity check; nothing was written:\n" + report.summary())
    return data
