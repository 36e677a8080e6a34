"""HTTP/1.1 for the REST API: h11's state machine on an asyncio loop, with limits, timeouts and a drain.

Why h11 and not ``http.server`` (or uvicorn): HTTP framing is h11's, so it is right by construction --
chunked bodies are read, a malformed or negative ``Content-Length`` is a 400, a body is never read as the
next request (and a request with both ``Content-Length`` and ``Transfer-Encoding`` is refused, so no proxy
in front can disagree with us about where it ends). Driving h11 ourselves (rather than through uvicorn,
which uses it) is what lets every answer be TF Serving's JSON ``{"error": ...}`` -- including the 400, 408,
413, 414, 431 and 503 that a server library would write as its own text page -- and gives the timeouts a
hostile client needs: for the request head (slowloris), for an idle keep-alive connection and between body
reads. Work runs on a thread pool (TensorFlow releases the GIL); the loop only moves bytes.

Limits (:class:`HttpLimits`): body size (413 before reading it), header size (431; 414 for a request line
alone too long), concurrent large bodies in memory (503 at once beyond it). :meth:`HttpServer.stop` drains:
no new connections, idle keep-alive connections closed at once, in-flight requests answered (with
``Connection: close``) within the drain deadline, then everything closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import h11

log = logging.getLogger("yolo_tfserving.serving.rest")

#: handler(method, target, headers, body, deadline) -> (status, content type or None, payload); header names
#: are lower case; ``deadline`` is a ``time.monotonic()`` instant after which the answer no longer matters
Handler = Callable[[str, str, dict[bytes, bytes], bytes, "float | None"], tuple[int, "str | None", bytes]]
_READ_CHUNK = 1 << 16
SERVER_HEADER = b"TensorFlow-Serving-compatible"  # no versions: nothing for a scanner to match


@dataclass(frozen=True)
class HttpLimits:
    """What one client may cost the REST server (each a flag of ``serve``; see options.py)."""

    max_body_bytes: int = 64 << 20
    max_header_bytes: int = 64 << 10
    header_timeout_s: float = 30.0  # to receive a request's head once its first byte arrived
    idle_timeout_s: float = 60.0  # a keep-alive connection waiting for its next request
    body_timeout_s: float = 30.0  # between two reads of a body
    large_body_bytes: int = 1 << 20  # a body at least this big takes a large-body slot
    max_large_bodies: int = 4  # large bodies read or parsed at once; beyond: 503 at once
    request_timeout_s: float | None = 30.0  # --rest_api_timeout_in_ms: 504 once it passes


class _Refused(Exception):
    """An HTTP error answered before the handler runs: status and message; ``close`` ends the connection."""

    def __init__(self, status: int, message: str, *, close: bool = True, head: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close
        self.head = head  # the request was a HEAD: the answer carries no body


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    idle: bool = True
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def error_body(message: str) -> bytes:
    """TF Serving's REST error document."""
    return json.dumps({"error": message}, indent=4).encode()


