"""protobuf's JSON and text formats for our messages, bound to the private descriptor pool.

``json_format`` and ``text_format`` look the type of an ``Any``'s contents up in a descriptor pool (the
default one unless told): these helpers always pass :data:`._pool.POOL`, so an ``Any`` holding one of our
messages (``GetModelMetadataResponse.metadata``, ``ModelServerConfig.custom_model_config`` ...) prints and
parses. Keyword arguments are json_format's / text_format's own; ``including_default_value_fields`` (every
field without presence printed, at its default too) is passed under whichever name the installed protobuf
uses (``always_print_fields_with_no_presence`` from protobuf 5.26 on).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, TypeVar

from google.protobuf import json_format, text_format
from google.protobuf.message import Message

from ._pool import POOL

__all__ = ["message_to_dict", "message_to_json", "message_to_text", "parse_dict", "parse_json", "parse_text"]

M = TypeVar("M", bound=Message)


@functools.cache
def _print_defaults_name() -> str:
    parameters = inspect.signature(json_format.MessageToDict).parameters
    old = "including_default_value_fields"
    return old if old in parameters else "always_print_fields_with_no_presence"


def _defaults(including_default_value_fields: bool) -> dict[str, bool]:
    return {_print_defaults_name(): True} if including_default_value_fields else {}


def message_to_dict(
    message: Message,
    *,
    preserving_proto_field_name: bool = False,
    including_default_value_fields: bool = False,
    use_integers_for_enums: bool = False,
) -> dict[str, Any]:
    """``json_format.MessageToDict`` (JSON-ready dict) with our pool."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=preserving_proto_field_name,
        use_integers_for_enums=use_integers_for_enums,
        descriptor_pool=POOL,
        **_defaults(including_default_value_fields),
    )


def message_to_json(
    message: Message,
    *,
    preserving_proto_field_name: bool = False,
    including_default_value_fields: bool = False,
    use_integers_for_enums: bool = False,
    indent: int | None = 2,
    sort_keys: bool = False,
) -> str:
    """``json_format.MessageToJson`` with our pool."""
    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=preserving_proto_field_name,
        use_integers_for_enums=use_integers_for_enums,
        indent=indent,
        sort_keys=sort_keys,
        descriptor_pool=POOL,
        **_defaults(including_default_value_fields),
    )


def parse_json(text: str | bytes, message: M, *, ignore_unknown_fields: bool = False) -> M:
    """``json_format.Parse`` into ``message`` (returned) with our pool."""
    json_format.Parse(text, message, ignore_unknown_fields=ignore_unknown_fields, descriptor_pool=POOL)
    return message


def parse_dict(data: dict[str, Any], message: M, *, ignore_unknown_fields: bool = False) -> M:
    """``json_format.ParseDict`` into ``message`` (returned) with our pool."""
    json_format.ParseDict(data, message, ignore_unknown_fields=ignore_unknown_fields, descriptor_pool=POOL)
    return message


def message_to_text(message: Message, *, as_one_line: bool = False) -> str:
    """``text_format.MessageToString`` with our pool (an ``Any`` prints expanded)."""
    return text_format.MessageToString(message, as_one_line=as_one_line, descriptor_pool=POOL)


def parse_text(text: str | bytes, message: M, *, allow_unknown_field: bool = False) -> M:
    """``text_format.Parse`` into ``message`` (returned) with our pool: a config file (``ModelServerConfig``,
    ``MonitoringConfig``, ``BatchingParameters`` ...) parses, an unknown field is an error unless allowed."""
    text_format.Parse(text, message, allow_unknown_field=allow_unknown_field, descriptor_pool=POOL)
    return message
