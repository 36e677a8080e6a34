"""HTTP statuses and gRPC codes -> outcome classes."""

from __future__ import annotations

from .cases import CLIENT_ERROR, DROPPED, HANG, OK, UNEXPECTED

#: 501 (UNIMPLEMENTED), 503 (UNAVAILABLE: load shedding), 505 (a request line's HTTP version refused)
EXPECTED_5XX = (501, 503, 505)
EXPECTED_GRPC = {
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
    "UNIMPLEMENTED",
    "RESOURCE_EXHAUSTED",
    "OUT_OF_RANGE",
    "UNAVAILABLE",
}
#: UNAVAILABLE details that mean the transport broke, not that the server shed load
TRANSPORT_BROKE = ("Socket closed", "Connection reset", "failed to connect", "Broken pipe", "Connection refused")


def http_class(status: int) -> tuple[str, str]:
    if 200 <= status < 300:
        return OK, ""
    if 400 <= status < 500 or status in EXPECTED_5XX:
        return CLIENT_ERROR, ""
    if status == 504:  # the server's own deadline (30 s): longer than the client waits for a fast request
        return HANG, "504 Deadline Exceeded"
    return UNEXPECTED, f"HTTP {status}"


def grpc_class(code: str, details: str, *, slow: bool) -> str:
    if code == "OK":
        return OK
    if code == "DEADLINE_EXCEEDED":
        return CLIENT_ERROR if slow else HANG
    if code == "UNAVAILABLE" and any(marker in details for marker in TRANSPORT_BROKE):
        return DROPPED
    if code in EXPECTED_GRPC:
        return CLIENT_ERROR
    return UNEXPECTED
