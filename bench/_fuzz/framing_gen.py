"""Raw-socket REST cases: HTTP/1.1 framing attacks and slow or cut-off clients.

Each builder returns ``(label, RawExchange)``. ``expect_responses`` is what a correct server answers:
a request it reads as one must not come back as two (``desync``), and after a request with both
Content-Length and Transfer-Encoding it must close (RFC 9112 6.3). ``malformed`` marks requests a
server may drop without answering. Slow clients stay bounded (at most ~1 s of dribbling); a request the
client never finishes is ``expect_responses=0`` (abandoned), never awaited.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .cases import RawExchange, short
from .documents import Route, valid_route
from .models import Target
from .values import dumps

HOST = b"Host: 127.0.0.1\r\n"


def request_bytes(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    headers: tuple[tuple[str, str], ...] = (),
    version: str = "HTTP/1.1",
    content_length: bool = True,
) -> bytes:
    lines = [f"{method} {path} {version}".encode("utf-8", "surrogatepass") + b"\r\n", HOST]
    lines += [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers]
    if content_length and (body or method in ("POST", "PUT", "PATCH")):
        lines.append(b"Content-Length: %d\r\n" % len(body))
    return b"".join(lines) + b"\r\n" + body


def _valid(rng: random.Random, target: Target, *, post: bool = False) -> tuple[Route, bytes]:
    route = valid_route(rng, target)
    while post and route.method != "POST":
        route = valid_route(rng, target)
    body = dumps(route.doc).encode() if route.doc is not None else b""
    return route, body


def _head(method: str, path: str, extra: bytes) -> bytes:
    return f"{method} {path} HTTP/1.1\r\n".encode() + HOST + extra


def chunked(body: bytes, rng: random.Random) -> bytes:
    out, i = [], 0
    while i < len(body):
        n = min(rng.randint(1, max(1, len(body) // 2)), len(body) - i)
        out.append(b"%x\r\n%s\r\n" % (n, body[i : i + n]))
        i += n
    return b"".join(out) + b"0\r\n\r\n"


# -- framing --------------------------------------------------------------------------------------
def cl_invalid(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    """A Content-Length that is no number (RFC 9110: 1*DIGIT; "10, 10" is a list a server may read as 10)."""
    route, _ = _valid(rng, target, post=True)
    body = b'{"x": 1.0}'  # 10 bytes: whichever way "10, 10" is read, the bytes frame one request
    value = rng.choice(
        ["abc", "-1", "-100", "1e3", "0x10", "10, 10", "", "99999999999999999999", "18446744073709551616"]
    )
    data = _head("POST", route.path, f"Content-Length: {value}\r\n\r\n".encode()) + body
    return f"Content-Length: {value!r} on {route.path}", RawExchange((data,), malformed=True)


def cl_too_big(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target, post=True)
    claimed = len(body) + rng.choice([1, 100, 1 << 20, 1 << 31])
    data = _head("POST", route.path, b"Content-Length: %d\r\n\r\n" % claimed) + body
    label = f"Content-Length {claimed} > body {len(body)} then EOF"
    return label, RawExchange((data,), malformed=True, half_close=True)


def cl_too_small(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target, post=True)
    claimed = rng.randint(0, max(0, len(body) - 1))
    data = _head("POST", route.path, b"Content-Length: %d\r\n\r\n" % claimed) + body
    # the rest of the body is the next "request" (garbage, ended by the client's EOF): one more answer at most
    label = f"Content-Length {claimed} < body {len(body)}"
    return label, RawExchange((data,), max_responses=2, malformed=True, half_close=True)


def cl_duplicate(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target, post=True)
    values = [len(body), len(body) + rng.randint(1, 50)]
    rng.shuffle(values)
    extra = b"".join(b"Content-Length: %d\r\n" % v for v in values)
    data = _head("POST", route.path, extra + b"\r\n") + body
    return f"two Content-Length {values}", RawExchange((data,), malformed=True, half_close=True)


def te_chunked(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    """A valid chunked body (HTTP/1.1 allows it; TF Serving's evhttp reads it)."""
    route, body = _valid(rng, target, post=True)
    data = _head("POST", route.path, b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    return f"chunked body on {route.path}", RawExchange((data + chunked(body, rng),))


def te_smuggle(rng: random.Random, target: Target) -> tuple[str, RawExchange]:  # noqa: ARG001 - a generator's (rng, target)
    """A chunked body whose data is a second request: one request, so one answer."""
    inner = _head("GET", f"/v1/models/{target.yolo}", b"\r\n")
    data = _head("POST", f"/v1/models/{target.half}:predict", b"Transfer-Encoding: chunked\r\n\r\n")
    data += b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner)
    return "chunked body holding a smuggled GET", RawExchange((data,))


def cl_and_te(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    """CL.TE / TE.CL: both headers; the server must answer once and close."""
    inner = _head("GET", f"/v1/models/{target.yolo}", b"\r\n")
    variant = rng.randrange(2)
    if variant == 0:  # chunked body ends at once; the CL covers the smuggled request
        body = b"0\r\n\r\n" + inner
        extra = b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body)
    else:  # CL ends early; the chunk data is the smuggled request
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner)
        extra = b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
    data = _head("POST", f"/v1/models/{target.half}:predict", extra) + body
    return f"Content-Length and Transfer-Encoding (variant {variant})", RawExchange((data,), malformed=True)


