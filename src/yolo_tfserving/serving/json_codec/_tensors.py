"""JSON values -> numpy tensors: shapes, the numpy fast path, and the ``instances`` / ``inputs`` layouts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..status import ServingStatusError
from ._constants import _F32_MAX, _INT_RANGES, _MAX_EXACT_INT, _MAX_RANK, _NUMERIC_DTYPES, STRING
from ._document import _Body
from ._errors import _invalid, _status_str
from ._leaves import _is_b64_object, _is_element_object, _leaf_converter
from ._numbers import _NEG_INF, _POS_INF
from ._values import _value_str


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
        return _fast_float(array, value, dtype)
    low, high = (-_MAX_EXACT_INT[dtype], _MAX_EXACT_INT[dtype]) if dtype.kind == "f" else _INT_RANGES[dtype]
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        return None
    return array.astype(dtype)


def _fast_float(array: np.ndarray, value: Any, dtype: np.dtype[Any]) -> np.ndarray | None:
    """:func:`_fast_numeric` for numpy's float ``array`` of ``value`` and a float ``dtype``."""
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
            _add_object_element(index, element, names, add)
        else:
            _add_list_element(index, element, names[0], add)
    batch = len(instances)
    return {name: _build(leaves[name], [batch, *shapes[name]], dtypes[name]) for name in names if name in shapes}


def _add_object_element(index: int, element: Any, names: list[str], add: Callable[[Any, str], None]) -> None:
    """One element of an ``instances`` list of objects (input name -> item), each item through ``add``."""
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


def _add_list_element(index: int, element: Any, name: str, add: Callable[[Any, str], None]) -> None:
    """One element of an ``instances`` list for the single input ``name``, through ``add``."""
    if _is_element_object(element):
        raise _invalid(f"Expecting value/list but got object at item {index} of input list")
    try:
        add(element, name)
    except ServingStatusError as err:
        raise _invalid(f"Failed to process element: {index} of 'instances' list. Error: {_status_str(err)}") from None


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
