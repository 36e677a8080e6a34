"""The REST codec's base64 (absl::Base64Unescape's rules): the strict one-pass fast path for canonical text
decodes exactly as the full rules do, and everything else still goes by those rules."""

from __future__ import annotations

import base64
import binascii
import re

import pytest

from yolo_tfserving.serving.json_codec._leaves import _b64decode

_ALPHABET = re.compile(r"[A-Za-z0-9+/]*")


def _absl(text: str) -> bytes | None:
    """The rules alone, written out again: whitespace dropped, '=' or '.' padding optional but exact."""
    compact = "".join(ch for ch in text if ch not in " \t\n\v\f\r")
    data = compact.rstrip("=.")
    padding = len(compact) - len(data)
    if not _ALPHABET.fullmatch(data) or len(data) % 4 == 1:
        return None
    expected = (0, 0, 2, 1)[len(data) % 4]
    if padding not in (0, expected):
        return None
    return binascii.a2b_base64(data + "=" * expected)


CASES = [
    "",
    base64.b64encode(bytes(range(256))).decode(),
    "QQ==",  # canonical, padded
    "QUI=",
    "QUJD",
    "QQ",  # unpadded
    "QUI",
    "QQ..",  # '.' padding
    "QQ=",  # short padding
    "QQ===",  # too much padding
    "QUJD====",
    "QUJD=",  # padding after a whole quantum (strict base64 takes these; absl does not)
    "QUJD==",
    "QUJD===",
    "QUJDQQ=A",
    "QUJDQ===",
    "Q",  # one dangling character
    "QQ==QQ==",  # data after padding
    "=QQ=",
    "QU JD",  # whitespace
    "QUJD\n",
    "QU\tJD==",
    "QUJ*",  # not the alphabet
    "QUJD-_",  # urlsafe alphabet: not accepted
    "QUJDé",  # not ASCII
    "////",
    "++++",
]


@pytest.mark.parametrize("text", CASES)
def test_decodes_as_absl_does(text: str) -> None:
    assert _b64decode(text) == _absl(text)


def test_a_large_canonical_payload_round_trips() -> None:
    data = bytes(range(256)) * 400 + b"\x00\xff"
    assert _b64decode(base64.b64encode(data).decode()) == data
