"""JSON leaves -> element values: signature dtypes, base64 strings, and one converter per dtype."""

from __future__ import annotations

import binascii
import re
import sys
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from ..status import Code, ServingStatusError
from ._constants import _B64_KEY, _F32_MAX, _INT_RANGES, _MAX_EXACT_INT, _NUMERIC_DTYPES, STRING
from ._errors import _BadSurrogate, _error, _invalid
from ._numbers import _as_double, _check_constant, _check_number, _is_json_int
from ._values import _lossy_error, _tf_name, _type_error, _value_str


def _normalize_dtype(dtype: object) -> np.dtype[Any] | str:
    if isinstance(dtype, str) and dtype.lower() in ("string", "str", "bytes", "dt_string", "object"):
        return STRING
    try:
        normalized = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as err:
        raise ServingStatusError(Code.INTERNAL, f"Unsupported input dtype in signature: {dtype!r}") from err
    return STRING if normalized.kind in "OSU" else normalized


def _is_b64_object(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and type(value.get(_B64_KEY)) is str


def _is_element_object(value: Any) -> bool:
    return type(value) is dict and not _is_b64_object(value)


_B64_RE: Final = re.compile(r"[A-Za-z0-9+/]*")
_B64_WHITESPACE: Final = str.maketrans("", "", " \t\n\v\f\r")


def _canonical_b64decode(text: str) -> bytes | None:
    """Canonical base64 (what clients send: the alphabet, whole quanta, '=' padding) decoded in one C pass;
    None for anything else. Strict decoding also takes '=' after a whole quantum ("QUJD=="), which absl
    refuses: the length check leaves those to the full rules."""
    if sys.version_info < (3, 11) or len(text) % 4 or text.endswith("==="):
        return None  # (strict decoding is Python 3.11's)
    try:
        data = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):  # whitespace, '.' padding, bad data, not ASCII
        return None
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return data if len(data) == len(text) // 4 * 3 - padding else None


def _b64decode(text: str) -> bytes | None:
    """absl::Base64Unescape: whitespace ignored, padding ('=' or '.') optional but exact if given."""
    fast = _canonical_b64decode(text)
    if fast is not None:
        return fast
    compact = text.translate(_B64_WHITESPACE)
    data = compact.rstrip("=.")
    padding = len(compact) - len(data)
    if not _B64_RE.fullmatch(data) or len(data) % 4 == 1:
        return None
    expected = (0, 0, 2, 1)[len(data) % 4]
    if padding not in (0, expected):
        return None
    return binascii.a2b_base64(data + "=" * expected)


def _string_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _BadSurrogate from None


def _leaf_converter(dtype: np.dtype[Any] | str) -> Callable[[Any], Any]:
    """A function taking one JSON leaf (not a list) to the element value, or raising TF's error."""
    if dtype == STRING:
        return _bytes_converter(dtype)
    assert isinstance(dtype, np.dtype)
    if dtype not in _NUMERIC_DTYPES:
        return _unsupported_converter(dtype)
    if dtype.kind == "f":
        return _float_converter(dtype)
    if dtype.kind == "b":
        return _bool_converter(dtype)
    return _int_converter(dtype)


def _bytes_converter(dtype: np.dtype[Any] | str) -> Callable[[Any], bytes]:
    """DT_STRING: a JSON string, or a ``{"b64": ...}`` object."""

    def to_bytes(value: Any) -> bytes:
        _check_number(value)
        if type(value) is str:
            return _string_bytes(value)
        if type(value) is dict:
            if not _is_b64_object(value):
                raise _invalid(f"JSON Value: {_value_str(value)} not formatted correctly for base64 data")
            decoded = _b64decode(value[_B64_KEY])
            if decoded is None:
                raise _invalid("Unable to base64 decode")
            return decoded
        raise _type_error(value, dtype)

    return to_bytes


def _unsupported_converter(dtype: np.dtype[Any]) -> Callable[[Any], Any]:
    """A dtype TF Serving cannot read from JSON: every leaf is refused."""

    def unsupported(value: Any) -> Any:
        if type(value) is dict:
            raise _type_error(value, dtype)
        raise _error(Code.UNIMPLEMENTED, f"Conversion of JSON Value: {_value_str(value)} to type: {_tf_name(dtype)}")

    return unsupported


def _float_converter(dtype: np.dtype[Any]) -> Callable[[Any], float | int]:
    max_int = _MAX_EXACT_INT[dtype]
    single = dtype == np.float32
    target = _tf_name(dtype)

    def to_float(value: Any) -> float | int:
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # NaN or infinity
                _check_constant(value)
            elif single and not -_F32_MAX <= value <= _F32_MAX:
                raise _lossy_error(value, target)
            return value  # type: ignore[no-any-return]
        if kind is int:
            if _is_json_int(value):
                if abs(value) > max_int:
                    raise _lossy_error(value, target)
                return value  # type: ignore[no-any-return]
            double = _as_double(value)  # RapidJSON reads such a token as a double
            if single and abs(double) > _F32_MAX:
                raise _lossy_error(value, target)
            return double
        raise _type_error(value, dtype)

    return to_float


def _bool_converter(dtype: np.dtype[Any]) -> Callable[[Any], bool]:
    def to_bool(value: Any) -> bool:
        _check_number(value)
        if type(value) is bool:
            return value
        raise _type_error(value, dtype)

    return to_bool


def _int_converter(dtype: np.dtype[Any]) -> Callable[[Any], int]:
    low, high = _INT_RANGES[dtype]

    def to_int(value: Any) -> int:
        if type(value) is int and low <= value <= high:
            return value
        _check_number(value)
        raise _type_error(value, dtype)

    return to_int