def te_odd(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    coding = rng.choice(
        ["chunked, identity", "xchunked", " Chunked", "identity", "gzip", "chunked\x0b", "chunked, chunked"]
    )
    inner = _head("GET", f"/v1/models/{target.yolo}", b"\r\n")
    extra = f"Transfer-Encoding: {coding}\r\n".encode("latin-1")
    if rng.random() < 0.5:
        extra += b"Transfer-Encoding: chunked\r\n"
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner)
    data = _head("POST", f"/v1/models/{target.half}:predict", extra + b"\r\n") + body
    return f"Transfer-Encoding {coding!r}", RawExchange((data,), malformed=True)


def header_flood(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target)
    n = rng.choice([101, 1000, 10_000])
    extra = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"v" * rng.randint(1, 40)) for i in range(n))
    data = _head(route.method, route.path, extra + b"Content-Length: %d\r\n\r\n" % len(body)) + body
    return f"{n} headers on {route.method} {route.path}", RawExchange((data,), malformed=True)


def header_oversize(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target)
    size = rng.choice([8192, 65_537, 1 << 20])
    name = rng.choice([b"X-Big", b"Cookie", b"X-" + b"n" * 1000])
    extra = name + b": " + b"a" * size + b"\r\n" + b"Content-Length: %d\r\n\r\n" % len(body)
    return f"one {size}-byte header", RawExchange((_head(route.method, route.path, extra) + body,), malformed=True)


def request_line(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    path = f"/v1/models/{target.yolo}"
    line = rng.choice(
        [
            b"GET\r\n\r\n",
            f"GET {path}\r\n\r\n".encode(),
            f"GET {path} HTTP/1.1 extra\r\n".encode() + HOST + b"\r\n",
            f"GET {path} HTTP/9.9\r\n".encode() + HOST + b"\r\n",
            f"GET {path} HTTP/1.1\n".encode() + b"Host: x\n\n",
            f"GET {path}\x00 HTTP/1.1\r\n".encode() + HOST + b"\r\n",
            f"GET\t{path}\tHTTP/1.1\r\n".encode() + HOST + b"\r\n",
            b"\r\n\r\n" + f"GET {path} HTTP/1.1\r\n".encode() + HOST + b"\r\n",
            f"GET http://127.0.0.1{path} HTTP/1.1\r\n".encode() + HOST + b"\r\n",
            b"CONNECT 127.0.0.1:443 HTTP/1.1\r\n" + HOST + b"\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET /" + b"a" * rng.choice([65_537, 1 << 20]) + b" HTTP/1.1\r\n" + HOST + b"\r\n",
            b"G\xffT " + path.encode() + b" HTTP/1.1\r\n" + HOST + b"\r\n",
            b"   \r\n" + HOST + b"\r\n",
        ]
    )
    # HTTP/2's preface reads as two HTTP/1.1 requests ("PRI * HTTP/2.0", then "SM"): two answers are right
    most = 2 if line.startswith(b"PRI") else 0
    exchange = RawExchange((line,), max_responses=most, malformed=True, half_close=rng.random() < 0.5)
    return f"request line {short(line, 60)}", exchange


def header_syntax(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target, post=True)
    length = b"%d" % len(body)
    extra = rng.choice(
        [
            b"NoColonHere\r\nContent-Length: " + length + b"\r\n",
            b"Content-Length : " + length + b"\r\n",
            b"X-Folded: a\r\n b\r\nContent-Length: " + length + b"\r\n",
            b"X-\xff\xfe: v\r\nContent-Length: " + length + b"\r\n",
            b": empty-name\r\nContent-Length: " + length + b"\r\n",
            HOST + b"Content-Length: " + length + b"\r\n",
            b"Content-Length: " + length + b"\r\nContent-Type: \x00\x01\r\n",
            b"Content-Length:\t" + length + b"\t\r\n",
        ]
    )
    data = _head("POST", route.path, extra + b"\r\n") + body
    return f"header syntax {short(extra, 50)}", RawExchange((data,), malformed=True, half_close=True)


def pipeline(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    parts, n = [], rng.randint(2, 4)
    close_first = rng.random() < 0.25
    for i in range(n):
        route, body = _valid(rng, target)
        headers: tuple[tuple[str, str], ...] = (("Connection", "close"),) if close_first and i == 0 else ()
        if body:
            headers += (("Content-Type", "application/json"),)
        parts.append(request_bytes(route.method, route.path, body, headers=headers))
    data = b"".join(parts)
    cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(0, 3))))
    pieces = tuple(data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True))
    label = f"{n} pipelined valid requests" + (" (first says Connection: close)" if close_first else "")
    return label, RawExchange(pieces, expect_responses=1 if close_first else n)


