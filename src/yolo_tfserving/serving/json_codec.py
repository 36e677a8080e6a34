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
Where this module goes beyond TF Serving (range checks for 8/16-bit integers, checking a known
signature shape) it says so next to the code.
"""

from __future__ import annotations

import binascii
import bisect
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, TypeVar

import numpy as np

from .status import Code, ServingStatusError

__all__ = [
    "STRING",
    "ClassifyRegressRequestData",
    "FeatureValue",
    "InputSpec",
    "PredictRequestData",
    "format_classify_response",
    "format_predict_response",
    "format_regress_response",
    "parse_classify_regress_request",
    "parse_predict_request",
]

#: The dtype of a DT_STRING input (elements come back as ``bytes`` in an object array).
STRING: Final = "string"

_SIGNATURE_KEY: Final = "signature_name"
_INSTANCES_KEY: Final = "instances"
_INPUTS_KEY: Final = "inputs"
_CONTEXT_KEY: Final = "context"
_EXAMPLES_KEY: Final = "examples"
_B64_KEY: Final = "b64"
_BYTES_SUFFIX: Final = "_bytes"

# Longest rendering of a JSON value put into an error message. TF Serving renders the whole value
# (its code has a TODO to truncate); a whole 640x640x3 request in an error is of no use to anyone.
_MAX_VALUE_CHARS: Final = 4096
# numpy's limit on the number of dimensions of an array.
_MAX_RANK: Final = 32

FeatureValue = int | float | bytes

_NUMERIC_DTYPES: Final = frozenset(
    np.dtype(t)
    for t in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64, np.bool_)
)
_TF_NAMES: Final = {
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.float16): "half",
    np.dtype(np.int8): "int8",
    np.dtype(np.int16): "int16",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.uint32): "uint32",
    np.dtype(np.uint64): "uint64",
    np.dtype(np.bool_): "bool",
    np.dtype(np.complex64): "complex64",
    np.dtype(np.complex128): "complex128",
}
# Integer ranges a JSON integer must fall in. TF Serving checks int32 (RapidJSON's IsInt) for
# int8/int16/uint8 too and lets the value wrap later; we refuse what does not fit instead.
_INT_RANGES: Final = {
    np.dtype(np.int8): (-(2**7), 2**7 - 1),
    np.dtype(np.int16): (-(2**15), 2**15 - 1),
    np.dtype(np.int32): (-(2**31), 2**31 - 1),
    np.dtype(np.int64): (-(2**63), 2**63 - 1),
    np.dtype(np.uint8): (0, 2**8 - 1),
    np.dtype(np.uint32): (0, 2**32 - 1),
    np.dtype(np.uint64): (0, 2**64 - 1),
}
# Largest integer token a float / double input takes (TF Serving's IsLosslessDecimal).
_MAX_EXACT_INT: Final = {np.dtype(np.float32): 2**24 - 1, np.dtype(np.float64): 2**53 - 1}
_F32_MAX: Final = float(np.finfo(np.float32).max)
# RapidJSON's IsFloat() bound, used only to render values in error messages as TF Serving does.
_RJ_FLOAT_BOUND: Final = 3.4028234e38


# --------------------------------------------------------------------------------------------
# Public data types


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


# --------------------------------------------------------------------------------------------
# Internal error plumbing


class _NumberTooBig(Exception):
    """A number token that does not fit a double (RapidJSON refuses it while parsing)."""


class _BadSurrogate(Exception):
    """A string holding a lone UTF-16 surrogate escape (RapidJSON refuses it while parsing)."""


class _Stop(Exception):
    """RapidJSON's writer gives up (a non-finite number inside a container)."""


class _TooLong(Exception):
    """The rendering of a value passed _MAX_VALUE_CHARS."""


def _status_str(err: ServingStatusError) -> str:
    # absl::Status::ToString(): "INVALID_ARGUMENT: message".
    return f"{err.code.name}: {err.message}"


def _error(code: Code, message: str) -> ServingStatusError:
    # Raw bytes of a non-UTF-8 body live in the message as surrogate escapes; make it printable.
    try:
        clean = message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a raw byte
        clean = message.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return ServingStatusError(code, clean)


def _invalid(message: str) -> ServingStatusError:
    return _error(Code.INVALID_ARGUMENT, message)


