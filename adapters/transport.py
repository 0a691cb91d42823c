"""A lean HTTP/1.1 transport under httpx for the providers' JSON and SOAP calls.

Why: with 50 documents in flight, httpx's default transport (httpcore on anyio) cost ~1.7 ms of CPU
per provider call, half of the gateway's CPU per document (bench/README.md): its pool polls the
socket of every idle connection on each request, and anyio's cancel scopes and locks wrap every
read. This transport keeps httpx's API above it (the adapters, timeouts, exceptions, respx) and
does the I/O on asyncio protocols with httptools' C parser (llhttp, the parser uvicorn uses): an
idle connection learns the server closed it from `connection_lost`, never by polling.

Only what a provider call needs: HTTP/1.1 with keep-alive, TLS, bodies delimited by
Content-Length, chunks or the close of the connection. No HTTP/2, no Upgrade; proxies from the
environment stay with httpx's own transports (adapters.http mounts them over this one).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, Final

import httptools
import httpx

NO_BODY: Final = frozenset({204, 304})  # never a body, whatever the headers (RFC 9112 6.3)
DEFAULT_PORTS: Final = {b"http": 80, b"https": 443}
KEEPALIVE_EXPIRY_S: Final = 4.0  # under the 5 s idle timeout of common servers (uvicorn, nginx's 75)
MAX_CONNECTIONS: Final = 100  # per origin, like httpx's default
READ_AHEAD: Final = 256 * 1024  # body bytes buffered before the socket is paused until they are read

Origin = tuple[bytes, bytes, int]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request at a time, the answer parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._parser: Any = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._error: httpx.TransportError | None = None
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._until_close = False  # a body delimited by the end of the connection
        self.bodiless = False  # the answer to HEAD: headers only, whatever Content-Length says
        self._keep_alive = False

    # --- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes nobody asked for: the connection cannot be trusted
            self._fail(httpx.RemoteProtocolError("data received with no request outstanding"))
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.complete:  # bytes after a whole answer spoil the connection, not the answer
                self._fail(httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.resume_writing()  # a send paused on a full buffer learns of the loss now, not at its timeout
        if self._parser is None or self.complete:
            return
        if self.headers_done and self._until_close:
            self.complete = True
            self._wake()
        elif self.headers_done:
            self._fail(
                httpx.RemoteProtocolError("peer closed connection without sending complete message body")
            )
        else:
            self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))

    def pause_writing(self) -> None:
        self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    # --- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request: not to be parsed into the first
            raise httptools.HttpParserError("an answer after the complete answer")

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.reason, self.headers = b"", []
            return
        self.status = status
        self.headers_done = True
        self._keep_alive = self._parser.should_keep_alive()  # llhttp answers this only until the message ends
        names = {name.lower() for name, _ in self.headers}
        self._until_close = (
            status not in NO_BODY and b"content-length" not in names and b"transfer-encoding" not in names
        )
        if self.bodiless:  # llhttp would wait for the announced body: this answer has none
            self.complete, self._until_close = True, True  # and the connection is not reused
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_AHEAD and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.headers_done:
            self.complete = True
            self._wake()

    # --- used by the transport --------------------------------------------------------------
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: httpx.TransportError) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    async def _wait(self, timeout: float | None, timeout_error: type[httpx.TimeoutException]) -> None:
        """Until the parser has news (or the connection failed); a timer rather than wait_for,
        which would start a task per read."""
        if self._error is not None:
            raise self._error
        self._waiter = waiter = self._loop.create_future()
        timer = None if timeout is None else self._loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            self.close()
            raise timeout_error("timed out waiting for the provider's answer") from None
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        if self._error is not None:
            raise self._error

    async def send(
        self, head: bytes, body: bytes, timeouts: dict[str, float | None], *, bodiless: bool
    ) -> None:
        self._reset()
        self.bodiless = bodiless
        self._error = None
        self._parser = httptools.HttpResponseParser(self)
        assert self.transport is not None
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        if self._drained is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._drained), timeouts.get("write"))
            except TimeoutError:
                self.close()
                raise httpx.WriteTimeout("timed out sending the request") from None
        while not self.headers_done:
            await self._wait(timeouts.get("read"), httpx.ReadTimeout)

    async def body(self, read_timeout: float | None) -> AsyncIterator[bytes]:
        while True:
            while self.chunks:
                chunk = self.chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= READ_AHEAD and self.transport is not None and not self.closed:
                    self.transport.resume_reading()
                yield chunk
            if self.complete:
                return
            await self._wait(read_timeout, httpx.ReadTimeout)

    def reusable(self) -> bool:
        return (
            self.complete
            and not self.closed
            and self._error is None
            and not self._until_close
            and self._keep_alive
        )

    def release(self) -> None:
        self._parser = None
        self.idle_since = time.monotonic()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Body(httpx.AsyncByteStream):
    """The answer's body as it arrives; closing it gives the connection back (or closes it)."""

    def __init__(self, pool: Http11Transport, origin: Origin, conn: _Connection, read_timeout: float | None):
        self._pool, self._origin, self._conn, self._read_timeout = pool, origin, conn, read_timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._conn.body(self._read_timeout):
            yield chunk

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            self._pool._give_back(self._origin, self._conn)


