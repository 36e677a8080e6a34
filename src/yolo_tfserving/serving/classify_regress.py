"""Classify, Regress and MultiInference on a signature, as TF Serving's classifier.cc / regressor.cc /
multi_inference.cc do them: which signatures qualify, what a run fetches, how outputs become results.

Transport-free: the core (:mod:`.core`) builds :class:`Task` s from signatures, runs their tensors in one
session call and turns the fetched arrays into :class:`Classifications` / :class:`Regressions`; the front ends
render those. Messages are TF Serving's own; every failure is a :class:`~.status.ServingStatusError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .servable import CLASSIFY_METHOD, REGRESS_METHOD, SignatureInfo
from .status import invalid_argument, unimplemented

INPUTS = "inputs"
CLASSES = "classes"
SCORES = "scores"
OUTPUTS = "outputs"

Kind = Literal["classify", "regress"]
#: per example, (label, score) per class
Classifications = list[list[tuple[str, float]]]
Regressions = list[float]


@dataclass(frozen=True)
class Task:
    """One classification or regression over a signature: its input tensor and the tensors it fetches."""

    kind: Kind
    signature: SignatureInfo
    input_tensor: str
    classes_tensor: str | None = None
    scores_tensor: str | None = None
    outputs_tensor: str | None = None

    @property
    def fetches(self) -> list[str]:
        names = (self.classes_tensor, self.scores_tensor, self.outputs_tensor)
        return [n for n in names if n is not None]


def task_for(kind: Kind, signature: SignatureInfo, *, check_method: bool) -> Task:
    """The signature as a classify/regress task (PreProcessClassification / PreProcessRegression)."""
    return _classification(signature, check_method) if kind == "classify" else _regression(signature, check_method)


def task_for_method(method_name: str, signature: SignatureInfo, *, check_method: bool) -> Task:
    """A MultiInference task: the kind is the task's own ``method_name`` (not the SignatureDef's)."""
    if method_name == CLASSIFY_METHOD:
        return _classification(signature, check_method)
    if method_name == REGRESS_METHOD:
        return _regression(signature, check_method)
    raise unimplemented(f"Unsupported signature method_name: {method_name}")


def _debug_string(signature: SignatureInfo) -> str:
    """A short stand-in for SignatureDef.DebugString() in TF Serving's messages."""

    def tensors(kind: str, specs: Mapping[str, object]) -> str:
        return " ".join(f'{kind} {{ key: "{alias}" }}' for alias in sorted(specs))

    return f"{tensors('inputs', signature.inputs)} {tensors('outputs', signature.outputs)} " + (
        f'method_name: "{signature.method_name}"'
    )


