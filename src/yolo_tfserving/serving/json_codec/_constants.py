"""Names, keys, limits and dtype tables shared by the codec's modules."""

from __future__ import annotations

from typing import Final

import numpy as np

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
