"""Classification results and the client's classify plans (YOLOv5 v7.0 classifiers, issue 13).

- :class:`Classification`: one image's top-k as parallel arrays (``class_ids``, ``class_names``,
  ``scores``: softmax probabilities, descending), validated like :class:`Detections`.
- :func:`classify_steps`: the plan ``Client.classify`` / ``AsyncClient.classify`` run. ``server``
  mode sends the encoded images to ``serving_default`` (crop, resize, normalise, softmax and top-k
  in the graph); ``client`` mode crops here (:mod:`yolo_tfserving.ops.classify`, OpenCV-exact),
  calls ``raw`` (gRPC: float32 tensor_content) or ``raw_bytes`` (REST: the 8-bit crops as b64) for
  the logits and takes softmax and top-k here. Both give the same classes.
- :func:`task_from_metadata`: what a served model does ("detect", "segment", "classify"), from its
  ``serving_default`` outputs, so that ``detect`` can tell a classifier from a detector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import InputError, RequestError
from ..ops.classify import crop_batch_uint8, softmax, top_k
from ._core import LIMITS_SIGNATURE, _Predict, _Steps
from .images import PreparedImage

CLASSIFIER_LIMITS = ("size_h", "size_w", "top_k", "num_classes", "max_pixels")


@dataclass(frozen=True, eq=False)
class Classification:
    """One image's most probable classes, most probable first."""

    class_ids: NDArray[np.int32]
    class_names: tuple[str, ...]
    scores: NDArray[np.float32]

    def __post_init__(self) -> None:
        ids = np.asarray(self.class_ids)
        scores = np.asarray(self.scores)
        if ids.ndim != 1 or scores.ndim != 1 or not (len(ids) == len(scores) == len(self.class_names)):
            raise InputError(
                f"class_ids, class_names and scores must be parallel 1-D arrays; got shapes {ids.shape}, "
                f"{len(self.class_names)}, {scores.shape}"
            )
        if len(ids) and (ids.min() < 0 or not np.issubdtype(ids.dtype, np.integer)):
            raise InputError(f"class_ids must be non-negative integers, got {ids.tolist()}")
        if len(scores) and (not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1 + 1e-6):
            raise InputError(f"scores must be probabilities in [0, 1], got {scores.tolist()}")
        if np.any(np.diff(scores) > 0):
            raise InputError(f"scores must be in descending order, got {scores.tolist()}")
        object.__setattr__(self, "class_ids", ids.astype(np.int32))
        object.__setattr__(self, "scores", scores.astype(np.float32))
        object.__setattr__(self, "class_names", tuple(map(str, self.class_names)))

    def __len__(self) -> int:
        return len(self.class_names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Classification):
            return NotImplemented
        return (
            self.class_names == other.class_names
            and np.array_equal(self.class_ids, other.class_ids)
            and np.array_equal(self.scores, other.scores)
        )

    __hash__ = None  # type: ignore[assignment]  # compared by value, mutable arrays inside

    @property
    def top1(self) -> tuple[int, str, float]:
        """(class id, name, probability) of the most probable class."""
        if not len(self):
            raise InputError("an empty classification has no top-1 class")
        return int(self.class_ids[0]), self.class_names[0], float(self.scores[0])

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"class_id": int(i), "class_name": n, "score": float(s)}
            for i, n, s in zip(self.class_ids, self.class_names, self.scores, strict=True)
        ]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n} {s:.3f}" for n, s in zip(self.class_names, self.scores, strict=True))
        return f"Classification({shown})"


@dataclass(frozen=True)
class ClassifierFacts:
    """What client mode needs about a served classifier, from its ``limits`` and ``class_names`` signatures."""

    size_hw: tuple[int, int]
    class_names: tuple[str, ...]
    top_k: int
    max_pixels: int | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def classifier_facts_steps() -> _Steps[ClassifierFacts]:
    """Plan: the classifier's crop size, class names and top-k, read from the server."""
    asked = np.asarray([n.encode() for n in CLASSIFIER_LIMITS], dtype=object)
    limits = yield _Predict(LIMITS_SIGNATURE, {"names": asked}, "values")
    values = dict(zip(CLASSIFIER_LIMITS, (int(v) for v in np.asarray(limits["values"]).reshape(-1)), strict=True))
    if values["top_k"] < 1 or values["num_classes"] < 1:
        raise RequestError("the model is not a yolo-tfserving classifier (its limits do not answer top_k)", status="")
    names = yield _Predict(
        "class_names", {"class_ids": np.arange(values["num_classes"], dtype=np.int32)}, "class_names"
    )
    return ClassifierFacts(
        size_hw=(values["size_h"], values["size_w"]),
        class_names=tuple(_text(n) for n in np.asarray(names["class_names"]).reshape(-1)),
        top_k=values["top_k"],
        max_pixels=values["max_pixels"] if values["max_pixels"] >= 0 else None,
    )


