"""Block-style YAML writer (no dependency): enough for the manifests, with exact quoting of strings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
            return value
        return _quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar in printable ASCII (anything else escaped, astral characters as \\U)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _block_text(text: str, indent: int) -> str | None:
    """A literal block scalar for multi-line text, or None when one cannot hold it exactly."""
    if "\n" not in text or text.startswith((" ", "\n")) or text.endswith("\n\n"):
        return None
    if not all(line.isascii() and line.isprintable() for line in text.split("\n")):  # refuses \r, \t, \x85...
        return None
    indicator = "|" if text.endswith("\n") else "|-"
    pad = " " * indent
    lines = [f"{pad}{line}" if line else "" for line in text.rstrip("\n").split("\n")]
    return indicator + "\n" + "\n".join(lines)


def _yaml(node: Any, indent: int = 0) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            head = f"{pad}{_scalar(str(key))}:"
            if isinstance(value, Mapping | list | tuple) and value:
                out.append(head)
                out.extend(_yaml(value, indent + 2 if isinstance(value, Mapping) else indent))
            elif isinstance(value, Mapping):
                out.append(f"{head} {{}}")
            elif isinstance(value, list | tuple):
                out.append(f"{head} []")
            elif isinstance(value, str) and (block := _block_text(value, indent + 2)) is not None:
                out.append(f"{head} {block}")
            else:
                out.append(f"{head} {_scalar(value)}")
    elif isinstance(node, list | tuple):
        for item in node:
            if isinstance(item, Mapping) and item:
                lines = _yaml(item, indent + 2)
                lines[0] = f"{pad}- {lines[0][indent + 2 :]}"
                out.extend(lines)
            elif isinstance(item, list | tuple) and item:
                lines = _yaml(item, indent + 2)
                lines[0] = f"{pad}- {lines[0][indent + 2 :]}"
                out.extend(lines)
            elif isinstance(item, Mapping):
                out.append(f"{pad}- {{}}")
            elif isinstance(item, list | tuple):
                out.append(f"{pad}- []")
            else:
                out.append(f"{pad}- {_scalar(item)}")
    else:
        out.append(f"{pad}{_scalar(node)}")
    return out


def to_yaml(documents: Sequence[tuple[str, Any]]) -> str:
    """Several YAML documents, each preceded by its ``# comment`` lines (a comment may be empty)."""
    chunks = []
    for comment, doc in documents:
        lines = [f"# {c}".rstrip() for c in comment.splitlines()] if comment else []
        chunks.append("\n".join([*lines, *_yaml(doc)]) + "\n")
    return "---\n".join(chunks)
