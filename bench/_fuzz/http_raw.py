"""Send a :class:`RawExchange` on a fresh socket, read every HTTP response that comes back, classify.

After the responses a correct server owes (``expect_responses``, or fewer when it announced
``Connection: close``), the client half-closes and reads to EOF: whatever else arrives is a response to
bytes the client never framed as a request (``desync``). The server sees the client's EOF only after
every byte before it, so this is deterministic, not a race.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from .cases import ABANDONED, CLOSED, DESYNC, DROPPED, HANG, UNEXPECTED, Outcome, RawExchange, short, worst
from .classify import http_class


class _Timeout(Exception):
    pass


class _Eof(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


class _Reader:
    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self.sock = sock
        self.buf = b""
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s

    def restart_clock(self) -> None:
        self.deadline = time.monotonic() + self.timeout_s

    def _fill(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise _Timeout from None
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            raise _Eof
        self.buf += chunk

    def until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("no end of headers")
            self._fill()
        head, _, self.buf = self.buf.partition(marker)
        return head

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        try:
            while True:
                self._fill()
        except _Eof:
            pass
        out, self.buf = self.buf, b""
        return out

    def response(self, head_request: bool) -> Response:
        while True:
            head = self.until(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ValueError(f"not an HTTP status line: {short(lines[0], 80)}")
            status = int(parts[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200:
                continue  # interim (100 Continue)
            break
        if head_request and headers.get("connection", "").lower() == "close":
            body = self.rest()  # a request line too broken to be read as HEAD may be answered with a body
        elif head_request or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = self.exactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked()
        else:
            body = self.rest()
        return Response(status, headers, body)

    def _chunked(self) -> bytes:
        out = b""
        while True:
            size = int(self.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self.until(b"\r\n")
                return out
            out += self.exactly(size)
            self.exactly(2)


def _send(sock: socket.socket, exchange: RawExchange) -> str:
    """Write the pieces; '' or why the server stopped taking them (it may have answered already)."""
    for i, piece in enumerate(exchange.pieces):
        if i and exchange.pause_s:
            time.sleep(exchange.pause_s)  # a slow client on purpose; bounded by the generator
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError) as exc:
            return type(exc).__name__
        except TimeoutError:
            return "send timed out"
    return ""


def run_exchange(host: str, port: int, exchange: RawExchange, timeout_s: float) -> Outcome:
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        return Outcome(DROPPED, f"connect failed: {exc}")
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        send_error = _send(sock, exchange)
        if exchange.expect_responses == 0:
            if exchange.reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return Outcome(ABANDONED, "cut off by the client", time.monotonic() - start)
        if exchange.half_close or send_error:
            _shutdown(sock)
        outcome = _read(sock, exchange, timeout_s)
        if send_error:
            outcome.notes.append(f"send stopped: {send_error}")
        outcome.seconds = time.monotonic() - start
        return outcome
    finally:
        sock.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _read(sock: socket.socket, exchange: RawExchange, timeout_s: float) -> Outcome:
    reader = _Reader(sock, timeout_s)
    responses: list[Response] = []
    early = _read_owed(reader, exchange, timeout_s, responses)
    if early is not None:
        return early
    _shutdown(sock)
    reader.restart_clock()
    return _read_extra(reader, exchange, responses)


def _read_owed(reader: _Reader, exchange: RawExchange, timeout_s: float, responses: list[Response]) -> Outcome | None:
    """Read what the server owes into ``responses``; an outcome when that already decides, else None."""
    try:
        while len(responses) < exchange.expect_responses:
            responses.append(reader.response(exchange.head))
            if responses[-1].closes:
                break
    except _Eof:
        if reader.buf:
            return Outcome(UNEXPECTED, f"truncated response: {short(reader.buf, 100)}")
        return _classify(responses, exchange)
    except _Timeout:
        got = f"{len(responses)} of {exchange.expect_responses} responses" if responses else "no response"
        return Outcome(HANG, f"{got} in {timeout_s:.0f} s" + (" (partial bytes)" if reader.buf else ""))
    except ValueError as exc:
        return Outcome(UNEXPECTED, f"unparseable response: {exc}")
    return None


def _read_extra(reader: _Reader, exchange: RawExchange, responses: list[Response]) -> Outcome:
    """After the client's EOF: anything more is an answer to bytes the client did not frame as a request."""
    allowed = max(exchange.max_responses, exchange.expect_responses)
    try:
        while True:
            extra = reader.response(exchange.head)
            if len(responses) >= allowed or responses[-1].closes:
                return _desync(responses, extra)
            responses.append(extra)
    except _Eof:
        if reader.buf:
            return Outcome(DESYNC, f"bytes after the last response: {short(reader.buf, 100)}")
        return _classify(responses, exchange)
    except _Timeout:
        if reader.buf:
            return Outcome(DESYNC, f"bytes after the last response: {short(reader.buf, 100)}")
        out = _classify(responses, exchange)
        out.notes.append("connection left open after the client's EOF")
        return out
    except ValueError as exc:
        return Outcome(DESYNC, f"bytes after the last response: {exc}")


def _desync(responses: list[Response], extra: Response) -> Outcome:
    seen = ", ".join(str(r.status) for r in [*responses, extra])
    return Outcome(DESYNC, f"{len(responses) + 1}+ responses to {len(responses)} framed request(s): {seen}")


def _classify(responses: list[Response], exchange: RawExchange) -> Outcome:
    if not responses:
        return Outcome(CLOSED if exchange.malformed else DROPPED, "closed without a response")
    classes = [http_class(r.status) for r in responses]
    detail = "; ".join(f"{r.status} {short(r.body, 100)}" for r in responses)
    cls = worst([c for c, _ in classes])
    if len(responses) < exchange.expect_responses and not responses[-1].closes and not exchange.malformed:
        return Outcome(worst([cls, DROPPED]), f"{len(responses)} of {exchange.expect_responses} answered: {detail}")
    return Outcome(cls, detail)
