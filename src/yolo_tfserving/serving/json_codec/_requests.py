"""Request bodies: ``:predict`` (tensors) and ``:classify`` / ``:regress`` (tf.Example features)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from ._constants import _B64_KEY, _CONTEXT_KEY, _EXAMPLES_KEY, _F32_MAX, _INPUTS_KEY, _INSTANCES_KEY, _SIGNATURE_KEY
from ._document import _Body, _document, _read
from ._errors import _BadSurrogate, _invalid, _NumberTooBig
from ._leaves import _b64decode, _is_b64_object, _normalize_dtype, _string_bytes
from ._numbers import _as_double, _check_constant, _is_json_int
from ._tensors import _from_inputs, _from_instances
from ._values import _format_error, _json_type, _lossy_error

FeatureValue = int | float | bytes


@dataclass(frozen=True)
class InputSpec:
    """One input of a signature: its alias, dtype and (partially) known shape."""

    name: str
    #: A numpy dtype (float32, float64, int8..int64, uint8..uint64, bool) or ``"string"`` (DT_STRING).
    dtype: np.dtype[Any] | str
    #: ``None`` for unknown rank; ``None`` (or a negative number) for an unknown dimension.
    shape: tuple[int | None, ...] | None = None


@dataclass
class PredictRequestData:
    """A parsed ``:predict`` body."""

    signature_name: str | None
    #: alias -> tensor; DT_STRING tensors are object arrays of ``bytes``.
    inputs: dict[str, np.ndarray]
    #: True for ``instances`` (answer with ``predictions``), False for ``inputs`` (``outputs``).
    row_format: bool


@dataclass
class ClassifyRegressRequestData:
    """A parsed ``:classify`` / ``:regress`` body: tf.Example features as lists of values."""

    signature_name: str | None
    #: Features shared by all examples, or None when the body has no ``context``.
    context: dict[str, list[FeatureValue]] | None
    #: One dict per example: feature name -> int64 values (ints), float values or bytes values.
    examples: list[dict[str, list[FeatureValue]]]


def _signature_name(doc: dict[str, Any]) -> str | None:
    if _SIGNATURE_KEY not in doc:
        return None
    name = doc[_SIGNATURE_KEY]
    if not isinstance(name, str):
        raise _format_error(doc, "not formatted correctly. 'signature_name' key must be a string value.")
    return name


@dataclass
class PredictBody:
    """A ``:predict`` body read and parsed once: its signature name is known before the signature is looked up,
    and its tensors are built against that signature's inputs (:func:`parse_predict_request`)."""

    signature_name: str | None
    #: the body as the JSON reader holds it (its text, for the positions of TF Serving's messages)
    parsed: _Body = field(repr=False)
    #: the decoded top-level JSON object
    document: dict[str, Any] = field(repr=False)


def read_predict_body(body: bytes | str, *, budget: Callable[[str], None] | None = None) -> PredictBody:
    """Parse a ``:predict`` body (once). ``budget`` sees the text before the parse and may refuse it (a size
    limit: the parse makes a Python object of every value)."""
    parsed = _read(body)
    if budget is not None:
        budget(parsed.text)
    doc = _guarded_step(parsed, lambda: _document(parsed))
    return PredictBody(signature_name=_signature_name(doc), parsed=parsed, document=doc)


def parse_predict_request(body: bytes | str | PredictBody, inputs: Mapping[str, InputSpec]) -> PredictRequestData:
    """Parse a ``:predict`` body (or one :func:`read_predict_body` read) against the signature's inputs
    (alias -> spec).

    Raises ServingStatusError (INVALID_ARGUMENT, or UNIMPLEMENTED for dtypes TF Serving cannot
    read from JSON) with TF Serving's message for every malformed body.
    """
    read = body if isinstance(body, PredictBody) else read_predict_body(body)
    return _guarded_step(read.parsed, lambda: _parse_predict(read.parsed, read.document, inputs))


_T = TypeVar("_T")


def _guarded_step(parsed: _Body, action: Callable[[], _T]) -> _T:
    """Run `action`, turning parse-time failures into TF Serving's errors."""
    try:
        try:
            return action()
        except _NumberTooBig:
            raise parsed.too_big_error() from None
        except _BadSurrogate:
            raise parsed.surrogate_error() from None
    except RecursionError:
        raise _invalid("JSON Parse error: The document is nested too deeply.") from None


def _guarded(body: bytes | str, action: Callable[[_Body, dict[str, Any]], _T]) -> _T:
    """Parse the body and run `action`, turning parse-time failures into TF Serving's errors."""
    parsed = _read(body)
    return _guarded_step(parsed, lambda: action(parsed, _document(parsed)))


