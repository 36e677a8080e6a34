"""How a gRPC handler answers: TF Serving's statuses on the wire, requests parsed from bytes, deadlines.

:func:`rpc` is the one place an exception becomes a gRPC status (:func:`grpc_status`); :func:`parsing`
turns undecodable request bytes into INVALID_ARGUMENT (grpcio's own deserializer would answer INTERNAL
and log a traceback).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn

import grpc

from .status import Code, ServingStatusError

log = logging.getLogger("yolo_tfserving.serving.grpc")


def grpc_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and message a failed RPC answers with.

    A :class:`ServingStatusError` keeps its canonical code and message (the codes are gRPC's own);
    anything else is an INTERNAL error whose message names the exception.
    """
    if isinstance(exc, ServingStatusError):
        if exc.code == Code.OK:  # not an error at all; never abort with OK
            return grpc.StatusCode.UNKNOWN, _truncated(exc.message)
        return grpc.StatusCode[exc.code.name], _truncated(exc.message)
    return grpc.StatusCode.INTERNAL, _truncated(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


MAX_STATUS_MESSAGE = 1024


def _truncated(message: str) -> str:
    """TF Serving's ToGRPCStatus: at most 1024 characters, then ``...TRUNCATED`` (a status travels in a
    header, which gRPC limits)."""
    return message if len(message) <= MAX_STATUS_MESSAGE else message[:MAX_STATUS_MESSAGE] + "...TRUNCATED"


Handler = Callable[[Any, Any, grpc.ServicerContext], Any]


def rpc(name: str) -> Callable[[Handler], Handler]:
    """Run a handler; any exception becomes a status (:func:`grpc_status`) and the server goes on."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return fn(self, request, context)
            except ServingStatusError as exc:
                log.debug("%s failed: %s", name, exc.message)
                failure: BaseException = exc
            except Exception as exc:  # never a dead server, never a traceback to the client
                log.exception("internal error in %s", name)
                failure = exc
            abort(context, failure)

        return handler

    return wrap


def parsing(fn: Callable[[Any, grpc.ServicerContext], Any], request_cls: Any) -> Callable[[bytes, Any], Any]:
    from google.protobuf.message import DecodeError

    name = request_cls.DESCRIPTOR.full_name

    def handler(data: bytes, context: grpc.ServicerContext) -> Any:
        try:
            request = request_cls.FromString(data)
        except (DecodeError, ValueError, RecursionError) as exc:
            log.info("undecodable %s (%d bytes): %s", name, len(data), exc)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Could not parse the request as {name}: {exc}")
        return fn(request, context)

    return handler


def deadline_of(context: grpc.ServicerContext) -> float | None:
    """The client's deadline as a ``time.monotonic()`` instant (None: the client set none)."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > 1e9 else time.monotonic() + remaining


def abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    code, message = grpc_status(exc)
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover
