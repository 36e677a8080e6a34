"""numpy <-> ``tensorflow.TensorProto`` (the one codec of the client, the server and the warm-up records).

Encoding offers the three forms a TensorProto takes in practice (``encoding=``):

- ``"make_tensor_proto"`` (the default): byte for byte what ``tf.make_tensor_proto`` gives for a numpy
  array -- numeric tensors of more than one element in ``tensor_content``; single elements, bool, complex
  and uint16 tensors in their typed ``*_val`` field;
- ``"typed_fields"``: TensorFlow's ``Tensor::AsProtoField`` -- every element in the typed field of the dtype
  (``float_val``, ``int_val``, ``int64_val``, ``half_val`` (float16 bit patterns), ``bool_val``,
  ``scomplex_val``/``dcomplex_val`` ((real, imaginary) pairs), ``uint32_val``, ``uint64_val`` ...);
- ``"tensor_content"``: ``Tensor::AsProtoTensorContent`` -- the raw little-endian bytes of every numeric
  dtype, whatever the size.

Strings (numpy str/bytes/object arrays) are always ``string_val`` (``str`` as UTF-8). Typed fields are
written as one packed field built from the array's bytes and merged into the message (a ``repeated``
field's ``extend`` converts element by element, a hundred times slower for a detection head's output); the
message is the one ``extend`` would give, so it serializes to the same bytes.

Decoding follows ``tf.make_ndarray`` (see :func:`tensor_proto_to_ndarray`), and reads a long typed field back
the same way, from its packed bytes.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import tf_core_pb2
from .enums import DataType
from .tf_core_pb2 import TensorProto

__all__ = [
    "ENCODINGS",
    "Encoding",
    "datatype_to_numpy",
    "ndarray_to_tensor_proto",
    "numpy_to_datatype",
    "tensor_proto_to_ndarray",
    "write_tensor_proto",
]

Encoding = Literal["make_tensor_proto", "typed_fields", "tensor_content"]
ENCODINGS: tuple[Encoding, ...] = get_args(Encoding)

# numpy dtype (little-endian) for each DataType with a numpy equivalent. bfloat16 has none in plain numpy:
# it is decoded to float32 (exactly) and cannot be encoded.
_NUMPY_OF: dict[int, np.dtype[Any]] = {
    DataType.DT_FLOAT: np.dtype("<f4"),
    DataType.DT_DOUBLE: np.dtype("<f8"),
    DataType.DT_HALF: np.dtype("<f2"),
    DataType.DT_INT8: np.dtype("i1"),
    DataType.DT_INT16: np.dtype("<i2"),
    DataType.DT_INT32: np.dtype("<i4"),
    DataType.DT_INT64: np.dtype("<i8"),
    DataType.DT_UINT8: np.dtype("u1"),
    DataType.DT_UINT16: np.dtype("<u2"),
    DataType.DT_UINT32: np.dtype("<u4"),
    DataType.DT_UINT64: np.dtype("<u8"),
    DataType.DT_BOOL: np.dtype("?"),
    DataType.DT_COMPLEX64: np.dtype("<c8"),
    DataType.DT_COMPLEX128: np.dtype("<c16"),
    DataType.DT_STRING: np.dtype(object),
}
_DATATYPE_OF: dict[tuple[str, int], DataType] = {
    (dt.kind, dt.itemsize): DataType(code) for code, dt in _NUMPY_OF.items() if code != DataType.DT_STRING
}

# The dtypes tf.make_tensor_proto writes to tensor_content (when the tensor has more than one element); the
# others (bool, complex, uint16, strings) go to their typed field.
_CONTENT_TYPES = frozenset(
    {
        DataType.DT_FLOAT,
        DataType.DT_DOUBLE,
        DataType.DT_HALF,
        DataType.DT_INT8,
        DataType.DT_INT16,
        DataType.DT_INT32,
        DataType.DT_INT64,
        DataType.DT_UINT8,
        DataType.DT_UINT32,
        DataType.DT_UINT64,
    }
)

# The typed field of each dtype: (name, field number, how its packed elements are written). "raw": fixed-size
# little-endian values (the array's own bytes); "varint": base-128 varints of the values as uint64 (negative
# int32 values sign-extended, as protobuf does).
_Packing = Literal["raw", "varint"]
_VAL_FIELD: dict[int, tuple[str, int, _Packing]] = {
    DataType.DT_FLOAT: ("float_val", 5, "raw"),
    DataType.DT_DOUBLE: ("double_val", 6, "raw"),
    DataType.DT_COMPLEX64: ("scomplex_val", 9, "raw"),
    DataType.DT_COMPLEX128: ("dcomplex_val", 12, "raw"),
    DataType.DT_HALF: ("half_val", 13, "varint"),
    DataType.DT_BFLOAT16: ("half_val", 13, "varint"),
    DataType.DT_INT8: ("int_val", 7, "varint"),
    DataType.DT_INT16: ("int_val", 7, "varint"),
    DataType.DT_INT32: ("int_val", 7, "varint"),
    DataType.DT_UINT8: ("int_val", 7, "varint"),
    DataType.DT_UINT16: ("int_val", 7, "varint"),
    DataType.DT_INT64: ("int64_val", 10, "varint"),
    DataType.DT_UINT32: ("uint32_val", 16, "varint"),
    DataType.DT_UINT64: ("uint64_val", 17, "varint"),
    DataType.DT_BOOL: ("bool_val", 11, "varint"),
}
_STRING_FIELD = "string_val"

_MAX_MESSAGE_BYTES = (1 << 31) - 1  # protobuf's 2 GiB message limit
_LENGTH_DELIMITED = 2
# v needs k + 1 varint bytes when _VARINT_LIMITS[k - 1] <= v < _VARINT_LIMITS[k]
_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def field_name(dtype: int) -> str:
    """The name of the typed ``TensorProto`` field that holds ``dtype``'s values (``float_val`` ...)."""
    if dtype == DataType.DT_STRING:
        return _STRING_FIELD
    try:
        return _VAL_FIELD[dtype][0]
    except KeyError:
        raise TypeError(f"unsupported tensor dtype {_dtype_name(dtype)}") from None


