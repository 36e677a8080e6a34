"""Error plumbing: status errors with printable messages, and the internal control-flow exceptions."""

from __future__ import annotations

from ..status import Code, ServingStatusError


class _NumberTooBig(Exception):
    """A number token that does not fit a double (RapidJSON refuses it while parsing)."""


class _BadSurrogate(Exception):
    """A string holding a lone UTF-16 surrogate escape (RapidJSON refuses it while parsing)."""


class _Stop(Exception):
    """RapidJSON's writer gives up (a non-finite number inside a container)."""


class _TooLong(Exception):
    """The rendering of a value passed _MAX_VALUE_CHARS."""


def _status_str(err: ServingStatusError) -> str:
    # absl::Status::ToString(): "INVALID_ARGUMENT: message".
    return f"{err.code.name}: {err.message}"


def _error(code: Code, message: str) -> ServingStatusError:
    # Raw bytes of a non-UTF-8 body live in the message as surrogate escapes; make it printable.
    try:
        clean = message.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a raw byte
        clean = message.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return ServingStatusError(code, clean)


def _invalid(message: str) -> ServingStatusError:
    return _error(Code.INVALID_ARGUMENT, message)
