"""Numbers: which tokens fit a double, and number text as RapidJSON and TF Serving's WriteDecimal write it."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

import numpy as np

from ._errors import _NumberTooBig

_NAN: Final = float("nan")
_POS_INF: Final = float("inf")
_NEG_INF: Final = float("-inf")
# The JSON constants come back as these very objects; an infinity that is not one of them comes
# from a number token too big for a double (which RapidJSON refuses).
_CONSTANTS: Final = {"NaN": _NAN, "Infinity": _POS_INF, "-Infinity": _NEG_INF}


def _is_json_int(value: int) -> bool:
    """Whether RapidJSON keeps this integer token as an integer (else it becomes a double)."""
    return -(2**63) <= value < 2**64


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
