"""adapters.transport.Http11Transport against real loopback servers that speak raw bytes, so the
framing and the misbehaviour (early close, truncation, garbage, silence) are exactly what the test
writes; the failure classes are checked through ProviderHttp, which every adapter uses."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.base import Ambiguous, Unavailable
from adapters.http import ProviderHttp
from adapters.transport import READ_AHEAD, Http11Transport

# --- a raw loopback server ---------------------------------------------------------------------


@dataclass
class Req:
    """A request as it arrived on the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    conn: int  # index of the server-side connection it came on

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


@dataclass
class Conn:
    index: int
    writer: asyncio.StreamWriter
    eof: asyncio.Event = field(default_factory=asyncio.Event)  # the client closed its side


Respond = Callable[[Req, Conn], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader, index: int) -> Req | None:
    """One request (body by Content-Length or chunks), or None at a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        assert exc.partial == b"", f"request cut short: {exc.partial!r}"
        return None
    except ConnectionError:
        return None
    line, *fields = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = line.split(" ")
    assert version == "HTTP/1.1"
    headers = [(k, v.strip()) for k, v in (f.split(":", 1) for f in fields)]
    req = Req(method, target, headers, b"", index)
    if req.header("transfer-encoding") == "chunked":
        body = bytearray()
        while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
            body += await reader.readexactly(size)
            assert await reader.readexactly(2) == b"\r\n"
        assert await reader.readexactly(2) == b"\r\n"
        req.body = bytes(body)
    elif length := req.header("content-length"):
        req.body = await reader.readexactly(int(length))
    return req


class Server:
    """asyncio.start_server on 127.0.0.1:0; `respond` writes whatever bytes the test wants."""

    def __init__(self, respond: Respond, *, tls: ssl.SSLContext | None = None) -> None:
        self.respond, self.tls = respond, tls
        self.requests: list[Req] = []
        self.conns: list[Conn] = []
        self.open_now = self.max_open = 0
        self.got_request = asyncio.Event()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task] = []

    @property
    def accepted(self) -> int:
        return len(self.conns)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(len(self.conns), writer)
        self.conns.append(conn)
        self._tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            while not writer.is_closing():
                req = await read_request(reader, conn.index)
                if req is None:
                    conn.eof.set()
                    break
                self.requests.append(req)
                self.got_request.set()
                await self.respond(req, conn)
        except asyncio.CancelledError:
            pass  # the test is over (3.11's start_server logs a cancelled handler as an error)
        finally:
            self.open_now -= 1
            writer.close()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


def answer(status: int = 200, body: bytes = b"", *headers: str, reason: str = "OK") -> bytes:
    """A Content-Length answer."""
    head = "".join(f"{h}\r\n" for h in (*headers, f"Content-Length: {len(body)}"))
    return f"HTTP/1.1 {status} {reason}\r\n{head}\r\n".encode() + body


def replying(*data: bytes) -> Respond:
    """Each request gets the same bytes, written in the given pieces (one TCP write each)."""

    async def respond(req: Req, conn: Conn) -> None:
        for piece in data:
            conn.writer.write(piece)
            await conn.writer.drain()

    return respond


def ok(body: bytes = b"ok") -> Respond:
    return replying(answer(200, body))


async def closing(req: Req, conn: Conn) -> None:
    """Takes the request, then closes without a word."""
    conn.writer.close()


async def silent(req: Req, conn: Conn) -> None:
    """Takes the request and never answers (the connection stays open)."""


@asynccontextmanager
async def client(server: Server, transport: Http11Transport | None = None, **kw) -> AsyncIterator:
    transport = transport or Http11Transport()
    async with httpx.AsyncClient(transport=transport, base_url=server.url, **kw) as c:
        yield c


async def until(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Let the loop run until `condition` holds: for state only the loop's I/O callbacks change
    (a FIN reaching the client's protocol), where there is no event to await."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.001)


def refused_port() -> socket.socket:
    """A bound port that does not listen: connecting is refused. Keep the socket while testing."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


