"""JSON documents: a serializer that can emit what Python's json cannot (raw tokens), and mutators.

Documents are plain Python values with :class:`Raw` leaves for text written verbatim (``1e999``,
``NaN``, a lone surrogate, 10,000 open brackets ...), so hostile JSON is built without recursing in the
client and without json's own checks.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Raw:
    """JSON text written as is."""

    text: str


def dumps(value: Any) -> str:
    """JSON text of ``value``, :class:`Raw` leaves verbatim (json's C encoder does the rest)."""
    raws: list[str] = []

    def placeholder(obj: Any) -> str:
        if not isinstance(obj, Raw):
            raise TypeError(f"not JSON: {type(obj).__name__}")
        raws.append(obj.text)
        return f"\x00raw{len(raws) - 1}\x00"

    text = json.dumps(value, allow_nan=True, default=placeholder)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{i}\\u0000"', raw, 1)
    return text


def deep(depth: int, *, closed: bool, opener: str = "[") -> Raw:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return Raw(opener * depth + "0" + (closer * depth if closed else ""))


def hostile_value(rng: random.Random) -> Any:
    """A value where the server expects something else (or nothing at all)."""
    choices: list[Any] = [
        None,
        True,
        "",
        "abc",
        "1.5",
        -1,
        0,
        2**63,
        2**64 + 1,
        -(2**63) - 1,
        1e308,
        -0.0,
        [],
        {},
        [[]],
        [[], [[]]],
        {"b64": "!!not base64!!"},
        {"b64": 123},
        {"b64": ""},
        {"b64": "QUJD\nREVG"},
        {"b64": "QUJDRA"},  # missing padding
        {"b64": "QUJD", "extra": 1},
        Raw("1e999"),
        Raw("-1e999"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("-Infinity"),
        Raw("9" * rng.choice([20, 400, 5000])),
        Raw("0." + "0" * 1000 + "1"),
        Raw("1" + "0" * 400 + ".5e-400"),
        Raw('"\\ud800"'),
        Raw('"\\u0000"'),
        Raw("nul"),
        Raw("[1,]"),
        "x" * rng.choice([100, 10_000, 200_000]),
        [rng.random() for _ in range(rng.randint(1, 64))],
        [[rng.randint(-5, 5)] * rng.randint(0, 4) for _ in range(rng.randint(1, 8))],  # ragged
        deep(rng.choice([32, 100, 1000, 10_000]), closed=rng.random() < 0.7),
        deep(rng.choice([100, 10_000]), closed=True, opener='{"a":'),
    ]
    return rng.choice(choices)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list) and len(value) <= 8:  # big arrays: mutate the container, not every leaf
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def mutate(rng: random.Random, doc: Any, *, signature_names: list[Any]) -> Any:
    """One structural mutation of ``doc`` (in place when possible; documents are built fresh per case)."""
    paths = _paths(doc)
    op = rng.choice(["replace", "replace", "delete", "add", "signature", "swap", "wrap", "dup"])
    if op == "signature" and isinstance(doc, dict):
        choice = rng.choice(signature_names)
        if choice is _DELETE:
            doc.pop("signature_name", None)
        else:
            doc["signature_name"] = choice
        return doc
    if op == "swap" and isinstance(doc, dict):
        for a, b in (("instances", "inputs"), ("inputs", "instances"), ("examples", "instances")):
            if a in doc:
                doc[b] = doc.pop(a) if rng.random() < 0.6 else doc[a]
                return doc
    path = rng.choice(paths)
    if not path:
        return hostile_value(rng) if op == "replace" else [doc]
    parent, key = _get(doc, path[:-1]), path[-1]
    if op == "delete":
        del parent[key]
    elif op == "add" and isinstance(parent, dict):
        parent[rng.choice(["extra", "", "b64", "instances", "inputs", "x", "images", "\u00e9\u00e8"])] = hostile_value(
            rng
        )
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "dup" and isinstance(parent, list):
        parent.append(hostile_value(rng) if rng.random() < 0.5 else parent[key])
    else:
        parent[key] = hostile_value(rng)
    return doc


class _Delete:
    def __repr__(self) -> str:
        return "<delete>"


_DELETE = _Delete()
SIGNATURE_NAMES: list[Any] = [
    _DELETE,
    "",
    "serving_default",
    "detect",
    "raw",
    "raw_bytes",
    "class_names",
    "predict_nchw",
    "classify_x_to_y",
    "regress_x_to_y",
    "regress_x_to_y2",
    "nope",
    "tensorflow/serving/predict",
    123,
    None,
    ["serving_default"],
    "x" * 10_000,
    "serving_default\u0000",
]


def mutate_text(rng: random.Random, text: bytes) -> bytes:
    """A byte-level mutation of serialized JSON."""
    op = rng.randrange(10)
    n = len(text)
    if op == 0:
        return text[: rng.randint(0, max(0, n - 1))]
    if op == 1 and n:
        i = rng.randrange(n)
        return text[:i] + bytes([rng.randrange(256)]) + text[i + 1 :]
    if op == 2:
        i = rng.randint(0, n)
        return text[:i] + rng.choice([b",", b"]", b"}", b'"', b"\\", b"\x00", b"\xff\xfe", b"\xc3("]) + text[i:]
    if op == 3:
        return b"\xef\xbb\xbf" + text  # UTF-8 BOM
    if op == 4:
        return text + rng.choice([b"}", b" garbage", b"\x00", b'{"instances": [1]}'])
    if op == 5:
        return rng.choice([b"", b" ", b"null", b"[]", b"1", b'"s"', b"{}", b"{", b"\x80\x81"])
    if op == 6:
        return text.replace(b":", b"=", 1)
    if op == 7 and text.startswith(b"{"):  # duplicate top-level keys
        return b'{"instances": [], "inputs": {}, ' + text[1:]
    if op == 8:
        return text.decode("latin-1").encode("utf-16")
    return text.replace(b'"', b"'")