# --------------------------------------------------------------------------------------------
# Rendering JSON values the way TF Serving's JsonValueToString does (for error messages)


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


def _is_json_int(value: int) -> bool:
    """Whether RapidJSON keeps this integer token as an integer (else it becomes a double)."""
    return -(2**63) <= value < 2**64


_ESCAPE_RE: Final = re.compile(r'[\x00-\x1f"\\]')
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04X}"


def _json_string(text: str) -> str:
    """A JSON string literal escaped as RapidJSON's writer does (non-ASCII written as is)."""
    return '"' + _ESCAPE_RE.sub(_escape_char, text) + '"'


def _rapidjson_double(value: float) -> str:
    """RapidJSON Writer::Double: shortest digits, positional in (1e-7, 1e21), else d.ddde±x."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = int(exponent)
    length = len(digits)
    kk = length + k
    if 0 <= k and kk <= 21:
        body = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        body = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        body = "0." + "0" * -kk + digits
    elif length == 1:
        body = f"{digits}e{kk - 1}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + body


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


# --------------------------------------------------------------------------------------------
# Writing floats the way TF Serving's WriteDecimal does


def _strtof(text: str) -> float:
    """The float32 nearest to the decimal `text` (correctly rounded, ties to even), as a float."""
    double = float(text)
    with np.errstate(over="ignore"):
        nearest = np.float32(double)
    if not np.isfinite(nearest):
        return float(nearest)
    exact = Fraction(text)
    best = nearest
    best_gap = abs(Fraction(float(nearest)) - exact)
    for toward in (np.float32(-np.inf), np.float32(np.inf)):
        candidate = np.nextafter(nearest, toward)
        if not np.isfinite(candidate):
            continue
        gap = abs(Fraction(float(candidate)) - exact)
        even = int(np.array(candidate, dtype=np.float32).view(np.uint32)) % 2 == 0
        if gap < best_gap or (gap == best_gap and even):
            best, best_gap = candidate, gap
    return float(best)


def _decimal_text(value: float, *, single: bool) -> str:
    """WriteDecimal<float|double>: the exact text TF Serving writes for one number."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{value:g}"
    if (_strtof(text) if single else float(text)) != value:
        text = f"{value:.9g}" if single else f"{value:.17g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


_POW10: Final = np.array([float(10**i) for i in range(23)])


