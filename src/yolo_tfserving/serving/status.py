"""Status codes (absl/gRPC canonical codes) and their HTTP mapping, in one place.

The REST and gRPC front ends never choose a status themselves: the core raises
:class:`ServingStatusError` with a :class:`Code`, and each front end maps it here
(``http_status``) or passes the code straight through (gRPC).
"""

from __future__ import annotations

from .._errors import ServingError
from .._wire.enums import ErrorCode

# The canonical codes are tensorflow.error.Code, the enum TF Serving's StatusProto carries.
Code = ErrorCode


# TF Serving's model_servers/http_server.cc ToHTTPStatusCode.
_HTTP = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


def http_status(code: Code) -> int:
    """The HTTP status TF Serving answers for a canonical code."""
    return _HTTP.get(code, 500)


class ServingStatusError(ServingError):
    """An error with a canonical status code; the message is what the client sees."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ServingStatusError({self.code.name}, {self.message!r})"


def invalid_argument(message: str) -> ServingStatusError:
    return ServingStatusError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingStatusError:
    return ServingStatusError(Code.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingStatusError:
    return ServingStatusError(Code.FAILED_PRECONDITION, message)


def unimplemented(message: str) -> ServingStatusError:
    return ServingStatusError(Code.UNIMPLEMENTED, message)
