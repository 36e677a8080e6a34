"""Response bodies: ``:predict`` tensors, classification and regression results, written as TF Serving writes them."""

from __future__ import annotations

import binascii
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._constants import _BYTES_SUFFIX, _INT_RANGES
from ._errors import _invalid
from ._numbers import _SPEC_CELLS, _SPEC_INT, _SPEC_TEXT, _SPECS, _decimal_text, _float_specs
from ._values import _json_string, _tf_name


def _string_args(flat: np.ndarray, *, as_b64: bool, dtype: np.dtype[Any]) -> list[str]:
    """Each string element's JSON text; an element repeated (detections' class names, their padding) is
    escaped once."""
    texts: list[str] = []
    memo: dict[str | bytes, str] = {}
    for item in flat.tolist():
        if type(item) is str or type(item) is bytes:
            text = memo.get(item)
            if text is None:
                text = memo[item] = _string_arg(item, as_b64=as_b64, dtype=dtype)
            texts.append(text)
        else:
            texts.append(_string_arg(item, as_b64=as_b64, dtype=dtype))
    return texts


def _string_arg(item: object, *, as_b64: bool, dtype: np.dtype[Any]) -> str:
    if isinstance(item, str):
        data = item.encode("utf-8", "surrogatepass") if as_b64 else b""
        text = item
    elif isinstance(item, (bytes, bytearray)):
        data = bytes(item)
        # RapidJSON writes the bytes as they are, valid UTF-8 or not.
        text = "" if as_b64 else data.decode("utf-8", "surrogateescape")
    else:
        raise _invalid(f"Failed to write JSON value for tensor type: {_tf_name(dtype)}")
    if as_b64:
        return '{"b64": "' + binascii.b2a_base64(data, newline=False).decode("ascii") + '"}'
    return _json_string(text)


def _element_specs(name: str, array: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """printf conversion codes and arguments for every element of a tensor, in C order."""
    dtype = array.dtype
    flat = array.reshape(-1)
    if dtype.kind in "OSU":
        args = _string_args(flat, as_b64=name.endswith(_BYTES_SUFFIX), dtype=dtype)
        return np.full(flat.size, _SPEC_TEXT, dtype=np.intp), args
    if dtype == np.bool_:
        return np.full(flat.size, _SPEC_TEXT, dtype=np.intp), ["true" if item else "false" for item in flat.tolist()]
    if dtype in (np.float32, np.float64):
        return _float_specs(flat, single=dtype == np.float32)
    if dtype in _INT_RANGES:
        return np.full(flat.size, _SPEC_INT, dtype=np.intp), flat.tolist()
    if flat.size == 0:
        return np.empty(0, dtype=np.intp), []
    raise _invalid(f"Failed to write JSON value for tensor type: {_tf_name(dtype)}")


def _template(codes: np.ndarray, shape: Sequence[int]) -> str:
    """The printf template of one tensor of `shape`: nested brackets around the conversions.

    The conversions of each innermost list are laid out by numpy as one fixed-width byte line;
    only the lines are joined in Python, and the padding blanks are dropped at the end.
    """
    if not shape:
        return _SPECS[int(codes[0])]
    if codes.size == 0:
        return _empty_nest(shape)
    cells = _SPEC_CELLS[codes].reshape(-1, shape[-1] * _SPEC_CELLS.shape[1])
    cells[:, -1] = ord(" ")  # no comma after the last element of a list
    blob = cells.tobytes()
    width = cells.shape[1]
    lines = [b"[" + blob[i : i + width] + b"]" for i in range(0, len(blob), width)]
    for size in reversed(shape[:-1]):
        lines = [b"[" + b",".join(lines[i : i + size]) + b"]" for i in range(0, len(lines), size)]
    return lines[0].replace(b" ", b"").decode("ascii")


def _empty_nest(shape: Sequence[int]) -> str:
    """The JSON of a tensor with no elements: lists down to the first zero-sized dimension."""
    dims = list(shape)
    text = "[]"
    for size in reversed(dims[: dims.index(0)]):
        text = "[" + ",".join([text] * size) + "]"
    return text


def _key(name: str) -> str:
    """A member name as a literal part of a printf format."""
    return _json_string(name).replace("%", "%%") + ": "


def _render(template: str, args: list[Any]) -> bytes:
    text = template % tuple(args)
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def format_predict_response(outputs: Mapping[str, np.ndarray], *, row_format: bool) -> bytes:
    """The ``:predict`` response body: ``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar).

    The body is built as one printf template (brackets and conversions, made with numpy) applied
    to all element values at once, several times faster than formatting each number in Python.
    """
    if not outputs:
        raise _invalid("Cannot convert empty tensor map to JSON")
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    if row_format:
        batch = 0
        for name, array in arrays.items():
            if array.ndim == 0:
                raise _invalid(f"Tensor name: {name} has no shape information ")
            size = array.shape[0]
            if size < 1:
                raise _invalid(f"Tensor name: {name} has invalid batch size: {size}")
            if batch and size != batch:
                raise _invalid(f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}")
            batch = size
    specs = {name: _element_specs(name, array) for name, array in arrays.items()}
    if len(arrays) == 1:
        ((name, array),) = arrays.items()
        codes, args = specs[name]
        key = '{"predictions": ' if row_format else '{"outputs": '
        return _render(key + _template(codes, array.shape) + "}", args)
    if not row_format:
        members = [_key(name) + _template(specs[name][0], array.shape) for name, array in arrays.items()]
        return _render('{"outputs": {' + ", ".join(members) + "}}", [a for _, args in specs.values() for a in args])
    sizes = {name: math.prod(array.shape[1:]) for name, array in arrays.items()}
    rows: list[str] = []
    ordered: list[Any] = []
    for i in range(batch):
        members = []
        for name, array in arrays.items():
            codes, args = specs[name]
            begin, end = i * sizes[name], (i + 1) * sizes[name]
            members.append(_key(name) + _template(codes[begin:end], array.shape[1:]))
            ordered += args[begin:end]
        rows.append("{" + ", ".join(members) + "}")
    return _render('{"predictions": [' + ", ".join(rows) + "]}", ordered)


def _label_text(label: str | bytes) -> str:
    return _json_string(label if isinstance(label, str) else bytes(label).decode("utf-8", "surrogateescape"))


def _score_text(score: float) -> str:
    with np.errstate(over="ignore"):
        return _decimal_text(float(np.float32(score)), single=True)


def format_classify_response(results: list[list[tuple[str, float]]]) -> bytes:
    """``{"results": [[[label, score], ...], ...]}`` (scores are float32, written like WriteDecimal)."""
    if not results:
        raise _invalid("Cannot convert empty ClassificationResults to JSON")
    rows = [
        "[" + ", ".join(f"[{_label_text(label)}, {_score_text(score)}]" for label, score in row) + "]"
        for row in results
    ]
    return ('{"results": [' + ", ".join(rows) + "]}").encode("utf-8", "surrogateescape")


def format_regress_response(values: list[float]) -> bytes:
    """``{"results": [value, ...]}`` (values are float32, written like WriteDecimal)."""
    if not values:
        raise _invalid("Cannot convert empty RegressionResults to JSON")
    return ('{"results": [' + ", ".join(_score_text(value) for value in values) + "]}").encode()