def _classification(signature: SignatureInfo, check_method: bool) -> Task:
    if check_method and signature.method_name != CLASSIFY_METHOD:
        raise invalid_argument(
            f"Expected classification signature method_name to be {CLASSIFY_METHOD}. Was: {signature.method_name}"
        )
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise invalid_argument(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if INPUTS not in signature.inputs:
        raise invalid_argument(f"No classification inputs found in SignatureDef: {_debug_string(signature)}")
    classes = signature.outputs.get(CLASSES)
    scores = signature.outputs.get(SCORES)
    if classes is None and scores is None:
        raise invalid_argument(
            'Expected classification signature outputs to contain at least one of "classes" or "scores". '
            f"Signature was: {_debug_string(signature)}"
        )
    classes_tensor = classes.tensor_name if classes is not None else None
    scores_tensor = scores.tensor_name if scores is not None else None
    if classes_tensor is not None and classes_tensor == scores_tensor:
        scores_tensor = None  # one tensor for both is read as the classes
    return Task(
        kind="classify",
        signature=signature,
        input_tensor=signature.inputs[INPUTS].tensor_name,
        classes_tensor=classes_tensor,
        scores_tensor=scores_tensor,
    )


def _regression(signature: SignatureInfo, check_method: bool) -> Task:
    if check_method and signature.method_name != REGRESS_METHOD:
        raise invalid_argument(
            f"Expected regression signature method_name to be {REGRESS_METHOD}. Was: {signature.method_name}"
        )
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if INPUTS not in signature.inputs:
        raise invalid_argument(f"No regression inputs found in SignatureDef: {_debug_string(signature)}")
    if OUTPUTS not in signature.outputs:
        raise invalid_argument(f"No regression outputs found in SignatureDef: {_debug_string(signature)}")
    return Task(
        kind="regress",
        signature=signature,
        input_tensor=signature.inputs[INPUTS].tensor_name,
        outputs_tensor=signature.outputs[OUTPUTS].tensor_name,
    )


def fetch_list(tasks: Sequence[Task]) -> list[str]:
    """Every tensor the tasks need, each once, sorted by name (one session run serves all tasks)."""
    return sorted({name for task in tasks for name in task.fetches})


def feed_names(tasks: Sequence[Task]) -> list[str]:
    """The input tensors, each once: the one tensor of serialized examples goes to each of them."""
    return sorted({task.input_tensor for task in tasks})


def classifications(task: Task, fetched: Mapping[str, np.ndarray], num_examples: int) -> Classifications:
    """PostProcessClassificationResult."""
    classes = fetched[task.classes_tensor] if task.classes_tensor is not None else None
    scores = fetched[task.scores_tensor] if task.scores_tensor is not None else None
    if classes is not None:
        _check_batch("classes", classes, num_examples, want_kind="OSU", want_name="DT_STRING")
    if scores is not None:
        _check_batch("scores", scores, num_examples, want_kind="f4", want_name="DT_FLOAT")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    width = (classes if classes is not None else scores).shape[1]  # type: ignore[union-attr]
    rows: Classifications = []
    for i in range(num_examples):
        row = []
        for c in range(width):
            label = _text(classes[i, c]) if classes is not None else ""
            score = float(scores[i, c]) if scores is not None else 0.0
            row.append((label, score))
        rows.append(row)
    return rows


def regressions(task: Task, fetched: Mapping[str, np.ndarray], num_examples: int) -> Regressions:
    """PostProcessRegressionResult."""
    assert task.outputs_tensor is not None
    values = fetched[task.outputs_tensor]
    if values.ndim not in (1, 2) or (values.ndim == 2 and values.shape[1] != 1):
        raise invalid_argument(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {_shape(values.shape)}"
        )
    if values.shape[0] != num_examples:
        raise invalid_argument(
            f"Input batch size did not match output batch size: {num_examples} vs. {values.shape[0]}"
        )
    if values.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {_dt_name(values.dtype)}")
    return [float(v) for v in values.reshape(-1)]


def _check_batch(what: str, array: np.ndarray, num_examples: int, *, want_kind: str, want_name: str) -> None:
    if array.ndim != 2:
        raise invalid_argument(f"Expected Tensor shape: [batch_size num_classes] but got {_shape(array.shape)}")
    ok = array.dtype.kind in want_kind if want_kind == "OSU" else array.dtype == np.dtype(want_kind)
    if not ok:
        raise invalid_argument(f"Expected {what} Tensor of {want_name}. Got: {_dt_name(array.dtype)}")
    if array.shape[0] != num_examples:
        raise invalid_argument(f"Expected {what} output batch size of {num_examples}. Got: {array.shape[0]}")


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _dt_name(dtype: np.dtype) -> str:  # type: ignore[type-arg]
    if dtype.kind in "OSU":
        return "DT_STRING"
    names = {"f4": "FLOAT", "f8": "DOUBLE", "f2": "HALF", "i4": "INT32", "i8": "INT64", "i2": "INT16", "i1": "INT8"}
    names.update({"u1": "UINT8", "u2": "UINT16", "u4": "UINT32", "u8": "UINT64", "b1": "BOOL"})
    return "DT_" + names.get(f"{dtype.kind}{dtype.itemsize}", str(dtype).upper())


def _text(label: object) -> str:
    if isinstance(label, bytes):
        return label.decode("utf-8", "replace")
    return str(label)


def examples_tensor(examples: Sequence[bytes]) -> np.ndarray:
    """The serialized tf.Examples as the DT_STRING [N] tensor a classify/regress signature takes."""
    if not examples:
        raise invalid_argument("Input is empty.")
    return np.asarray(list(examples), dtype=object)