def numpy_to_datatype(dtype: np.dtype[Any] | type[Any] | str) -> DataType:
    """The ``DataType`` for a numpy dtype; str/bytes/object arrays are ``DT_STRING``."""
    dt = np.dtype(dtype)
    if dt.kind in "OSU":
        return DataType.DT_STRING
    try:
        return _DATATYPE_OF[(dt.kind, dt.itemsize)]
    except KeyError:
        raise TypeError(f"numpy dtype {dt} has no TensorFlow DataType equivalent") from None


def datatype_to_numpy(dtype: int) -> np.dtype[Any]:
    """The numpy dtype for a ``DataType`` value (``DT_STRING`` -> object, holding ``bytes``; ``DT_BFLOAT16`` ->
    float32, which holds every bfloat16 exactly)."""
    if dtype == DataType.DT_BFLOAT16:
        return np.dtype(np.float32)
    try:
        return _NUMPY_OF[dtype]
    except KeyError:
        raise TypeError(f"unsupported tensor dtype {_dtype_name(dtype)}") from None


def _dtype_name(dtype: int) -> str:
    try:
        return DataType(dtype).name
    except ValueError:
        return str(dtype)


# -- encoding --------------------------------------------------------------------------------------------------


def ndarray_to_tensor_proto(array: ArrayLike, *, encoding: Encoding = "make_tensor_proto") -> TensorProto:
    """A new ``tensorflow.TensorProto`` holding ``array`` in the form ``encoding`` names (see the module)."""
    proto = TensorProto()
    write_tensor_proto(proto, array, encoding=encoding)
    return proto


