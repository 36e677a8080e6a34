"""Send a case's httpx requests or gRPC call and classify what comes back (raw sockets: :mod:`.http_raw`)."""

from __future__ import annotations

import functools
import ssl
import time
from typing import Any

from .cases import DROPPED, HANG, UNEXPECTED, Case, GrpcCall, HttpRequest, Outcome, short, worst
from .classify import grpc_class, http_class
from .http_raw import run_exchange

_GRPC_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One context for every httpx.Client (building one per client costs ~10 ms of CA loading)."""
    return ssl.create_default_context()


def send_case(case: Case, *, host: str, rest_port: int, grpc_target: str, timeout_s: float) -> Outcome:
    start = time.monotonic()
    if case.raw is not None:
        return run_exchange(host, rest_port, case.raw, timeout_s)
    if case.grpc is not None:
        outcome = send_grpc(grpc_target, case.grpc, timeout_s)
    else:
        outcome = send_http(f"http://{host}:{rest_port}", case.http, timeout_s)
    outcome.seconds = time.monotonic() - start
    return outcome


def send_http(base_url: str, requests: tuple[HttpRequest, ...], timeout_s: float) -> Outcome:
    """Every request on one httpx connection (keep-alive); the worst outcome is the case's."""
    import httpx

    classes, details = [], []
    with httpx.Client(timeout=timeout_s, verify=_ssl_context()) as client:
        for request in requests:
            url = httpx.URL(base_url).copy_with(raw_path=request.path.encode("ascii"))
            try:
                response = client.request(
                    request.method, url, content=request.body or None, headers=dict(request.headers)
                )
            except httpx.TimeoutException:
                return Outcome(HANG, f"no response in {timeout_s:.0f} s ({request.method} {short(request.path, 60)})")
            except httpx.RemoteProtocolError as exc:
                text = str(exc)
                cls = DROPPED if "without sending" in text or "disconnected" in text else UNEXPECTED
                return Outcome(cls, f"{text} ({request.method} {short(request.path, 60)})")
            except (httpx.ReadError, httpx.WriteError, httpx.ConnectError) as exc:
                return Outcome(DROPPED, f"{type(exc).__name__}: {exc}")
            cls, why = http_class(response.status_code)
            classes.append(cls)
            details.append(f"{response.status_code} {short(response.content, 100)}" + (f" [{why}]" if why else ""))
    return Outcome(worst(classes), "; ".join(details))


def send_grpc(target: str, call: GrpcCall, timeout_s: float) -> Outcome:
    """One unary call of raw bytes on a fresh channel (so no case inherits another's connection state)."""
    import grpc

    channel = grpc.insecure_channel(target, options=_GRPC_OPTIONS)
    try:
        method: Any = channel.unary_unary(call.method, request_serializer=None, response_deserializer=None)
        try:
            reply = method(call.request, timeout=call.timeout_s if call.timeout_s is not None else timeout_s)
        except grpc.RpcError as error:
            code = error.code().name  # type: ignore[attr-defined]
            details = error.details() or ""  # type: ignore[attr-defined]
            return Outcome(grpc_class(code, details, slow=call.slow), f"{code}: {short(details, 160)}")
        return Outcome(grpc_class("OK", "", slow=call.slow), f"OK ({len(reply)} bytes)")
    finally:
        channel.close()
