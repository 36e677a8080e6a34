"""Reading the body: text from bytes, JSON as RapidJSON parses it (kParseNanAndInfFlag), and its parse errors."""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ..status import ServingStatusError
from ._errors import _invalid, _NumberTooBig
from ._numbers import _CONSTANTS
from ._values import _format_error

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
    return body.parse_error(*_rapidjson_message(msg, text, pos))


def _rapidjson_message(msg: str, text: str, pos: int) -> tuple[str, int]:
    """RapidJSON's message for Python's json error ``msg`` at ``pos``, and the offset it reports."""
    if msg.startswith("Extra data"):
        return "The document root must not be followed by other values.", pos
    if msg.startswith("Expecting ',' delimiter"):
        if _container_at(text, pos) == "{":
            return "Missing a comma or '}' after an object member.", pos
        return "Missing a comma or ']' after an array element.", pos
    if msg.startswith("Expecting ':' delimiter"):
        return "Missing a colon after a name of object member.", pos
    if msg.startswith("Expecting property name") or msg.startswith("Illegal trailing comma before end of object"):
        return "Missing a name for object member.", pos
    if msg.startswith("Unterminated string"):
        return "Missing a closing quotation mark in string.", len(text)
    if msg.startswith("Invalid control character"):
        if pos < len(text) and text[pos] == "\x00":
            return "Missing a closing quotation mark in string.", pos
        return "Invalid encoding in string.", pos
    if msg.startswith("Invalid \\u"):
        return "Incorrect hex digit after \\u escape in string.", pos
    if msg.startswith("Invalid \\escape"):
        return "Invalid escape character in string.", pos
    return "Invalid value.", pos  # "Expecting value" and anything else


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