def write_tensor_proto(proto: TensorProto, array: ArrayLike, *, encoding: Encoding = "make_tensor_proto") -> None:
    """Make ``proto`` (cleared first) hold ``array``, as :func:`ndarray_to_tensor_proto`. Writing in place
    saves copying a large tensor into a map entry (``response.outputs[name]``) afterwards."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown tensor encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    arr = np.asarray(array)
    code = numpy_to_datatype(arr.dtype)
    proto.Clear()
    proto.dtype = tf_core_pb2.DataType.ValueType(code)
    shape = proto.tensor_shape
    shape.SetInParent()
    for size in arr.shape:
        shape.dim.add(size=int(size))
    if code == DataType.DT_STRING:
        proto.string_val.extend([_as_bytes(v) for v in arr.ravel().tolist()])
        return
    arr = arr.astype(_NUMPY_OF[code], copy=False)  # little-endian, whatever the input byte order
    if arr.nbytes > _MAX_MESSAGE_BYTES:
        raise ValueError(f"tensor of {arr.nbytes} bytes exceeds protobuf's 2 GiB message limit")
    if encoding == "tensor_content" or (encoding == "make_tensor_proto" and code in _CONTENT_TYPES and arr.size > 1):
        proto.tensor_content = arr.tobytes()
        return
    if arr.size:
        _, number, packing = _VAL_FIELD[code]
        payload = arr.tobytes() if packing == "raw" else _encode_varints(_varint_values(code, arr.ravel()))
        key = _encode_varint((number << 3) | _LENGTH_DELIMITED)
        proto.MergeFromString(key + _encode_varint(len(payload)) + payload)  # appends to the (empty) field


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"string tensors hold bytes or str, not {type(value).__name__}")


def _varint_values(code: int, flat: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The uint64 a varint field stores for each element: float16 bit patterns, sign-extended signed ints."""
    if code == DataType.DT_HALF:
        return flat.view("<u2").astype(np.uint64)
    if flat.dtype.kind == "i":
        return flat.astype(np.int64).view(np.uint64)
    return flat.astype(np.uint64)  # unsigned and bool (0 / 1)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_varints(values: np.ndarray[Any, np.dtype[np.uint64]]) -> bytes:
    """The concatenated base-128 varints of ``values`` (what a packed varint field's payload is)."""
    lengths = np.ones(values.shape, dtype=np.uint8)
    for limit in _VARINT_LIMITS:
        lengths += values >= limit
    width = int(lengths.max())
    if width == 1:
        return values.astype(np.uint8).tobytes()
    # 7-bit groups, computed on the 32-bit halves (cheaper than uint64 arithmetic)
    low = (values & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    high = (values >> np.uint64(32)).astype(np.uint32)
    groups = np.empty((values.size, width), dtype=np.uint8)
    for k in range(width):
        shift = 7 * k
        if shift + 7 <= 32:
            bits = low >> np.uint32(shift)
        elif shift < 32:
            bits = (low >> np.uint32(shift)) | (high << np.uint32(32 - shift))
        else:
            bits = high >> np.uint32(shift - 32)
        groups[:, k] = (bits & np.uint32(0x7F)).astype(np.uint8) | ((lengths > k + 1).astype(np.uint8) << 7)
    if int(lengths.min()) == width:
        return groups.tobytes()
    return groups[np.arange(width, dtype=np.uint8) < lengths[:, None]].tobytes()


# -- decoding --------------------------------------------------------------------------------------------------


def tensor_proto_to_ndarray(proto: TensorProto) -> np.ndarray[Any, Any]:
    """A numpy array holding the values of a ``tensorflow.TensorProto`` -- ours or TensorFlow's class.

    Follows ``tf.make_ndarray``: ``tensor_content`` when set, else the typed field of the dtype (``int_val``
    for int8/int16/int32/uint8/uint16, wrapping as TensorFlow's C++ cast does; ``half_val`` holding float16
    bit patterns ...); a typed field shorter than the shape is filled out with its last value (so one value
    fills the whole shape), an empty one gives zeros (``b""`` for strings). Strings come back as an object
    array of ``bytes``. The array is a writable copy, independent of the message.
    """
    if proto.tensor_shape.unknown_rank:
        raise ValueError("tensor has unknown rank")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise ValueError(f"tensor has an unknown dimension: {shape}")
    count = math.prod(shape)
    code = int(proto.dtype)
    dtype = datatype_to_numpy(code)

    if code == DataType.DT_STRING:
        return _strings(proto, shape, count)

    if proto.tensor_content:
        content = proto.tensor_content
        wire = np.dtype("<u2") if code == DataType.DT_BFLOAT16 else dtype
        if len(content) != count * wire.itemsize:
            raise ValueError(
                f"tensor_content holds {len(content)} bytes; shape {shape} of {_dtype_name(code)} needs "
                f"{count * wire.itemsize}"
            )
        values = np.frombuffer(content, dtype=wire)
        if code == DataType.DT_BFLOAT16:
            return _bfloat16_bits_to_float32(values).reshape(shape)
        return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape)

    values = _typed_values(proto, code, dtype)
    if values.size == 0:
        return np.zeros(shape, dtype=values.dtype)
    if values.size > count:
        raise ValueError(f"tensor holds {values.size} values for shape {shape}")
    if values.size < count:
        values = np.concatenate([values, np.full(count - values.size, values[-1], dtype=values.dtype)])
    return values.reshape(shape)


