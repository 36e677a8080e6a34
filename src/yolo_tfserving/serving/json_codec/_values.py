"""JSON values quoted in error messages, as TF Serving's JsonValueToString renders them, and the errors quoting them."""

from __future__ import annotations

import math
import re
from typing import Any, Final

import numpy as np

from ..status import ServingStatusError
from ._constants import _MAX_VALUE_CHARS, _RJ_FLOAT_BOUND, _TF_NAMES
from ._errors import _invalid, _Stop, _TooLong
from ._numbers import _as_double, _decimal_text, _is_json_int, _rapidjson_double


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


_ESCAPE_RE: Final = re.compile(r'[\x00-\x1f"\\]')
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04X}"


def _json_string(text: str) -> str:
    """A JSON string literal escaped as RapidJSON's writer does (non-ASCII written as is)."""
    return '"' + _ESCAPE_RE.sub(_escape_char, text) + '"'


class _Writer:
    """RapidJSON's PrettyWriter (4-space indent), stopping at _MAX_VALUE_CHARS."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size > _MAX_VALUE_CHARS:
            raise _TooLong

    def value(self, value: Any, indent: int) -> None:
        if value is None:
            self.put("null")
        elif value is True or value is False:
            self.put("true" if value else "false")
        elif isinstance(value, int):
            self.put(str(value) if _is_json_int(value) else self.number(_as_double(value)))
        elif isinstance(value, float):
            self.put(self.number(value))
        elif isinstance(value, str):
            self.put(_json_string(value))
        elif isinstance(value, list):
            self.container("[", "]", [(None, item) for item in value], indent)
        elif isinstance(value, dict):
            self.container("{", "}", list(value.items()), indent)
        else:  # pragma: no cover - json.loads makes nothing else
            self.put(repr(value))

    @staticmethod
    def number(value: float) -> str:
        if not math.isfinite(value):
            raise _Stop  # RapidJSON's Writer refuses NaN/Inf and the traversal stops there
        return _rapidjson_double(value)

    def container(self, start: str, end: str, items: list[tuple[str | None, Any]], indent: int) -> None:
        self.put(start)
        if not items:
            self.put(end)
            return
        pad = " " * (indent + 4)
        for index, (key, item) in enumerate(items):
            self.put((",\n" if index else "\n") + pad)
            if key is not None:
                self.put(_json_string(key) + ": ")
            self.value(item, indent + 4)
        self.put("\n" + " " * indent + end)


def _value_str(value: Any) -> str:
    """TF Serving's JsonValueToString: numbers via WriteDecimal, the rest pretty-printed."""
    if isinstance(value, int) and not isinstance(value, bool) and _is_json_int(value):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            double = float(value)
        except OverflowError:
            return str(value)
        if -_RJ_FLOAT_BOUND <= double <= _RJ_FLOAT_BOUND:  # RapidJSON IsFloat(): written as a float
            return _decimal_text(float(np.float32(double)), single=True)
        return _decimal_text(double, single=False)
    writer = _Writer()
    try:
        writer.value(value, 0)
    except _Stop:
        pass
    except _TooLong:
        return "".join(writer.parts)[:_MAX_VALUE_CHARS] + "..."
    return "".join(writer.parts)


def _tf_name(dtype: np.dtype[Any] | str) -> str:
    if isinstance(dtype, str):
        return dtype
    return _TF_NAMES.get(dtype, str(dtype))


def _format_error(doc: Any, *message: str) -> ServingStatusError:
    return _invalid(f"JSON Value: {_value_str(doc)} " + "".join(message))


def _type_error(value: Any, dtype: np.dtype[Any] | str) -> ServingStatusError:
    return _invalid(
        f"JSON Value: {_value_str(value)} Type: {_json_type(value)} is not of expected type: {_tf_name(dtype)}"
    )


def _lossy_error(value: Any, target: str) -> ServingStatusError:
    return _invalid(f"Cannot convert JSON value: {_value_str(value)} to {target} without loss of precision.")