# --- 1. keep-alive and the request on the wire ------------------------------------------------


async def test_keepalive_reuses_one_connection_and_request_arrives_as_sent() -> None:
    payload = {"número": "FE-1", "total": "119.00", "lines": [1, 2, 3]}
    async with Server(ok(b"first")) as server, client(server) as c:
        r1 = await c.post("/v1/documents?x=1", json=payload)
        r2 = await c.get("/v1/status/FE-1", headers={"X-Trace": "abc"})
    assert (r1.status_code, r1.content, r2.content) == (200, b"first", b"first")
    assert r1.http_version == "HTTP/1.1" and r1.reason_phrase == "OK"
    assert server.accepted == 1, "the second request must reuse the keep-alive connection"
    post, get = server.requests
    assert (post.method, post.target, get.method, get.target) == (
        "POST",
        "/v1/documents?x=1",
        "GET",
        "/v1/status/FE-1",
    )
    host = server.url.removeprefix("http://")
    assert post.header("host") == get.header("host") == host
    assert post.body == json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    assert post.body == httpx.Request("POST", "http://x", json=payload).content  # byte-exact
    assert post.header("content-length") == str(len(post.body))
    assert post.header("content-type") == "application/json"
    assert get.header("x-trace") == "abc" and get.body == b""
    assert get.header("content-length") is None


async def test_streamed_request_body_is_sent_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"<soap:Envelope>"
        yield b"</soap:Envelope>"

    async with Server(ok()) as server, client(server) as c:
        assert (await c.post("/soap", content=parts())).content == b"ok"
        assert (await c.post("/soap", content=b"")).content == b"ok"
    first, second = server.requests
    assert first.header("transfer-encoding") == "chunked"
    assert first.body == b"<soap:Envelope></soap:Envelope>"
    assert second.body == b"" and second.header("content-length") == "0"
    assert server.accepted == 1


async def test_large_request_body_is_sent_whole() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: past the socket's write buffer
    async with Server(ok()) as server, client(server) as c:
        assert (await c.put("/big", content=body)).status_code == 200
    assert server.requests[0].body == body


# --- 2. framing of the answer --------------------------------------------------------------------


async def test_content_length_answer() -> None:
    async with Server(
        replying(b"HTTP/1.1 201 Created\r\nContent-Len", b"gth: 11\r\n\r\nhello", b" world")
    ) as server:
        async with client(server) as c:
            r = await c.get("/")
            assert (r.status_code, r.reason_phrase, r.content) == (201, "Created", b"hello world")
            assert r.headers["content-length"] == "11"
            await c.get("/")
    assert server.accepted == 1


async def test_chunked_answer_split_across_writes() -> None:
    pieces = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"lo\r\n1\r\n \r\n",
        b"6\r\nworld!\r\n0",
        b"\r\n\r\n",
    )
    async with Server(replying(*pieces)) as server, client(server) as c:
        r = await c.get("/")
        assert r.content == b"hello world!"
        assert (await c.get("/")).content == b"hello world!"
    assert server.accepted == 1, "a chunked answer leaves the connection reusable"


async def test_answer_delimited_by_close_is_read_whole_and_not_reused() -> None:
    async def until_close(req: Req, conn: Conn) -> None:
        conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ")
        await conn.writer.drain()
        conn.writer.write(b"part two")
        conn.writer.close()

    async with Server(until_close) as server, client(server) as c:
        assert (await c.get("/a")).content == b"part one, part two"
        assert (await c.get("/b")).content == b"part one, part two"
    assert server.accepted == 2
    assert [r.conn for r in server.requests] == [0, 1]


# --- 3. closed connections are not reused ---------------------------------------------------------


async def test_connection_close_answer_is_not_reused() -> None:
    async with Server(replying(answer(200, b"bye", "Connection: close"))) as server, client(server) as c:
        assert (await c.get("/")).content == b"bye"
        await server.conns[0].eof.wait()  # the transport closed it itself once the body was read
        assert (await c.get("/")).content == b"bye"
    assert server.accepted == 2