def _strings(proto: TensorProto, shape: tuple[int, ...], count: int) -> np.ndarray[Any, Any]:
    if proto.tensor_content:
        raise ValueError("DT_STRING tensors cannot be decoded from tensor_content")
    strings = list(proto.string_val)
    out = np.empty(count, dtype=object)
    if strings:
        if len(strings) > count:
            raise ValueError(f"tensor holds {len(strings)} strings for shape {shape}")
        out[: len(strings)] = strings
        out[len(strings) :] = strings[-1]
    else:
        out[:] = b""
    return out.reshape(shape)


def _typed_values(proto: TensorProto, code: int, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """The typed field's values as a flat array (float16/bfloat16 decoded, complex pairs joined), read from
    the field's packed bytes in the serialized message (element-by-element iteration is far slower)."""
    name, number, packing = _VAL_FIELD[code]
    native = dtype.newbyteorder("=")
    field = getattr(proto, name)
    count = len(field)
    if packing == "raw" and dtype.kind == "c" and count % 2:
        raise ValueError("complex tensor has an odd number of real/imaginary parts")
    if count == 0:
        return np.zeros(0, dtype=np.float32 if code == DataType.DT_BFLOAT16 else native)
    payload = _packed_payload(proto.SerializeToString(), number)
    if packing == "raw":
        element = np.dtype(f"<f{dtype.itemsize // 2}" if dtype.kind == "c" else dtype.str)
        parts = np.frombuffer(payload, dtype=element) if payload is not None else np.fromiter(field, element, count)
        # (real, imaginary) pairs are exactly numpy's complex layout
        return (parts.view(dtype) if dtype.kind == "c" else parts).astype(native, copy=True)
    if payload is not None:
        raw = _decode_varints(payload, max_bytes=10 if code in (DataType.DT_INT64, DataType.DT_UINT64) else 5)
    else:
        raw = np.fromiter((int(v) & 0xFFFFFFFFFFFFFFFF for v in field), dtype=np.uint64, count=count)
    if code in (DataType.DT_HALF, DataType.DT_BFLOAT16):
        bits = raw.astype(np.uint16)
        return _bfloat16_bits_to_float32(bits) if code == DataType.DT_BFLOAT16 else bits.view(np.float16)
    if code == DataType.DT_BOOL:
        nonzero: NDArray[np.bool_] = raw != 0
        return nonzero
    if name == "int_val":  # int32 on the wire (sign-extended); narrower dtypes wrap, as TF's C++ cast
        return raw.astype(np.uint32).view(np.int32).astype(native)
    if code == DataType.DT_INT64:
        return raw.view(np.int64).astype(native)
    return raw.astype(native)  # uint32, uint64


def _packed_payload(data: bytes, number: int) -> bytes | None:
    """The packed elements of field ``number`` in a serialized message (every length-delimited occurrence,
    joined), or None when an element appears unpacked."""
    chunks: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _decode_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == _LENGTH_DELIMITED:
            length, pos = _decode_varint(data, pos)
            if field == number:
                chunks.append(data[pos : pos + length])
            pos += length
            continue
        if field == number:
            return None
        if wire_type == 0:
            _, pos = _decode_varint(data, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            return None
    return b"".join(chunks)


def _decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _decode_varints(payload: bytes, *, max_bytes: int = 10) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The values of concatenated base-128 varints (a packed varint field's payload), as uint64. With
    ``max_bytes=5`` only the low 32 bits are exact (enough for 32-bit fields, whose negative values protobuf
    sign-extends to ten bytes)."""
    buf = np.frombuffer(payload, dtype=np.uint8)
    ends = np.flatnonzero(buf < 0x80)  # the last byte of each varint
    if ends.size == buf.size:
        return buf.astype(np.uint64)
    if ends.size == 0 or ends[-1] != buf.size - 1:
        raise ValueError("truncated varint in a packed field")
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    values = np.zeros(ends.size, dtype=np.uint64)
    if int(lengths.min()) == int(lengths.max()):  # one length: a plain (count, length) byte matrix
        matrix = buf.reshape(ends.size, int(lengths[0]))
        for k in range(min(matrix.shape[1], max_bytes)):
            values |= (matrix[:, k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        return values
    for length in np.unique(lengths).tolist():  # each length's varints at once
        which = np.flatnonzero(lengths == length)
        first = starts[which]
        group = np.zeros(which.size, dtype=np.uint64)
        for k in range(min(length, max_bytes)):
            group |= (buf[first + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
        values[which] = group
    return values


def _bfloat16_bits_to_float32(bits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return (bits.astype(np.uint32) << 16).view(np.float32)
