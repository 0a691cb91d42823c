"""Provider calls honour HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY as httpx does, although
ProviderHttp always hands httpx a transport (which makes httpx itself skip the environment).

The proxy is a tiny loopback server that records every request line it gets and answers itself:
a forward proxy receives the absolute URL (`GET http://provider.invalid/... HTTP/1.1`), an HTTPS
request arrives as `CONNECT host:443`. `.invalid` names never resolve (RFC 6761), so an answer
for one can only have come through the proxy, and nothing here looks a name up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from adapters.base import Unavailable
from adapters.http import ProviderHttp
from adapters.shortcuts import httpx_private

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class Recorder:
    """A loopback HTTP/1.1 server that answers every request with `answer` and records its line."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.lines: list[str] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.lines.append(head.split(b"\r\n", 1)[0].decode())
            writer.write(self.answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def recorder(answer: bytes) -> AsyncIterator[Recorder]:
    r = Recorder(answer)
    server = await asyncio.start_server(r._serve, "127.0.0.1", 0)
    r.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield r
    finally:
        server.close()
        await server.wait_closed()


def reply(body: bytes, status: str = "200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
        status.encode(),
        len(body),
        body,
    )


@pytest.fixture(params=[True, False], ids=["httpx-private", "httpx-public"])
def environment(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[pytest.MonkeyPatch]:
    """No proxy variable from the machine running the tests: each test sets its own. Each test runs
    with httpx's own reading of the variables and with ours (adapters.shortcuts.httpx_private)."""
    monkeypatch.setattr(httpx_private, "SHORTCUT", request.param)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    yield monkeypatch


async def get(base_url: str, path: str = "/v1/status", **kw: object) -> httpx.Response:
    http = ProviderHttp(base_url, timeout_s=5.0, **kw)  # type: ignore[arg-type]
    try:
        return await http.send("GET", path)
    finally:
        await http.aclose()


async def test_http_proxy_carries_provider_calls(environment):
    async with recorder(reply(b"via proxy")) as proxy:
        environment.setenv("HTTP_PROXY", proxy.url)
        response = await get("http://provider.invalid/api")
    assert response.status_code == 200 and response.content == b"via proxy"
    assert proxy.lines == ["GET http://provider.invalid/api/v1/status HTTP/1.1"]


async def test_lower_case_and_all_proxy_are_read_too(environment):
    async with recorder(reply(b"all")) as proxy:
        environment.setenv("all_proxy", proxy.url)
        assert (await get("http://provider.invalid")).content == b"all"
    assert proxy.lines == ["GET http://provider.invalid/v1/status HTTP/1.1"]


async def test_https_proxy_is_asked_for_a_tunnel(environment):
    async with recorder(reply(b"", "403 Forbidden")) as proxy:
        environment.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(Unavailable):  # the proxy refused the tunnel: nothing reached the provider
            await get("https://provider.invalid")
    assert proxy.lines == ["CONNECT provider.invalid:443 HTTP/1.1"]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "http://127.0.0.1"])
async def test_no_proxy_hosts_go_direct(environment, no_proxy):
    async with recorder(reply(b"direct")) as provider, recorder(reply(b"via proxy")) as proxy:
        environment.setenv("HTTP_PROXY", proxy.url)
        environment.setenv("NO_PROXY", no_proxy)
        response = await get(provider.url)
    assert response.content == b"direct"
    assert provider.lines == ["GET /v1/status HTTP/1.1"] and proxy.lines == []


async def test_without_proxy_variables_calls_go_direct(environment):
    async with recorder(reply(b"direct")) as provider:
        assert (await get(provider.url)).content == b"direct"
    assert provider.lines == ["GET /v1/status HTTP/1.1"]


async def test_a_given_transport_is_used_as_is_like_httpx_does(environment):
    """A transport handed in (tests, respx) is all there is: httpx then skips the environment too."""
    async with recorder(reply(b"via proxy")) as proxy:
        environment.setenv("HTTP_PROXY", proxy.url)
        mock = httpx.MockTransport(lambda request: httpx.Response(200, content=b"mock"))
        assert (await get("http://provider.invalid", transport=mock)).content == b"mock"
    assert proxy.lines == []