async def test_server_closing_idle_connection_is_replaced_transparently() -> None:
    transport = Http11Transport()

    async def answer_then_hang_up(req: Req, conn: Conn) -> None:
        conn.writer.write(answer(200, b"once"))
        await conn.writer.drain()
        if conn.index == 0:
            conn.writer.close()  # an idle timeout on the server's side, right after the answer

    async with Server(answer_then_hang_up) as server, client(server, transport) as c:
        assert (await c.get("/")).content == b"once"
        (idle,) = transport._open
        await until(lambda: idle.closed)  # the FIN reached the protocol: connection_lost ran
        assert (await c.get("/")).content == b"once"  # no error: a new connection
        assert (await c.get("/")).content == b"once"
    assert server.accepted == 2
    assert [r.conn for r in server.requests] == [0, 1, 1]


async def test_expired_idle_connection_is_not_reused() -> None:
    async with Server(ok()) as server, client(server, Http11Transport(keepalive_expiry=0)) as c:
        await c.get("/")
        await c.get("/")
        await server.conns[0].eof.wait()  # the expired one was closed, not leaked
    assert server.accepted == 2


# --- 4, 5, 9. broken answers ----------------------------------------------------------------------


async def test_close_without_answer_is_remote_protocol_error() -> None:
    async with Server(closing) as server, client(server) as c:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await c.post("/v1/documents", json={"a": 1})
    assert len(server.requests) == 1


@pytest.mark.parametrize(("emits", "failure"), [(True, Ambiguous), (False, Unavailable)])
async def test_close_without_answer_through_provider_http(emits: bool, failure: type) -> None:
    async with Server(closing) as server:
        http = ProviderHttp(server.url, timeout_s=2.0)
        assert isinstance(http.client._transport, Http11Transport)  # the default transport
        try:
            with pytest.raises(failure) as caught:
                await http.send("POST", "/v1/documents", json={"a": 1}, emits=emits)
        finally:
            await http.aclose()
    assert type(caught.value) is failure
    assert caught.value.kind == ("ambiguous" if emits else "unavailable")
    assert caught.value.code == "timeout"
    assert len(server.requests) == 1  # the request did leave: that is why emits matters


async def test_truncated_body_fails_while_reading() -> None:
    respond = replying(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")

    async def truncate(req: Req, conn: Conn) -> None:
        if conn.index > 0:
            conn.writer.write(answer(200, b"whole"))
            return
        await respond(req, conn)
        conn.writer.close()

    async with Server(truncate) as server, client(server) as c:
        async with c.stream("GET", "/") as r:
            assert r.status_code == 200  # the head was fine
            with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
                await r.aread()
        assert (await c.get("/")).content == b"whole"  # the pool still works afterwards
    assert server.accepted == 2


async def test_truncated_chunked_body_fails() -> None:
    async def truncate(req: Req, conn: Conn) -> None:
        conn.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nonly")
        conn.writer.close()

    async with Server(truncate) as server, client(server) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/")


@pytest.mark.parametrize(
    "garbage",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"hello world\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n"],
)
async def test_garbage_answer_is_remote_protocol_error(garbage: bytes) -> None:
    async with Server(replying(garbage)) as server, client(server) as c:
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await c.get("/")
        await server.conns[0].eof.wait()  # that connection is dropped


async def test_stray_answer_on_idle_connection_discards_it() -> None:
    answered = asyncio.Event()

    async def answer_then_stray(req: Req, conn: Conn) -> None:
        conn.writer.write(answer(200, b"one"))
        if conn.index == 0:
            await answered.wait()  # the client has read its answer and pooled the connection
            conn.writer.write(answer(200, b"stray"))  # an answer to nothing

    transport = Http11Transport()
    async with Server(answer_then_stray) as server, client(server, transport) as c:
        assert (await c.get("/")).content == b"one"
        answered.set()
        await server.conns[0].eof.wait()  # the client dropped the connection it cannot trust
        assert (await c.get("/")).content == b"one"  # never b"stray"
    assert server.accepted == 2


