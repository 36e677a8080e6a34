"""TF Serving's REST JSON bodies, in pure Python and numpy (no TensorFlow).

This reproduces the rules of TF Serving's ``tensorflow_serving/util/json_tensor.cc`` and
``g3doc/api_rest.md`` (our own code, written from reading them), including the wording of its
error messages, because clients match on them:

* the body is parsed as RapidJSON does with ``kParseNanAndInfFlag``: bare ``NaN``, ``Inf``,
  ``Infinity`` (with an optional ``-``) are numbers; the *strings* ``"NaN"`` etc. are strings;
* ``instances`` (row format) or ``inputs`` (columnar), never both; row instances are all plain
  values/lists (one input) or all objects naming every input, each of the same shape, stacked on
  a new axis 0;
* the signature's dtype decides what a JSON value may be: integers must be integer tokens in the
  type's range, booleans ``true``/``false``, floats any number that converts without loss
  (integer tokens up to 2**24-1 for float, 2**53-1 for double), strings are JSON strings or
  ``{"b64": ...}`` objects;
* floats are written the way ``WriteDecimal`` writes them: ``%g`` (6 significant digits) when that
  reads back as the same value, else ``%.9g`` (float) / ``%.17g`` (double), ``.0`` appended to
  whole numbers, non-finite values as the bare tokens ``NaN``, ``Infinity``, ``-Infinity``;
* output tensors named ``*_bytes`` are written as ``{"b64": ...}``; other strings are written as
  their raw bytes (invalid UTF-8 included, as RapidJSON does).

Every malformed body raises :class:`~yolo_tfserving.serving.status.ServingStatusError`
(``INVALID_ARGUMENT``, or ``UNIMPLEMENTED`` for a dtype TF Serving cannot read from JSON).
Where this package goes beyond TF Serving (range checks for 8/16-bit integers, checking a known
signature shape) it says so next to the code.

The work is split into private modules: ``_requests`` and ``_responses`` (the public functions),
``_document`` (reading the body), ``_tensors`` and ``_leaves`` (JSON values -> numpy),
``_numbers`` (number tokens and text), ``_values`` (values quoted in error messages),
``_errors`` and ``_constants``.
"""

from __future__ import annotations

from ._constants import STRING
from ._requests import (
    ClassifyRegressRequestData,
    FeatureValue,
    InputSpec,
    PredictBody,
    PredictRequestData,
    parse_classify_regress_request,
    parse_predict_request,
    read_predict_body,
)
from ._responses import format_classify_response, format_predict_response, format_regress_response

__all__ = [
    "STRING",
    "ClassifyRegressRequestData",
    "FeatureValue",
    "InputSpec",
    "PredictBody",
    "PredictRequestData",
    "format_classify_response",
    "format_predict_response",
    "format_regress_response",
    "parse_classify_regress_request",
    "parse_predict_request",
    "read_predict_body",
]
