"""What a fuzz case is (one exchange with the server) and the classes its outcome falls in."""

from __future__ import annotations

from dataclasses import dataclass, field

# -- outcome classes -----------------------------------------------------------------------------
OK = "ok"  # 2xx / OK
CLIENT_ERROR = "client_error"  # 4xx, 501, 503, 505 / INVALID_ARGUMENT, NOT_FOUND ... (the client's fault)
CLOSED = "closed"  # closed without a response, on a request broken at the framing level (acceptable)
ABANDONED = "abandoned"  # the client cut the request off on purpose; no response awaited
UNEXPECTED = "unexpected"  # 5xx / INTERNAL / UNKNOWN / unparseable response: a bug
HANG = "hang"  # client timeout on a request that should be answered fast
DROPPED = "dropped"  # connection closed without any response to a well-formed request
DESYNC = "desync"  # more responses than requests the client framed (a smuggled request was answered)
CRASH = "crash"  # the server process exited during the case

CLASSES = (OK, CLIENT_ERROR, CLOSED, ABANDONED, UNEXPECTED, HANG, DROPPED, DESYNC, CRASH)
BAD = (UNEXPECTED, HANG, DROPPED, DESYNC, CRASH)
#: when one case holds several exchanges, the worst class is the case's
SEVERITY = {name: rank for rank, name in enumerate(CLASSES)}


def worst(classes: list[str]) -> str:
    return max(classes, key=SEVERITY.__getitem__) if classes else OK


@dataclass(frozen=True)
class HttpRequest:
    """One request sent with httpx (well framed by construction)."""

    method: str
    path: str  # path and query, sent as given (httpx's raw_path)
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RawExchange:
    """Bytes written to a fresh TCP connection, and what a correct server may answer."""

    pieces: tuple[bytes, ...]
    expect_responses: int = 1  # requests the bytes frame; 0: cut off, no response awaited
    max_responses: int = 0  # more answers that are still right (0: expect_responses); beyond: desync
    malformed: bool = False  # broken framing: closing without a response is acceptable
    half_close: bool = False  # shutdown(SHUT_WR) right after the bytes (the request ends at EOF)
    pause_s: float = 0.0  # between pieces (bounded dribbling)
    head: bool = False  # the request is HEAD: responses carry no body
    reset: bool = False  # cut off with an RST (SO_LINGER 0) instead of a FIN


@dataclass(frozen=True)
class GrpcCall:
    """One unary RPC with already-serialized request bytes (valid, mutated or garbage)."""

    method: str
    request: bytes
    timeout_s: float | None = None  # None: the soak's client timeout
    slow: bool = False  # a deadline short on purpose: DEADLINE_EXCEEDED is expected


@dataclass(frozen=True)
class Case:
    """One fuzz case: exactly one of ``http`` (on one httpx connection), ``raw`` or ``grpc``."""

    index: int
    transport: str  # "rest" | "grpc"
    kind: str  # the generator, e.g. "rest/framing", "grpc/garbage"
    label: str  # one line: what is sent
    http: tuple[HttpRequest, ...] = ()
    raw: RawExchange | None = None
    grpc: GrpcCall | None = None

    @property
    def ref(self) -> str:
        return f"{self.transport}:{self.index}"


@dataclass
class Outcome:
    cls: str
    detail: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def short(data: bytes | str, limit: int = 120) -> str:
    """A printable one-line preview of a payload."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    shown = text[:limit].encode("unicode_escape").decode("ascii")[:limit]
    return shown if len(text) <= limit else f"{shown}...({len(text)} chars)"