@pytest.mark.parametrize("extra", [answer(200, b"stray"), b"HTTP/1.1 408 Request Timeout\r\n\r\n"])
async def test_second_answer_right_behind_the_first_is_not_read_into_it(extra: bytes) -> None:
    """A server that answers twice (or sends a 408 as it hangs up) in the same segment: the
    first answer stands as sent, the second is no part of its body, the connection is dropped."""
    async with Server(replying(answer(200, b"one") + extra)) as server, client(server) as c:
        r = await c.get("/")
        assert (r.status_code, r.content) == (200, b"one")
        await server.conns[0].eof.wait()
        assert (await c.get("/")).content == b"one"
    assert server.accepted == 2


async def test_excess_body_bytes_keep_the_answer_and_drop_the_connection() -> None:
    async with Server(replying(answer(200, b"one") + b"garbage")) as server, client(server) as c:
        assert (await c.get("/")).content == b"one"
        await server.conns[0].eof.wait()
        assert (await c.get("/")).content == b"one"
    assert server.accepted == 2


# --- 6. timeouts and refused connections ----------------------------------------------------------


async def test_read_timeout_closes_the_connection() -> None:
    async def silent_once(req: Req, conn: Conn) -> None:
        if conn.index > 0:
            conn.writer.write(answer(200, b"late"))

    transport = Http11Transport()
    timeout = httpx.Timeout(5.0, read=0.2)
    async with Server(silent_once) as server, client(server, transport, timeout=timeout) as c:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/")
        assert 0.15 < time.monotonic() - started < 1.0
        assert transport._open == set()
        await server.conns[0].eof.wait()  # closed, not given back to the pool
        assert (await c.get("/")).content == b"late"
    assert server.accepted == 2


async def test_read_timeout_in_the_middle_of_a_body() -> None:
    respond = replying(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    async with Server(respond) as server, client(server, timeout=httpx.Timeout(5.0, read=0.2)) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/")
        await server.conns[0].eof.wait()


async def test_read_timeout_through_provider_http_is_ambiguous_when_emitting() -> None:
    async with Server(silent) as server:
        http = ProviderHttp(server.url, timeout_s=0.2)
        try:
            with pytest.raises(Ambiguous) as caught:
                await http.send("POST", "/v1/documents", json={}, emits=True)
        finally:
            await http.aclose()
    assert caught.value.code == "timeout"


async def test_cancelled_request_closes_its_connection() -> None:
    """A caller cancelled while the answer is awaited (dispatch's own deadline): the connection,
    with an answer still to come on it, is closed rather than left open or pooled."""
    transport = Http11Transport()
    async with Server(silent) as server, client(server, transport) as c:
        task = asyncio.create_task(c.post("/v1/documents", json={}))
        await server.got_request.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.conns[0].eof.wait(), 1.0)
        assert transport._open == set()