def expect_continue(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target, post=True)
    data = request_bytes("POST", route.path, body, headers=(("Expect", "100-continue"),))
    return f"Expect: 100-continue on {route.path}", RawExchange((data,))


def http10(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target)
    data = request_bytes(route.method, route.path, body, version="HTTP/1.0")
    return f"HTTP/1.0 {route.method} {route.path}", RawExchange((data,))


def garbage(rng: random.Random, target: Target) -> tuple[str, RawExchange]:  # noqa: ARG001 - a generator's (rng, target)
    data = rng.randbytes(rng.randint(1, 4096))
    if rng.random() < 0.5:
        data += b"\r\n\r\n"
    return f"{len(data)} random bytes", RawExchange((data,), malformed=True, half_close=True)


FRAMING: list[Callable[[random.Random, Target], tuple[str, RawExchange]]] = [
    cl_invalid,
    cl_too_big,
    cl_too_small,
    cl_duplicate,
    te_chunked,
    te_smuggle,
    cl_and_te,
    te_odd,
    header_flood,
    header_oversize,
    request_line,
    request_line,
    header_syntax,
    pipeline,
    pipeline,
    expect_continue,
    http10,
    garbage,
]


def framing(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    builder = rng.choice(FRAMING)
    label, exchange = builder(rng, target)
    return f"{builder.__name__}: {label}", exchange


# -- slow clients (bounded) -------------------------------------------------------------------------
def slow(rng: random.Random, target: Target) -> tuple[str, RawExchange]:
    route, body = _valid(rng, target)
    headers = (("Content-Type", "application/json"),) if body else ()
    data = request_bytes(route.method, route.path, body, headers=headers)
    mode = rng.randrange(4)
    if mode == 0:  # dribbled in up to 10 pieces, ~0.5 s at most
        k = rng.randint(2, 10)
        cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, k - 1)))
        pieces = tuple(data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True))
        return f"dribble {route.method} {route.path} in {len(pieces)} pieces", RawExchange(pieces, pause_s=0.05)
    if mode == 1:  # the first 48 bytes one at a time
        head = [data[i : i + 1] for i in range(min(48, len(data)))]
        pieces = (*head, data[48:]) if len(data) > 48 else tuple(head)
        return f"byte-by-byte start of {route.method} {route.path}", RawExchange(pieces, pause_s=0.005)
    cut = rng.randint(1, len(data) - 1)
    reset = rng.random() < 0.5
    if mode == 2:  # cut off anywhere, no answer awaited
        pieces = (data[: cut // 2], data[cut // 2 : cut])
        label = f"cut off after {cut}/{len(data)} bytes ({'RST' if reset else 'FIN'})"
        return label, RawExchange(pieces, expect_responses=0, pause_s=0.02, reset=reset)
    big = _head("POST", route.path, b"Content-Length: %d\r\n\r\n" % (10 << 20)) + rng.randbytes(1024)
    return "promises 10 MB, sends 1 KB, cut off", RawExchange((big,), expect_responses=0, reset=reset)