def _check_k(k: int | None) -> None:
    if k is not None and (not isinstance(k, int) or k < 1):
        raise InputError(f"top_k must be a positive integer, got {k!r}")


def server_classifications(outputs: dict[str, NDArray[Any]], k: int | None) -> list[Classification]:
    """``serving_default``'s outputs -> one :class:`Classification` per image (the first ``k``)."""
    try:
        ids = np.asarray(outputs["classes"])
        names = np.asarray(outputs["class_names"])
        scores = np.asarray(outputs["scores"], np.float32)
    except KeyError as exc:
        raise RequestError(f"the model's serving_default has no {exc} output; is it a classifier?", status="") from exc
    if ids.ndim != 2 or names.shape != ids.shape or scores.shape != ids.shape:
        raise RequestError(
            f"malformed classifier outputs: shapes {ids.shape}, {names.shape}, {scores.shape}", status=""
        )
    if k is not None and k > ids.shape[1]:
        raise InputError(f"top_k {k} is more than the {ids.shape[1]} classes serving_default returns; use client mode")
    k = ids.shape[1] if k is None else k
    return [
        Classification(class_ids=i[:k], class_names=tuple(_text(n) for n in n_[:k]), scores=s[:k])
        for i, n_, s in zip(ids, names, scores, strict=True)
    ]


def client_classifications(logits: NDArray[Any], facts: ClassifierFacts, k: int | None) -> list[Classification]:
    """``raw``'s logits -> softmax and top-k here, as the model's serving_default does."""
    logits = np.asarray(logits, np.float32)
    if logits.ndim != 2 or logits.shape[1] != len(facts.class_names):
        raise RequestError(
            f"the model's logits have shape {logits.shape}; expected [N, {len(facts.class_names)}]", status=""
        )
    ids, scores = top_k(softmax(logits), facts.top_k if k is None else k)
    return [
        Classification(class_ids=i, class_names=tuple(facts.class_names[j] for j in i), scores=s)
        for i, s in zip(ids, scores, strict=True)
    ]


def classify_steps(
    prepared: Sequence[PreparedImage],
    *,
    mode: str,
    protocol: str = "grpc",
    facts: ClassifierFacts | None,
    k: int | None,
) -> _Steps[tuple[list[Classification], ClassifierFacts | None]]:
    """Plan: classify ``prepared`` images in ``mode``; returns the results and the (cached) facts."""
    _check_k(k)
    if not prepared:
        return [], facts
    if mode == "server":
        encoded = np.asarray([p.encoded for p in prepared], dtype=object)
        outputs = yield _Predict("serving_default", {"images": encoded})
        return server_classifications(outputs, k), facts
    if facts is None:
        facts = yield from classifier_facts_steps()
    crops = crop_batch_uint8([p.rgb for p in prepared], facts.size_hw)
    if protocol == "rest":  # lossless: the crops are 8-bit
        request = _Predict("raw_bytes", {"images": np.asarray([c.tobytes() for c in crops], dtype=object)}, "logits")
    else:
        request = _Predict("raw", {"images": crops.astype(np.float32) / np.float32(255.0)}, "logits")
    outputs = yield request
    if "logits" not in outputs:
        raise RequestError("the model's raw signature has no logits output; is it a classifier?", status="")
    return client_classifications(outputs["logits"], facts, k), facts


def task_from_metadata(metadata: dict[str, Any]) -> str:
    """The served model's task (``detect``, ``segment``, ``classify``), from its ``serving_default`` outputs."""
    try:
        sigs = metadata["metadata"]["signature_def"]["signature_def"]
        outputs = set(sigs["serving_default"]["outputs"])
    except (KeyError, TypeError):
        return "detect"
    if "boxes" in outputs:
        return "segment" if "masks_png_bytes" in outputs else "detect"
    if {"classes", "scores", "class_names"} <= outputs:
        return "classify"
    return "detect"