async def test_server_hanging_up_on_a_large_request_fails_without_waiting_for_the_write_timeout() -> None:
    """The body fills the socket's buffers (writing paused), then the server hangs up without
    reading it: the transport must notice the loss at once, not sit out the write timeout."""
    hung_up = asyncio.Event()

    async def read_head_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()
        hung_up.set()

    server = await asyncio.start_server(read_head_then_hang_up, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        timeout = httpx.Timeout(5.0)
        async with httpx.AsyncClient(transport=Http11Transport(), base_url=url, timeout=timeout) as c:
            started = time.monotonic()
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await c.post("/v1/documents", content=b"x" * (16 * 1024 * 1024))
            assert hung_up.is_set()
            assert time.monotonic() - started < 2.0
    finally:
        server.close()
        await server.wait_closed()


async def test_connect_refused() -> None:
    with refused_port() as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with httpx.AsyncClient(transport=Http11Transport(), base_url=url) as c:
            with pytest.raises(httpx.ConnectError):
                await c.get("/")
        http = ProviderHttp(url, timeout_s=1.0)
        try:
            with pytest.raises(Unavailable) as caught:
                await http.send("POST", "/v1/documents", json={}, emits=True)  # never sent: not ambiguous
        finally:
            await http.aclose()
    assert type(caught.value) is Unavailable and caught.value.code == "connect"


async def test_unsupported_scheme() -> None:
    async with httpx.AsyncClient(transport=Http11Transport()) as c:
        with pytest.raises(httpx.UnsupportedProtocol):
            await c.get("ftp://127.0.0.1/x")


# --- 7, 8. interim and bodiless answers -----------------------------------------------------------


@pytest.mark.parametrize("split", [False, True])
async def test_100_continue_then_the_real_answer(split: bool) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = answer(200, b"created", "X-Final: yes")
    pieces = (interim, final) if split else (interim + final,)
    async with Server(replying(*pieces)) as server, client(server) as c:
        r = await c.post("/", content=b"x")
        assert (r.status_code, r.reason_phrase, r.content) == (200, "OK", b"created")
        assert r.headers["x-final"] == "yes"
        assert (await c.post("/", content=b"y")).content == b"created"
    assert len(server.requests) == 2


async def test_204_no_content_does_not_hang() -> None:
    async with Server(replying(b"HTTP/1.1 204 No Content\r\n\r\n")) as server:
        async with client(server, timeout=httpx.Timeout(1.0)) as c:
            r = await c.delete("/v1/documents/1")
            assert (r.status_code, r.content) == (204, b"")
            assert (await c.delete("/v1/documents/2")).status_code == 204
    assert server.accepted == 1  # no body, no length needed: the connection is reused


async def test_head_with_content_length_does_not_hang() -> None:
    async with Server(replying(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")) as server:
        async with client(server, timeout=httpx.Timeout(1.0)) as c:
            r = await c.head("/v1/documents/1")
            assert (r.status_code, r.content) == (200, b"")
            assert r.headers["content-length"] == "1234"
            # llhttp would read the next answer as HEAD's 1234 bytes: that connection is not reused
            assert (await c.head("/v1/documents/2")).status_code == 200
    assert server.accepted == 2
    assert server.requests[0].method == "HEAD"


# --- 10. the pool limit ---------------------------------------------------------------------------


async def test_pool_limit_caps_open_connections() -> None:
    release = asyncio.Event()

    async def held(req: Req, conn: Conn) -> None:
        if server.open_now >= 2:
            release.set()
        await release.wait()  # nobody is answered before two requests are in flight together
        conn.writer.write(answer(200, req.target.encode()))

    async with Server(held) as server, client(server, Http11Transport(max_connections=2)) as c:
        answers = await asyncio.gather(*(c.get(f"/{i}") for i in range(5)))
    assert [r.content for r in answers] == [f"/{i}".encode() for i in range(5)]
    assert server.max_open == 2
    assert server.accepted == 2  # the three that waited reused the two connections


async def test_pool_timeout() -> None:
    release = asyncio.Event()

    async def held(req: Req, conn: Conn) -> None:
        await release.wait()
        conn.writer.write(answer(200, b"done"))

    timeout = httpx.Timeout(5.0, pool=0.1)
    async with (
        Server(held) as server,
        client(server, Http11Transport(max_connections=1), timeout=timeout) as c,
    ):
        first = asyncio.create_task(c.get("/first"))
        await server.got_request.wait()
        started = time.monotonic()
        with pytest.raises(httpx.PoolTimeout):
            await c.get("/second")
        assert time.monotonic() - started < 1.0
        release.set()
        assert (await first).content == b"done"
        assert (await c.get("/third")).content == b"done"  # the timed-out wait took no slot
    assert [r.target for r in server.requests] == ["/first", "/third"]


# --- 11. a body larger than the read-ahead -------------------------------------------------------


async def test_large_body_pauses_reading_and_arrives_intact() -> None:
    body = bytes(range(251)) * (3 * 1024 * 1024 // 251 + 1)  # ~3 MiB, not a multiple of any buffer
    assert len(body) > 10 * READ_AHEAD
    transport = Http11Transport()
    async with Server(replying(answer(200, body))) as server, client(server, transport) as c:
        async with c.stream("GET", "/big") as r:
            stream = r.aiter_raw()
            received = bytearray(await stream.__anext__())
            (conn,) = transport._open
            await until(lambda: not conn.transport.is_reading())  # read-ahead full: socket paused
            assert conn._buffered > READ_AHEAD
            async for chunk in stream:
                received += chunk
        assert received == body
        assert (await c.get("/again")).content == body  # and the connection is still good
    assert server.accepted == 1


# --- 12. gzip through ProviderHttp ----------------------------------------------------------------


async def test_gzip_answer_is_decoded_by_provider_http() -> None:
    document = json.dumps({"estado": "ACEPTADO", "lines": list(range(500))}).encode()
    compressed = gzip.compress(document)
    respond = replying(answer(200, compressed, "Content-Encoding: gzip", "Content-Type: application/json"))
    async with Server(respond) as server:
        http = ProviderHttp(server.url, timeout_s=2.0)
        try:
            r = await http.send("GET", "/v1/documents/1")
        finally:
            await http.aclose()
    assert r.content == document and r.json()["estado"] == "ACEPTADO"
    assert "content-encoding" not in r.headers
    assert "gzip" in (server.requests[0].header("accept-encoding") or "")


# --- 13. TLS -------------------------------------------------------------------------------------


@cache
def pki() -> tuple[bytes, bytes, bytes]:
    """A throwaway CA and a server certificate for 127.0.0.1 (IP SAN): (ca_pem, cert_pem, key_pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pasarela test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def server_tls(tmp_path) -> ssl.SSLContext:
    _, cert_pem, key_pem = pki()
    (tmp_path / "cert.pem").write_bytes(cert_pem + key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem")
    return ctx


async def test_tls_with_a_trusted_ca(tmp_path) -> None:
    trusting = ssl.create_default_context(cadata=pki()[0].decode())
    async with Server(ok(b"secret"), tls=server_tls(tmp_path)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        async with client(server, Http11Transport(verify=trusting)) as c:
            assert (await c.post("/v1/documents", json={"a": 1})).content == b"secret"
            assert (await c.get("/v1/documents/1")).content == b"secret"
    assert server.accepted == 1
    assert server.requests[0].body == b'{"a":1}'


async def test_tls_default_verification_rejects_an_unknown_ca(tmp_path) -> None:
    async with Server(ok(), tls=server_tls(tmp_path)) as server, client(server) as c:
        with pytest.raises(httpx.ConnectError, match=r"(?i)certificate"):
            await c.get("/")
    assert server.requests == []


# --- 14. aclose ----------------------------------------------------------------------------------


async def test_aclose_closes_idle_and_busy_connections() -> None:
    async def slow_second(req: Req, conn: Conn) -> None:
        if req.target == "/quick":
            conn.writer.write(answer(200, b"q"))

    transport = Http11Transport()
    async with Server(slow_second) as server:
        c = httpx.AsyncClient(transport=transport, base_url=server.url)
        assert (await c.get("/quick")).content == b"q"  # conn 0: idle in the pool
        busy = asyncio.create_task(c.get("/slow"))  # conn 0 again, waiting for an answer
        other = asyncio.create_task(c.get("/slow"))  # conn 1
        await until(lambda: len(server.requests) == 3)
        await c.aclose()
        await asyncio.wait_for(server.conns[0].eof.wait(), 1.0)
        await asyncio.wait_for(server.conns[1].eof.wait(), 1.0)
        for task in (busy, other):
            with pytest.raises(httpx.RemoteProtocolError):
                await task
    assert transport._open == set()