class Http11Transport(httpx.AsyncBaseTransport):
    """Keep-alive connections per origin (most recently used first), at most `max_connections`
    in use per origin; a request waits for one up to httpx's pool timeout."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        max_connections: int = MAX_CONNECTIONS,
        keepalive_expiry: float = KEEPALIVE_EXPIRY_S,
    ) -> None:
        if isinstance(verify, ssl.SSLContext):
            self._ssl: ssl.SSLContext | None = verify
        else:
            self._ssl = None
            self._verify = verify
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots: dict[Origin, asyncio.Semaphore] = {}
        self._open: set[_Connection] = set()

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:  # built on first https use: loading the CA bundle takes ~10 ms
            self._ssl = httpx.create_ssl_context(verify=self._verify)
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        origin: Origin = (scheme, url.raw_host, url.port or DEFAULT_PORTS[scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = asyncio.Semaphore(self._max)
        if slots.locked():  # every connection to this origin is busy: wait up to the pool timeout
            try:
                await asyncio.wait_for(slots.acquire(), timeouts.get("pool"))
            except TimeoutError:
                raise httpx.PoolTimeout(
                    "no free connection to the provider in time", request=request
                ) from None
        else:
            await slots.acquire()  # free: returns at once
        try:
            body = await request.aread()  # before a connection is picked: no await between pick and send
            conn = self._idle_connection(origin) or await self._connect(origin, timeouts, request)
            try:
                await conn.send(
                    _head(request, body), _framed(request, body), timeouts, bodiless=request.method == "HEAD"
                )
            except BaseException as exc:  # a cancelled send too: its answer may still come
                if isinstance(exc, httpx.TransportError):
                    exc.request = request
                self._open.discard(conn)
                conn.close()
                raise
        except BaseException:
            slots.release()
            raise
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=_Body(self, origin, conn, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
            request=request,
        )

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._expiry:
                return conn
            self._open.discard(conn)
            conn.close()
        return None

    async def _connect(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = scheme == b"https"
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop),
                    host.decode("ascii"),
                    port,
                    ssl=self._ssl_context() if tls else None,
                    server_hostname=host.decode("ascii") if tls else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting to the provider", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or repr(exc), request=request) from None
        self._open.add(conn)
        return conn

    def _give_back(self, origin: Origin, conn: _Connection) -> None:
        if conn.reusable():
            conn.release()
            self._idle.setdefault(origin, []).append(conn)
        else:
            self._open.discard(conn)
            conn.close()
        self._slots[origin].release()

    async def aclose(self) -> None:
        for conn in self._open:
            conn.close()
        self._open.clear()
        self._idle.clear()


def _head(request: httpx.Request, body: bytes) -> bytes:
    """Request line and headers as httpx prepared them (Host, Content-Length, ...)."""
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    lines += [b"%s: %s\r\n" % (name, value) for name, value in request.headers.raw]
    lines.append(b"\r\n")
    return b"".join(lines)


def _framed(request: httpx.Request, body: bytes) -> bytes:
    """The body as framed by the request's own headers (one chunk when httpx chose chunked)."""
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        return (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
    return body