def _times_pow10(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """values * 10**k for |k| <= 22, correctly rounded (one IEEE operation on exact operands)."""
    power = _POW10[np.abs(k)]
    return np.where(k >= 0, values * power, values / power)


def _round_significant(ax: np.ndarray, digits: int) -> tuple[np.ndarray, np.ndarray]:
    """The doubles nearest to `ax` rounded to `digits` significant decimals, and an unsure mask.

    `ax` holds positive finite values in [1e-14, 1e27). A value is unsure when float arithmetic
    could pick the wrong decimal (near a rounding tie); the caller formats those exactly.
    """
    low, high = 10.0 ** (digits - 1), 10.0**digits
    k = np.clip(digits - 1 - np.floor(np.log10(ax)).astype(np.int64), -22, 22)
    scaled = _times_pow10(ax, k)
    # log10 can be one off next to a power of ten: redo those with the corrected exponent.
    off = np.flatnonzero((scaled < low) | (scaled >= high))
    if off.size:
        k[off] = np.clip(k[off] + (scaled[off] < low) - (scaled[off] >= high), -22, 22)
        scaled[off] = _times_pow10(ax[off], k[off])
    unsure = (scaled < low) | (scaled >= high)
    unsure |= np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    # m / 10**k with m and 10**k exact is the correctly rounded double of the decimal.
    return _times_pow10(np.rint(scaled), -k), unsure


# Per-element printf conversions; every element of a tensor consumes exactly one argument.
_SPEC_G, _SPEC_WHOLE, _SPEC_9G, _SPEC_17G, _SPEC_TEXT, _SPEC_INT = range(6)
_SPECS: Final = ("%g", "%.1f", "%.9g", "%.17g", "%s", "%d")
# Each conversion and its comma as a fixed-width byte row, blank-padded (templates drop blanks).
_SPEC_CELLS: Final = np.array([list((spec.ljust(5) + ",").encode()) for spec in _SPECS], dtype=np.uint8)


def _float_specs(flat: np.ndarray, *, single: bool) -> tuple[np.ndarray, list[Any]]:
    """printf conversions and arguments that write each element exactly as WriteDecimal does.

    WriteDecimal writes ``%g`` when that reads back as the same value, else ``%.9g`` (float) or
    ``%.17g`` (double), and appends ``.0`` to a text with neither '.' nor 'e' -- which happens
    exactly for whole numbers written positionally, for which ``%.1f`` gives the same text. The
    read-back test is done vectorised; near-ties, tiny or huge values and non-finite values are
    formatted one by one (``%s`` of the exact text).
    """
    with np.errstate(invalid="ignore"):  # signalling NaNs
        x = flat.astype(np.float64)
    ax = np.abs(x)
    code = np.full(x.size, _SPEC_TEXT, dtype=np.intp)
    index = np.flatnonzero((ax >= 1e-14) & (ax < 1e27))
    if index.size:
        values = ax[index]
        d6, unsure = _round_significant(values, 6)
        if single:
            ok6 = d6.astype(np.float32).astype(np.float64) == values
            # A double exactly half-way between two floats may round differently than the decimal.
            unsure |= (d6.view(np.uint64) & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000)
            longer, limit = _SPEC_9G, 1e9
        else:
            ok6 = d6 == values
            longer, limit = _SPEC_17G, 1e17
        whole = (values == np.floor(values)) & (values < np.where(ok6, 1e6, limit))
        chosen = np.where(whole, _SPEC_WHOLE, np.where(ok6, _SPEC_G, longer))
        chosen[unsure] = _SPEC_TEXT
        code[index] = chosen
    code[x == 0] = _SPEC_WHOLE  # "0.0" / "-0.0"
    args: list[Any] = x.tolist()
    for i in np.flatnonzero(code == _SPEC_TEXT).tolist():
        args[i] = _decimal_text(args[i], single=single)
    return code, args


# --------------------------------------------------------------------------------------------
# Parsing the body


_NAN: Final = float("nan")
_POS_INF: Final = float("inf")
_NEG_INF: Final = float("-inf")
# The JSON constants come back as these very objects; an infinity that is not one of them comes
# from a number token too big for a double (which RapidJSON refuses).
_CONSTANTS: Final = {"NaN": _NAN, "Infinity": _POS_INF, "-Infinity": _NEG_INF}
_DECODER: Final = json.JSONDecoder(parse_constant=_CONSTANTS.__getitem__)

# RapidJSON's kParseNanAndInfFlag also takes Inf, -Inf and -NaN, which Python's json does not.
_EXTRA_TOKENS_RE: Final = re.compile(r'"(?:[^"\\]|\\.)*"|-?Inf(?:inity)?|-NaN')
_EXTRA_TOKENS: Final = {"Inf": "Infinity", "-Inf": "-Infinity", "-NaN": "NaN"}
_STRUCTURE_RE: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_NUMBER_RE: Final = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')
_SURROGATE_ESCAPE_RE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_JSON_WHITESPACE: Final = " \t\n\r"
_DIGITS: Final = "0123456789"


@dataclass
class _Body:
    text: str
    bom: int  # bytes of a UTF-8 byte order mark dropped from the front
    _bool_tokens: bool | None = None

    @property
    def bool_tokens(self) -> bool:
        """Whether the body may hold true/false (numpy would silently turn them into 1/0)."""
        if self._bool_tokens is None:
            self._bool_tokens = "true" in self.text or "false" in self.text
        return self._bool_tokens

    def byte_offset(self, pos: int) -> int:
        prefix = self.text[:pos]
        try:
            return len(prefix.encode("utf-8", "surrogateescape")) + self.bom
        except UnicodeEncodeError:
            return len(prefix.encode("utf-8", "surrogatepass")) + self.bom

    def parse_error(self, what: str, pos: int) -> ServingStatusError:
        return _invalid(f"JSON Parse error: {what} at offset: {self.byte_offset(pos)}")

    def too_big_error(self) -> ServingStatusError:
        for match in _NUMBER_RE.finditer(self.text):
            token = match.group()
            if token[0] != '"' and math.isinf(float(token)):
                return self.parse_error("Number too big to be stored in double.", match.start())
        return self.parse_error("Number too big to be stored in double.", 0)

    def surrogate_error(self) -> ServingStatusError:
        match = _SURROGATE_ESCAPE_RE.search(self.text)
        return self.parse_error("The surrogate pair in string is invalid.", match.start() if match else 0)


def _decode_error(body: _Body, text: str, err: json.JSONDecodeError) -> ServingStatusError:
    """Python's json error, named as RapidJSON's GetParseError_En names it."""
    msg, pos = err.msg, err.pos
    if not text.strip(_JSON_WHITESPACE):
        return body.parse_error("The document is empty.", len(text))
    number = _malformed_number(text, pos)
    if number is not None and msg.startswith(("Expecting value", "Extra data", "Expecting ',' delimiter")):
        return body.parse_error(*number)
    if msg.startswith("Extra data"):
        what = "The document root must not be followed by other values."
    elif msg.startswith("Expecting ',' delimiter"):
        if _container_at(text, pos) == "{":
            what = "Missing a comma or '}' after an object member."
        else:
            what = "Missing a comma or ']' after an array element."
    elif msg.startswith("Expecting ':' delimiter"):
        what = "Missing a colon after a name of object member."
    elif msg.startswith("Expecting property name") or msg.startswith("Illegal trailing comma before end of object"):
        what = "Missing a name for object member."
    elif msg.startswith("Unterminated string"):
        return body.parse_error("Missing a closing quotation mark in string.", len(text))
    elif msg.startswith("Invalid control character"):
        if pos < len(text) and text[pos] == "\x00":
            return body.parse_error("Missing a closing quotation mark in string.", pos)
        what = "Invalid encoding in string."
    elif msg.startswith("Invalid \\u"):
        what = "Incorrect hex digit after \\u escape in string."
    elif msg.startswith("Invalid \\escape"):
        what = "Invalid escape character in string."
    else:  # "Expecting value" and anything else
        what = "Invalid value."
    return body.parse_error(what, pos)


def _malformed_number(text: str, pos: int) -> tuple[str, int] | None:
    """RapidJSON's number errors: a '.' or an exponent with no digits after it."""
    if not 0 < pos < len(text) or text[pos - 1] not in _DIGITS:
        return None
    if text[pos] == ".":
        return "Miss fraction part in number.", pos + 1
    if text[pos] in "eE":
        end = pos + 1
        if end < len(text) and text[end] in "+-":
            end += 1
        return "Miss exponent in number.", end
    return None


def _container_at(text: str, pos: int) -> str:
    stack: list[str] = []
    for match in _STRUCTURE_RE.finditer(text, 0, pos):
        token = match.group()
        if token in "[{":
            stack.append(token)
        elif token in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _read(body: bytes | bytearray | memoryview | str) -> _Body:
    """The body as text (bytes that are not UTF-8 kept as surrogate escapes)."""
    if isinstance(body, str):
        text = body
    elif isinstance(body, (bytes, bytearray, memoryview)):
        # RapidJSON does not validate UTF-8: bytes that are not UTF-8 go through as they are.
        text = bytes(body).decode("utf-8", "surrogateescape")
    else:
        raise _invalid(f"JSON Parse error: the request body must be bytes or str, not {type(body).__name__}")
    if not text:
        raise _invalid("JSON Parse error: The document is empty")
    if text[0] == "\ufeff":  # RapidJSON's UTF-8 input stream skips a byte order mark
        return _Body(text[1:], 3)
    return _Body(text, 0)


def _document(body: _Body) -> dict[str, Any]:
    """Parse the body; it must be a JSON object."""
    doc = _decode(body, body.text)
    if not isinstance(doc, dict):
        raise _format_error(doc, "Is not object")
    return doc


_MAX_NESTING = 256  # far beyond any tensor's rank (numpy allows 32)


def _check_nesting(text: str) -> None:
    """Refuse absurdly deep documents before the C parser recurses into them.

    Python's json recursion guard relies on the interpreter's recursion limit, which heavy
    libraries raise: a deep enough body would then overflow the C stack (a crash, not an
    error). Brackets inside strings are counted too, which only errs on the safe side.
    """
    if text.count("[") + text.count("{") <= _MAX_NESTING:
        return
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = np.zeros(raw.shape, dtype=np.int32)
    steps[(raw == ord("[")) | (raw == ord("{"))] = 1
    steps[(raw == ord("]")) | (raw == ord("}"))] = -1
    if raw.size and int(np.cumsum(steps).max()) > _MAX_NESTING:
        raise _invalid(f"JSON Parse error: the document is nested too deeply (more than {_MAX_NESTING} levels)")


def _decode(body: _Body, text: str) -> Any:
    _check_nesting(text)
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as err:
        first = err
    except ValueError:  # an integer token longer than Python's int conversion limit
        raise _NumberTooBig from None
    # Retry with RapidJSON's extra spellings (Inf, -Inf, -NaN) rewritten to Python's.
    pieces: list[str] = []
    shifts: list[tuple[int, int]] = []  # (end of a replacement in the new text, total growth so far)
    last = growth = 0
    for match in _EXTRA_TOKENS_RE.finditer(text):
        replacement = _EXTRA_TOKENS.get(match.group())
        if replacement is None:
            continue
        pieces += [text[last : match.start()], replacement]
        last = match.end()
        growth += len(replacement) - len(match.group())
        shifts.append((match.end() + growth, growth))
    if not shifts:
        raise _decode_error(body, text, first) from None
    rewritten = "".join([*pieces, text[last:]])
    try:
        return _DECODER.decode(rewritten)
    except ValueError as err:
        if not isinstance(err, json.JSONDecodeError):
            raise _NumberTooBig from None
        ends = [end for end, _ in shifts]
        at = bisect.bisect_right(ends, err.pos) - 1
        original = err.pos - (shifts[at][1] if at >= 0 else 0)
        raise _decode_error(body, text, json.JSONDecodeError(err.msg, text, max(original, 0))) from None


def _format_error(doc: Any, *message: str) -> ServingStatusError:
    return _invalid(f"JSON Value: {_value_str(doc)} " + "".join(message))


def _signature_name(doc: dict[str, Any]) -> str | None:
    if _SIGNATURE_KEY not in doc:
        return None
    name = doc[_SIGNATURE_KEY]
    if not isinstance(name, str):
        raise _format_error(doc, "not formatted correctly. 'signature_name' key must be a string value.")
    return name


# --------------------------------------------------------------------------------------------
# JSON values -> tensors


def _normalize_dtype(dtype: object) -> np.dtype[Any] | str:
    if isinstance(dtype, str) and dtype.lower() in ("string", "str", "bytes", "dt_string", "object"):
        return STRING
    try:
        normalized = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as err:
        raise ServingStatusError(Code.INTERNAL, f"Unsupported input dtype in signature: {dtype!r}") from err
    return STRING if normalized.kind in "OSU" else normalized


def _tf_name(dtype: np.dtype[Any] | str) -> str:
    if isinstance(dtype, str):
        return dtype
    return _TF_NAMES.get(dtype, str(dtype))


def _type_error(value: Any, dtype: np.dtype[Any] | str) -> ServingStatusError:
    return _invalid(
        f"JSON Value: {_value_str(value)} Type: {_json_type(value)} is not of expected type: {_tf_name(dtype)}"
    )


def _lossy_error(value: Any, target: str) -> ServingStatusError:
    return _invalid(f"Cannot convert JSON value: {_value_str(value)} to {target} without loss of precision.")


def _is_b64_object(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and type(value.get(_B64_KEY)) is str


def _is_element_object(value: Any) -> bool:
    return type(value) is dict and not _is_b64_object(value)


_B64_RE: Final = re.compile(r"[A-Za-z0-9+/]*")
_B64_WHITESPACE: Final = str.maketrans("", "", " \t\n\v\f\r")


def _b64decode(text: str) -> bytes | None:
    """absl::Base64Unescape: whitespace ignored, padding ('=' or '.') optional but exact if given."""
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


def _as_double(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise _NumberTooBig from None


def _check_constant(value: float) -> None:
    if value is not _POS_INF and value is not _NEG_INF and not math.isnan(value):
        raise _NumberTooBig


def _check_number(value: Any) -> None:
    """Refuse, as a parse error, a number token too big for a double (about to be a type error)."""
    if type(value) is float and math.isinf(value):
        _check_constant(value)
    elif type(value) is int and not _is_json_int(value):
        _as_double(value)


def _leaf_converter(dtype: np.dtype[Any] | str) -> Callable[[Any], Any]:
    """A function taking one JSON leaf (not a list) to the element value, or raising TF's error."""
    if dtype == STRING:

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

    assert isinstance(dtype, np.dtype)
    if dtype not in _NUMERIC_DTYPES:

        def unsupported(value: Any) -> Any:
            if type(value) is dict:
                raise _type_error(value, dtype)
            raise _error(
                Code.UNIMPLEMENTED, f"Conversion of JSON Value: {_value_str(value)} to type: {_tf_name(dtype)}"
            )

        return unsupported

    if dtype.kind == "f":
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

    if dtype.kind == "b":

        def to_bool(value: Any) -> bool:
            _check_number(value)
            if type(value) is bool:
                return value
            raise _type_error(value, dtype)

        return to_bool

    low, high = _INT_RANGES[dtype]

    def to_int(value: Any) -> int:
        if type(value) is int and low <= value <= high:
            return value
        _check_number(value)
        raise _type_error(value, dtype)

    return to_int


def _dense_shape(value: Any) -> list[int]:
    """TF Serving's GetDenseTensorShape: follow the first element of each list."""
    shape: list[int] = []
    while type(value) is list:
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _checked_shape(value: Any) -> list[int]:
    shape = _dense_shape(value)
    if len(shape) > _MAX_RANK:
        raise _invalid(f"Tensor of rank {len(shape)} is not supported (at most {_MAX_RANK} dimensions)")
    return shape


def _fill(value: Any, level: int, shape: list[int], leaf: Callable[[Any], Any], out: list[Any]) -> None:
    """TF Serving's FillTensorProto: check the nesting against `shape`, convert the leaves."""
    rank = len(shape)
    if type(value) is not list:
        if level != rank:
            raise _invalid(
                f"JSON Value: {_value_str(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        out.append(leaf(value))
        return
    if level >= rank:
        raise _invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise _invalid(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    if level == rank - 1:
        append = out.append
        for item in value:
            if type(item) is list:
                raise _invalid(f"Encountered list at unexpected level: {rank} expected < {rank}")
            append(leaf(item))
    else:
        for item in value:
            _fill(item, level + 1, shape, leaf, out)


def _build(leaves: list[Any], shape: Sequence[int], dtype: np.dtype[Any] | str) -> np.ndarray:
    if len(shape) > _MAX_RANK:  # a batch axis on top of a rank-32 instance
        raise _invalid(f"Tensor of rank {len(shape)} is not supported (at most {_MAX_RANK} dimensions)")
    if dtype == STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        return array.reshape(tuple(shape))
    return np.array(leaves, dtype=dtype).reshape(tuple(shape))


def _fast_numeric(value: Any, dtype: np.dtype[Any] | str, body: _Body) -> np.ndarray | None:
    """Convert a dense numeric value with numpy when that provably gives TF Serving's answer.

    Returns None whenever in doubt (ragged, mixed types, values near a limit): the caller then
    runs the element-by-element path, which gives the exact answer or error.
    """
    if isinstance(dtype, str) or dtype not in _NUMERIC_DTYPES:
        return None
    try:
        array = np.array(value)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = array.dtype.kind
    if kind not in "biuf" or array.ndim > _MAX_RANK:
        return None
    if dtype.kind == "b" or kind == "b":
        return array if kind == "b" and dtype.kind == "b" else None
    if array.size and body.bool_tokens:
        # numpy turns true/false among numbers into 1/0: make sure there are none here.
        if bool in set(map(type, np.array(value, dtype=object).ravel())):
            return None
    if kind == "f":
        if dtype.kind != "f":
            return None  # a decimal token for an integer input: a type error
        flat = array.ravel()
        infinite = np.isinf(flat)
        if infinite.any():
            tokens = np.array(value, dtype=object).ravel()
            if any(tokens[i] is not _POS_INF and tokens[i] is not _NEG_INF for i in np.flatnonzero(infinite)):
                return None  # a number too big for a double
        finite = np.abs(flat[np.isfinite(flat)])
        big = finite[finite > _MAX_EXACT_INT[dtype]]
        # Beyond the exact-integer limit only decimal tokens are fine (an integer token is not);
        # a whole-valued double there may have been an integer token, so let the slow path decide.
        if big.size and (np.any(big == np.floor(big)) or (dtype == np.float32 and big.max() > _F32_MAX)):
            return None
        return array.astype(dtype)
    low, high = (-_MAX_EXACT_INT[dtype], _MAX_EXACT_INT[dtype]) if dtype.kind == "f" else _INT_RANGES[dtype]
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        return None
    return array.astype(dtype)


def _tensor(value: Any, dtype: np.dtype[Any] | str, body: _Body) -> np.ndarray:
    """One tensor from one JSON value (columnar format, or an instance item)."""
    fast = _fast_numeric(value, dtype, body)
    if fast is not None:
        return fast
    shape = _checked_shape(value)
    leaves: list[Any] = []
    _fill(value, 0, shape, _leaf_converter(dtype), leaves)
    return _build(leaves, shape, dtype)


def _instances_fast(
    instances: list[Any], dtypes: dict[str, np.dtype[Any] | str], body: _Body
) -> dict[str, np.ndarray] | None:
    names = list(dtypes)
    columns: dict[str, list[Any]]
    if _is_element_object(instances[0]):
        wanted = set(names)
        columns = {name: [] for name in names}
        for element in instances:
            if not _is_element_object(element) or element.keys() != wanted:
                return None
            for name in names:
                columns[name].append(element[name])
    else:
        if any(_is_element_object(element) for element in instances):
            return None
        columns = {names[0]: instances}
    tensors: dict[str, np.ndarray] = {}
    for name, items in columns.items():
        array = _fast_numeric(items, dtypes[name], body)
        if array is None:
            return None
        tensors[name] = array
    return tensors


def _shape_str(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _instances_exact(instances: list[Any], dtypes: dict[str, np.dtype[Any] | str]) -> dict[str, np.ndarray]:
    """TF Serving's FillTensorMapFromInstancesList, element by element, with its errors."""
    names = list(dtypes)
    converters = {name: _leaf_converter(dtype) for name, dtype in dtypes.items()}
    leaves: dict[str, list[Any]] = {}
    sizes: dict[str, int] = {}
    shapes: dict[str, list[int]] = {}

    def add(item: Any, name: str) -> None:  # AddInstanceItem
        if name not in dtypes:
            raise _invalid(f"JSON object: does not have named input: {name}")
        shape = _checked_shape(item)
        out: list[Any] = []
        _fill(item, 0, shape, converters[name], out)
        if name not in sizes:
            sizes[name], shapes[name] = len(out), shape
        elif sizes[name] != len(out):
            raise _invalid(f"Expecting tensor size: {sizes[name]} but got: {len(out)}")
        elif shapes[name] != shape:
            raise _invalid(f"Expecting shape {_shape_str(shapes[name])} but got: {_shape_str(shape)}")
        leaves.setdefault(name, []).extend(out)

    objects = _is_element_object(instances[0])
    for index, element in enumerate(instances):
        if objects:
            if not _is_element_object(element):
                raise _invalid(f"Expecting object but got list at item {index} of input list")
            for key, item in element.items():
                try:
                    add(item, key)
                except ServingStatusError as err:
                    raise _invalid(
                        f"Failed to process element: {index} key: {key} of 'instances' list. Error: {_status_str(err)}"
                    ) from None
            if set(element) != set(names):
                raise _invalid(
                    f"Failed to process element: {index} of 'instances' list. JSON object: {_value_str(element)} "
                    f"must only have keys: {','.join(sorted(names))}"
                )
        else:
            if _is_element_object(element):
                raise _invalid(f"Expecting value/list but got object at item {index} of input list")
            try:
                add(element, names[0])
            except ServingStatusError as err:
                raise _invalid(
                    f"Failed to process element: {index} of 'instances' list. Error: {_status_str(err)}"
                ) from None
    batch = len(instances)
    return {name: _build(leaves[name], [batch, *shapes[name]], dtypes[name]) for name in names if name in shapes}


def _from_instances(instances: list[Any], dtypes: dict[str, np.dtype[Any] | str], body: _Body) -> dict[str, np.ndarray]:
    if len(dtypes) > 1 and not _is_element_object(instances[0]):
        # TF Serving lets a first element {"b64": ...} past this check and then fills only one of
        # the inputs; we refuse it here, with the same message as for any plain first element.
        raise _invalid(
            "instances is a plain list, but expecting list of objects as multiple input tensors required "
            "as per tensorinfo_map"
        )
    fast = _instances_fast(instances, dtypes, body)
    return fast if fast is not None else _instances_exact(instances, dtypes)


def _from_inputs(value: Any, dtypes: dict[str, np.dtype[Any] | str], body: _Body) -> dict[str, np.ndarray]:
    """TF Serving's FillTensorMapFromInputsMap (names in the object but not in the signature are ignored)."""
    names = list(dtypes)
    if not isinstance(value, dict) or _is_b64_object(value):
        if len(names) > 1:
            raise _invalid(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required "
                "as per tensorinfo_map"
            )
        return {names[0]: _tensor(value, dtypes[names[0]], body)}
    tensors: dict[str, np.ndarray] = {}
    for name in names:
        if name not in value:
            raise _invalid(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = _tensor(value[name], dtypes[name], body)
    return tensors


def _partial_shape_str(shape: Sequence[int | None]) -> str:
    return "[" + ",".join("?" if d is None or d < 0 else str(d) for d in shape) + "]"


def _check_shape(name: str, array: np.ndarray, expected: tuple[int | None, ...] | None, row_format: bool) -> None:
    """Not done by TF Serving's JSON layer (TensorFlow refuses the tensor later); we say it up front."""
    if expected is None:
        return
    got = array.shape
    if len(got) == len(expected) and all(w is None or w < 0 or w == g for w, g in zip(expected, got, strict=True)):
        return
    if row_format:
        raise _invalid(
            f"Input: {name}: each instance has shape {_shape_str(got[1:])} (batched: {_shape_str(got)}) "
            f"but the signature expects shape {_partial_shape_str(expected)}"
        )
    raise _invalid(
        f"Input: {name} has shape {_shape_str(got)} but the signature expects shape {_partial_shape_str(expected)}"
    )


def parse_predict_request(body: bytes | str, inputs: Mapping[str, InputSpec]) -> PredictRequestData:
    """Parse a ``:predict`` body against the signature's inputs (alias -> spec).

    Raises ServingStatusError (INVALID_ARGUMENT, or UNIMPLEMENTED for dtypes TF Serving cannot
    read from JSON) with TF Serving's message for every malformed body.
    """
    return _guarded(body, lambda parsed, doc: _parse_predict(parsed, doc, inputs))


_T = TypeVar("_T")


def _guarded(body: bytes | str, action: Callable[[_Body, dict[str, Any]], _T]) -> _T:
    """Parse the body and run `action`, turning parse-time failures into TF Serving's errors."""
    parsed = _read(body)
    try:
        try:
            return action(parsed, _document(parsed))
        except _NumberTooBig:
            raise parsed.too_big_error() from None
        except _BadSurrogate:
            raise parsed.surrogate_error() from None
    except RecursionError:
        raise _invalid("JSON Parse error: The document is nested too deeply.") from None


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
    for alias, array in tensors.items():
        _check_shape(alias, array, inputs[alias].shape, row_format)
    return PredictRequestData(signature_name=signature, inputs=tensors, row_format=row_format)


# --------------------------------------------------------------------------------------------
# Classify / regress requests (tf.Example features)


def parse_classify_regress_request(body: bytes | str) -> ClassifyRegressRequestData:
    """Parse a ``:classify`` or ``:regress`` body (``context`` optional, ``examples`` required)."""
    return _guarded(body, lambda _parsed, doc: _parse_classify_regress(doc))


def _parse_classify_regress(doc: dict[str, Any]) -> ClassifyRegressRequestData:
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
    # A decimal token (or an integer token too long for 64 bits, which RapidJSON reads as a double).
    expect("float")
    double = _as_double(value) if isinstance(value, int) else float(value)
    if not math.isfinite(double):
        _check_constant(double)
    elif not -_F32_MAX <= double <= _F32_MAX:
        raise _lossy_error(value, "float")
    return float(np.float32(double))


# --------------------------------------------------------------------------------------------
# Tensors -> JSON


def _string_args(flat: np.ndarray, *, as_b64: bool, dtype: np.dtype[Any]) -> list[str]:
    texts: list[str] = []
    for item in flat.tolist():
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
            texts.append('{"b64": "' + binascii.b2a_base64(data, newline=False).decode("ascii") + '"}')
        else:
            texts.append(_json_string(text))
    return texts


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
