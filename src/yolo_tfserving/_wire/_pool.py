"""The private descriptor pool every generated ``*_pb2`` module of this package adds its file to.

TensorFlow and tensorflow-serving-api register the same full names (``tensorflow.TensorProto``,
``tensorflow.serving.PredictRequest`` ...) in protobuf's default pool; registering ours there too would be a
conflict when both are imported in one process. So the generated modules are post-processed by
``scripts/gen_protos.py`` to call ``POOL.AddSerializedFile`` instead of ``descriptor_pool.Default()``'s, and
:func:`build_messages` instead of protobuf's ``builder.BuildTopDescriptorsAndMessages`` (which also indexes
each class in the default symbol database -- under the pure-Python backend, in the default pool itself).

The pool holds the well-known types our ``.proto`` files import (same serialized files as the default pool's,
so ``Any.Pack``/``Unpack`` and the wrappers behave as usual). ``json_format`` and ``text_format`` need it
passed as ``descriptor_pool=`` to resolve the contents of an ``Any``: see :mod:`.formats`.
"""

from __future__ import annotations

from typing import Any, cast

from google.protobuf import (
    any_pb2,
    duration_pb2,
    empty_pb2,
    message_factory,
    reflection,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf import message as _message
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.internal import enum_type_wrapper

__all__ = ["POOL", "WELL_KNOWN_FILES", "build_messages", "message_class"]

_WELL_KNOWN = (any_pb2, duration_pb2, empty_pb2, struct_pb2, timestamp_pb2, wrappers_pb2)

#: The well-known ``.proto`` files pre-loaded into :data:`POOL` (the generator refuses an import outside them).
WELL_KNOWN_FILES: tuple[str, ...] = tuple(module.DESCRIPTOR.name for module in _WELL_KNOWN)


def _new_pool() -> DescriptorPool:
    pool = DescriptorPool()
    for module in _WELL_KNOWN:
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)  # type: ignore[no-untyped-call]  # types-protobuf
    # classes for the well-known messages of this pool (the pure-Python protobuf backend builds a message
    # field's class only when some module created it; upb would create them on demand)
    message_factory.GetMessageClassesForFiles(WELL_KNOWN_FILES, pool)
    return pool


#: The one pool of this package's messages; never protobuf's default pool.
POOL: DescriptorPool = _new_pool()


def message_class(full_name: str) -> type[_message.Message]:
    """The class of a message of :data:`POOL` by full name -- for the well-known types (``google.protobuf.Any``
    ...): the fields of our messages hold these classes, not the default pool's ``any_pb2.Any``."""
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))  # type: ignore[no-untyped-call]


def build_messages(file: FileDescriptor, module_name: str, namespace: dict[str, Any]) -> None:
    """Put ``file``'s top-level enums, services and message classes into a generated module's ``namespace``.

    What protobuf's ``builder.BuildTopDescriptorsAndMessages`` does, less the registration in the default
    symbol database (nothing of ours is looked up there: ``json_format`` and ``text_format`` find classes from
    descriptors, given :data:`POOL`).
    """
    for name, enum in file.enum_types_by_name.items():
        namespace["_" + name.upper()] = enum
        namespace[name] = enum_type_wrapper.EnumTypeWrapper(enum)
        for value in enum.values:
            namespace[value.name] = value.number
    for name, extension in file.extensions_by_name.items():
        namespace[name.upper() + "_FIELD_NUMBER"] = extension.number
        namespace[name] = extension
    for name, service in file.services_by_name.items():
        namespace["_" + name.upper()] = service
    for name, message in file.message_types_by_name.items():
        namespace[name] = _message_class(message, module_name)


def _message_class(descriptor: Descriptor, module_name: str) -> type[_message.Message]:
    members: dict[str, Any] = {
        name: _message_class(nested, module_name) for name, nested in descriptor.nested_types_by_name.items()
    }
    members["DESCRIPTOR"] = descriptor
    members["__module__"] = module_name
    cls = reflection.GeneratedProtocolMessageType(descriptor.name, (_message.Message,), members)
    return cast("type[_message.Message]", cls)
