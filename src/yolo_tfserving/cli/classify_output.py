"""``detect`` on a classification model: the top-k classes per image (issue 13).

``detect`` asks the served model what it does (:func:`served_task`: its ``serving_default``
outputs) and hands a classifier's images here. Each image gets one line on stderr as YOLOv5's
classify/predict.py prints it (``path: name 0.87, name 0.05, ...``) and one record in the JSON /
JSONL results (stdout, or ``classifications.json[l]`` in ``--out``): ``path``, ``size_hw`` and
``classifications`` (``class_id``, ``class_name``, ``score``, most probable first).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._errors import ImageError, InputError
from ..client.classification import task_from_metadata
from ._output import Reporter


def served_task(client: Any) -> str:
    """What the client's model does (``detect``, ``segment``, ``classify``), from its metadata."""
    return task_from_metadata(client.metadata())


def exit_if_classifier(client: Any, files: list[Path], failed: int, **options: Any) -> None:
    """When ``client``'s model is a classifier: classify ``files`` (see :func:`classify_files`) and end the
    command (exit 1 if any image, or an earlier source, failed); otherwise return and let ``detect`` detect."""
    if served_task(client) != "classify":
        return
    failed += classify_files(client, files, **options)
    raise SystemExit(1 if failed else 0)


def classify_files(
    client: Any,
    files: list[Path],
    *,
    fmt: str,
    out: Path | None,
    batch_size: int,
    reporter: Reporter,
    advance: Callable[[], None],
) -> int:
    """Classify ``files`` in chunks of ``batch_size``; write the results; how many images failed."""
    if fmt == "coco":
        raise InputError("--format coco holds detections; a classification model writes json or jsonl")
    records: list[dict[str, Any]] = []
    failed = 0
    step = max(1, batch_size)
    for start in range(0, len(files), step):
        prepared = []
        for path in files[start : start + step]:
            try:
                prepared.append((path, client.prepare(path)))
            except ImageError as exc:
                reporter.error(f"warning: skipped {path}: {exc}")
                failed += 1
                advance()
        if not prepared:
            continue
        results = client.classify_batch([image for _, image in prepared])
        for (path, image), result in zip(prepared, results, strict=True):
            shown = ", ".join(f"{n} {s:.2f}" for n, s in zip(result.class_names, result.scores, strict=True))
            reporter.log(f"{path}: {shown}")
            records.append({"path": str(path), "size_hw": list(image.size_hw), "classifications": result.to_json()})
            advance()
    _write(records, fmt=fmt, out=out)
    reporter.log(f"{len(records)} images classified" + (f", {failed} failed" if failed else ""))
    return failed


def _write(records: list[dict[str, Any]], *, fmt: str, out: Path | None) -> None:
    text = "\n".join(json.dumps(r) for r in records) if fmt == "jsonl" else json.dumps(records, indent=1)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        (out / ("classifications.jsonl" if fmt == "jsonl" else "classifications.json")).write_text(text + "\n")
