"""A small protobuf *text format* reader for TF Serving's flat config files.

``--batching_parameters_file`` and ``--monitoring_config_file`` are text protos whose
message types ship only inside TF Serving's binary; this reads any text proto into nested
dicts (repeated fields become lists) so that we can check them field by field.
"""

from __future__ import annotations

import re
from typing import Any

from .._errors import InputError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<punct>[{}:<>;,\[\]])
      | (?P<word>[A-Za-z0-9_.+\-]+)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            line = text.count("\n", 0, pos) + 1
            raise InputError(f"text proto syntax error at line {line}: {text[pos : pos + 20]!r}")
        pos = match.end()
        if match.group("comment"):
            continue
        out.append(match.group(0).strip())
    return out


def _scalar(token: str) -> Any:
    if token[0] in "\"'":
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    if token in ("true", "True"):
        return True
    if token in ("false", "False"):
        return False
    try:
        return int(token, 0)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token  # an enum name


def parse_text_proto(text: str) -> dict[str, Any]:
    """Parse text format into ``{field: value | dict | [values]}``."""
    tokens = _tokens(text)
    pos = 0

    def message(end: str | None) -> dict[str, Any]:
        nonlocal pos
        fields: dict[str, Any] = {}
        while pos < len(tokens):
            tok = tokens[pos]
            if end is not None and tok == end:
                pos += 1
                return fields
            if tok in ";,":
                pos += 1
                continue
            name = tok
            pos += 1
            if pos >= len(tokens):
                raise InputError(f"text proto ends after field name {name!r}")
            if tokens[pos] == ":":
                pos += 1
            if pos >= len(tokens):
                raise InputError(f"text proto ends after '{name}:'")
            if tokens[pos] in ("{", "<"):
                closing = "}" if tokens[pos] == "{" else ">"
                pos += 1
                value: Any = message(closing)
            elif tokens[pos] == "[":
                pos += 1
                value = []
                while tokens[pos] != "]":
                    if tokens[pos] != ",":
                        value.append(_scalar(tokens[pos]))
                    pos += 1
                pos += 1
            else:
                value = _scalar(tokens[pos])
                pos += 1
            if name in fields:
                existing = fields[name]
                fields[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
            else:
                fields[name] = value
        if end is not None:
            raise InputError(f"text proto: missing '{end}'")
        return fields

    return message(None)