def _parse_predict(body: _Body, doc: dict[str, Any], inputs: Mapping[str, InputSpec]) -> PredictRequestData:
    signature = _signature_name(doc)
    if not inputs:
        raise _invalid(f"Failed to get input map for signature: {signature or 'DEFAULT'}")
    dtypes = {alias: _normalize_dtype(spec.dtype) for alias, spec in inputs.items()}
    if _INSTANCES_KEY in doc:
        if _INPUTS_KEY in doc:
            raise _format_error(
                doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        instances = doc[_INSTANCES_KEY]
        if not isinstance(instances, list):
            raise _format_error(doc, "Excepting 'instances' to be an list/array")
        if not instances:
            raise _format_error(doc, "No values in 'instances' array")
        tensors, row_format = _from_instances(instances, dtypes, body), True
    elif _INPUTS_KEY in doc:
        tensors, row_format = _from_inputs(doc[_INPUTS_KEY], dtypes, body), False
    else:
        raise _invalid("Missing 'inputs' or 'instances' key")
    return PredictRequestData(signature_name=signature, inputs=tensors, row_format=row_format)


# --------------------------------------------------------------------------------------------
# Classify / regress requests (tf.Example features)


def parse_classify_regress_request(
    body: bytes | str, *, max_examples: Callable[[int], None] | None = None
) -> ClassifyRegressRequestData:
    """Parse a ``:classify`` or ``:regress`` body (``context`` optional, ``examples`` required).
    ``max_examples`` sees the number of examples before they are converted, and may refuse it."""
    return _guarded(body, lambda _parsed, doc: _parse_classify_regress(doc, max_examples))


def _parse_classify_regress(
    doc: dict[str, Any], max_examples: Callable[[int], None] | None = None
) -> ClassifyRegressRequestData:
    signature = _signature_name(doc)
    context = _example(doc[_CONTEXT_KEY]) if _CONTEXT_KEY in doc else None
    if _EXAMPLES_KEY not in doc:
        # Sic: TF Serving says "classify" for :regress too.
        raise _format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    examples = doc[_EXAMPLES_KEY]
    if not isinstance(examples, list):
        raise _format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(doc, "'examples' value is an empty array")
    if max_examples is not None:
        max_examples(len(examples))
    return ClassifyRegressRequestData(
        signature_name=signature, context=context, examples=[_example(item) for item in examples]
    )


def _example(value: Any) -> dict[str, list[FeatureValue]]:
    if not isinstance(value, dict):
        raise _invalid(f"Example must be JSON object but got JSON {_json_type(value)}")
    features: dict[str, list[FeatureValue]] = {}
    for name, content in value.items():
        kind: list[str] = []  # the feature's list kind once known: "bytes", "float" or "int64"
        values: list[FeatureValue] = []
        for item in content if isinstance(content, list) else [content]:
            values.append(_feature_value(item, name, kind))
        features[name] = values
    return features


def _feature_value(value: Any, name: str, kind: list[str]) -> FeatureValue:
    """TF Serving's AddValueToFeature for one element; `kind` holds the feature's kind so far."""

    def expect(wanted: str) -> None:
        if kind and kind[0] != wanted:
            raise _invalid(f"Unexpected element type in feature: {name} expecting type: {kind[0]}")
        if not kind:
            kind.append(wanted)

    if value is None or isinstance(value, list) or (isinstance(value, dict) and not _is_b64_object(value)):
        raise _invalid(f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}")
    if value is True or value is False:
        expect("int64")
        return int(value)
    if isinstance(value, dict):
        expect("bytes")
        decoded = _b64decode(value[_B64_KEY])
        if decoded is None:
            raise _invalid("Unable to base64 decode")
        return decoded
    if isinstance(value, str):
        expect("bytes")
        return _string_bytes(value)
    if isinstance(value, int) and _is_json_int(value):
        expect("int64")
        if value >= 2**63:
            raise _invalid(f"Feature: {name} has uint64 element. Only int64 is supported.")
        return value
    expect("float")
    return _float_feature(value)


def _float_feature(value: Any) -> float:
    """A decimal token (or an integer token too long for 64 bits, which RapidJSON reads as a double)."""
    double = _as_double(value) if isinstance(value, int) else float(value)
    if not math.isfinite(double):
        _check_constant(double)
    elif not -_F32_MAX <= double <= _F32_MAX:
        raise _lossy_error(value, "float")
    return float(np.float32(double))
