"""adapters.shortcuts.httpx_private: httpx's private names and the public path beside them give the
same URLs, proxies and cookies, and a provider call works the same with the shortcut off."""

from __future__ import annotations

import httpx
import pytest

from adapters.http import ProviderHttp
from adapters.shortcuts import httpx_private

BASES = ["https://api.example.test", "https://api.example.test/v2/", "http://127.0.0.1:8080/a/b"]
PATHS = ["/documents", "documents/1", "/x?y=1&z=%20", "", "/ñ space", "https://other.example.test/abs"]
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
ENVIRONMENTS = [
    {},
    {"HTTP_PROXY": "http://p:3128"},
    {"HTTPS_PROXY": "p:3128", "ALL_PROXY": "socks5://s:1080"},
    {"ALL_PROXY": "http://p", "NO_PROXY": "localhost, 10.0.0.0/8,::1,.corp.test,svc.test,https://x.test"},
    {"HTTP_PROXY": "http://p", "NO_PROXY": "a.test,*"},
]


def shortcut(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setattr(httpx_private, "SHORTCUT", on)


@pytest.mark.parametrize("base", BASES)
def test_merge_url_private_and_public_agree(monkeypatch, base: str) -> None:
    client = httpx.AsyncClient(base_url=base)
    joined = {}
    for on in (True, False):
        shortcut(monkeypatch, on)
        joined[on] = [httpx_private.merge_url(client, path) for path in PATHS]
    assert joined[True] == joined[False]
    assert str(joined[False][1]).endswith("/documents/1") and str(joined[False][-1]).startswith(
        "https://other"
    )


@pytest.mark.parametrize("variables", ENVIRONMENTS)
def test_environment_proxies_private_and_public_agree(monkeypatch, variables: dict[str, str]) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    found = {}
    for on in (True, False):
        shortcut(monkeypatch, on)
        found[on] = httpx_private.environment_proxies()
    assert found[True] == found[False]
    assert bool(found[False]) == (bool(variables) and "*" not in variables.get("NO_PROXY", ""))


@pytest.mark.parametrize("on", [True, False], ids=["httpx-private", "httpx-public"])
async def test_provider_call_keeps_cookies_and_url_either_way(monkeypatch, on: bool) -> None:
    """The cookie a provider sets comes back on the next call; an answer without one changes nothing."""
    shortcut(monkeypatch, on)
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("cookie")))
        if request.url.path.endswith("/login"):
            return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"}, json={})
        return httpx.Response(200, json={"ok": True})

    http = ProviderHttp("https://provider.test/api/", timeout_s=5, transport=httpx.MockTransport(answer))
    try:
        assert isinstance(http.client.cookies, httpx_private._CookiesWhenSet) == on
        await http.send("POST", "/login")
        await http.send("GET", "documents/7", params={"q": "1"})
        await http.send("GET", "documents/7")
    finally:
        await http.aclose()
    assert seen == [
        ("https://provider.test/api/login", None),
        ("https://provider.test/api/documents/7?q=1", "session=abc"),
        ("https://provider.test/api/documents/7", "session=abc"),
    ]