class HttpServer:
    """The REST API's HTTP server. The socket is bound at construction (``port=0``: any free port)."""

    def __init__(self, handler: Handler, *, host: str, port: int, limits: HttpLimits, executor: Executor) -> None:
        self._handler = handler
        self.limits = limits
        self._executor = executor
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family, backlog=1024, reuse_port=False)
        self.port: int = self._socket.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._large_bodies = 0
        self._draining = False
        self._started = threading.Event()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_loop, name="rest-http", daemon=True)
        self._thread.start()
        self._started.wait(30)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=self._socket, limit=_READ_CHUNK)

    def stop(self, drain_s: float = 30.0) -> None:
        """Stop accepting, close idle connections, let in-flight requests finish (``drain_s`` at most)."""
        if self._thread is None:
            self._socket.close()
            return
        future = asyncio.run_coroutine_threadsafe(self._drain(drain_s), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=drain_s + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    async def _drain(self, drain_s: float) -> None:
        self._draining = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + drain_s
        while self._connections and time.monotonic() < deadline:
            for connection in list(self._connections):
                if connection.idle:
                    connection.writer.close()
            await asyncio.sleep(0.02)
        for connection in list(self._connections):  # past the deadline: whatever is left goes
            connection.writer.close()
            for task in connection.tasks:
                task.cancel()

    # -- one connection ----------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        self._connections.add(connection)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # asyncio sets it only for sockets made with proto=IPPROTO_TCP
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        try:
            while not self._draining:
                connection.idle = True
                try:
                    request = await self._read_head(conn, reader, connection)
                except _Refused as refused:
                    await self._send_error(conn, writer, refused.status, refused.message, close=True, head=refused.head)
                    return
                if request is None:
                    return
                connection.idle = False
                keep_open = await self._exchange(conn, reader, writer, request)
                if not keep_open or self._draining or conn.our_state is not h11.DONE:
                    return
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except asyncio.CancelledError:
            pass
        except Exception:  # never a dead server: one connection is lost, logged
            log.exception("REST connection failed")
        finally:
            self._connections.discard(connection)
            writer.close()

    async def _read_head(
        self, conn: h11.Connection, reader: asyncio.StreamReader, connection: _Connection
    ) -> h11.Request | None:
        """The next request's head; None when the client closed (or idled out) between requests."""
        deadline: float | None = None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refused(*self._protocol_error(conn, exc)) from None
            if isinstance(event, h11.Request):
                try:
                    self._check_head_size(event)
                except _Refused as refused:
                    refused.head = event.method == b"HEAD"
                    raise
                return event
            if isinstance(event, h11.ConnectionClosed):
                return None
            if event is not h11.NEED_DATA:
                return None
            started = deadline is not None
            timeout = (deadline - time.monotonic()) if deadline is not None else self.limits.idle_timeout_s
            try:
                data = await asyncio.wait_for(reader.read(_READ_CHUNK), max(timeout, 0.001))
            except asyncio.TimeoutError:
                if started:
                    raise _Refused(408, "Timed out reading the request head") from None
                return None  # an idle keep-alive connection: closed quietly
            if self._draining and not started:
                return None
            if deadline is None and data:
                deadline = time.monotonic() + self.limits.header_timeout_s
                connection.idle = False
            conn.receive_data(data)

    def _check_head_size(self, request: h11.Request) -> None:
        """h11 bounds a head that arrives in pieces; one that arrives whole is measured here."""
        limit = self.limits.max_header_bytes
        if len(request.target) > limit:
            raise _Refused(414, f"Request line longer than {limit} bytes")
        size = len(request.target) + sum(len(name) + len(value) + 4 for name, value in request.headers)
        if size > limit:
            raise _Refused(431, f"Request headers larger than {limit} bytes")

    def _protocol_error(self, conn: h11.Connection, exc: h11.RemoteProtocolError) -> tuple[int, str]:
        status = exc.error_status_hint
        if status == 431:
            pending = bytes(conn.trailing_data[0])
            if b"\r\n" not in pending[: self.limits.max_header_bytes]:
                return 414, f"Request line longer than {self.limits.max_header_bytes} bytes"
            return 431, f"Request headers larger than {self.limits.max_header_bytes} bytes"
        return status, f"Malformed HTTP request: {exc}"

    async def _exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: h11.Request
    ) -> bool:
        """Read the body, run the handler, answer. Returns whether the connection may serve another request."""
        method = request.method.decode("ascii", "replace")
        target = request.target.decode("utf-8", "replace")
        started = time.monotonic()
        deadline = started + self.limits.request_timeout_s if self.limits.request_timeout_s else None
        headers = {name: value for name, value in request.headers}
        try:
            slot = self._admit_body(headers)
        except _Refused as refused:
            await self._send_error(conn, writer, refused.status, refused.message, close=True)
            return False
        try:
            if conn.client_is_waiting_for_100_continue:
                await self._send(conn, writer, h11.InformationalResponse(status_code=100, headers=[]))
            try:
                body = await self._read_body(conn, reader)
            except _Refused as refused:
                await self._send_error(conn, writer, refused.status, refused.message, close=refused.close)
                return not refused.close
            status, content_type, payload = await self._run(method, target, headers, body, deadline)
        finally:
            if slot:
                self._large_bodies -= 1
        close = self._draining
        await self._respond(conn, writer, status, content_type, payload, close=close, head=method == "HEAD")
        return not close

    def _admit_body(self, headers: dict[bytes, bytes]) -> bool:
        """Refuse a body before reading it; take a large-body slot when it is (or may be) large."""
        if b"transfer-encoding" in headers and b"content-length" in headers:
            raise _Refused(400, "Malformed HTTP request: both Content-Length and Transfer-Encoding are set")
        length = int(headers.get(b"content-length", b"0") or 0)  # h11 checked it is a number
        if length > self.limits.max_body_bytes:
            raise _Refused(
                413,
                f"Request body of {length} bytes exceeds the limit of {self.limits.max_body_bytes} bytes "
                "(serve --rest_api_max_body_bytes raises it)",
            )
        if length >= self.limits.large_body_bytes or b"transfer-encoding" in headers:
            if self._large_bodies >= self.limits.max_large_bodies:
                raise _Refused(
                    503,
                    f"Too many large requests at once ({self.limits.max_large_bodies} bodies of "
                    f"{self.limits.large_body_bytes} bytes or more); retry later",
                )
            self._large_bodies += 1
            return True
        return False

    async def _read_body(self, conn: h11.Connection, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refused(*self._protocol_error(conn, exc)) from None
            if event is h11.NEED_DATA:
                try:
                    data = await asyncio.wait_for(reader.read(_READ_CHUNK), self.limits.body_timeout_s)
                except asyncio.TimeoutError:
                    raise _Refused(408, "Timed out reading the request body") from None
                if not data:
                    raise ConnectionError("client closed during the body")
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.limits.max_body_bytes:
                    raise _Refused(
                        413,
                        f"Request body exceeds the limit of {self.limits.max_body_bytes} bytes "
                        "(serve --rest_api_max_body_bytes raises it)",
                    )
                chunks.append(bytes(event.data))
                continue
            if isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            raise ConnectionError("connection closed during the body")

    async def _run(
        self, method: str, target: str, headers: dict[bytes, bytes], body: bytes, deadline: float | None
    ) -> tuple[int, str | None, bytes]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._handler, method, target, headers, body, deadline)
        if deadline is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(deadline - time.monotonic(), 0.001))
        except asyncio.TimeoutError:
            # the work checks the deadline before it starts; one that finishes late has its result dropped
            return 504, "application/json", error_body("Deadline Exceeded")

    # -- writing -----------------------------------------------------------------------
    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, event: h11.Event) -> None:
        data = conn.send(event)
        if data:
            writer.write(data)
            await writer.drain()

    async def _respond(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        content_type: str | None,
        payload: bytes,
        *,
        close: bool,
        head: bool = False,
    ) -> None:
        headers = [(b"Server", SERVER_HEADER), (b"Content-Length", str(len(payload)).encode())]
        if content_type is not None:
            headers.insert(0, (b"Content-Type", content_type.encode()))
        headers += [(name.encode(), value.encode()) for name, value in self.extra_headers]
        if close:
            headers.append((b"Connection", b"close"))
        out = [conn.send(h11.Response(status_code=status, headers=headers)) or b""]
        if payload and not head:
            out.append(conn.send(h11.Data(data=payload)) or b"")
        out.append(conn.send(h11.EndOfMessage()) or b"")
        writer.write(b"".join(out))  # one write: head and body leave together
        await writer.drain()

    async def _send_error(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        message: str,
        *,
        close: bool,
        head: bool = False,
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # a response is already under way: nothing more can be said
        with contextlib.suppress(h11.LocalProtocolError):
            await self._respond(conn, writer, status, "application/json", error_body(message), close=close, head=head)

    #: headers added to every response (CORS, with --rest_api_enable_cors_support)
    extra_headers: tuple[tuple[str, str], ...] = ()
