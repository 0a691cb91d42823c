"""httpx internals the provider calls lean on, each beside the public way to do the same.

Verified against httpx 0.28.x (0.28.1 installed; pyproject bounds httpx to 0.28 for respx). With
any other version `SHORTCUT` is False and the public path runs: the same requests and answers, only
slower (bench/README.md: each shortcut's cost).
- `merge_url`: httpx's own join of the base URL and a path (`AsyncClient._merge_url`), kept parsed
  per path by the caller. Public: the URL of a request built for that path (also httpx's own join,
  plus the headers it builds and throws away: only on a cache miss).
- `skip_cookieless`: the client's cookie jar replaced (`AsyncClient._cookies`) by one that reads only
  answers carrying Set-Cookie (~28 µs per call). Public: httpx's jar, which copies every response's
  request into a urllib request to look.
- `environment_proxies`: httpx's own reading of the proxy variables (`httpx._utils`). Public: the same
  rules over `urllib.request.getproxies()`, as httpx documents them.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from importlib.metadata import version
from typing import Final

import httpx

VERIFIED: Final = ("0.28.",)  # version prefixes the private names below were checked against
SHORTCUT: bool = version("httpx").startswith(VERIFIED)


class _CookiesWhenSet(httpx.Cookies):
    """httpx copies every response's request into a urllib request to look for cookies; the
    providers' JSON APIs rarely set any: only answers that do are read."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


def skip_cookieless(client: httpx.AsyncClient) -> None:
    """Have `client` read cookies only from answers that set some (httpx copies a jar given to its
    constructor or to `client.cookies` into a plain one, so the private attribute is the way)."""
    if SHORTCUT:
        client._cookies = _CookiesWhenSet()


def merge_url(client: httpx.AsyncClient, path: str) -> httpx.URL:
    """`path` joined to the client's base URL exactly as httpx joins them for a request."""
    if SHORTCUT:
        return client._merge_url(path)
    return client.build_request("GET", path).url


def environment_proxies() -> dict[str, str | None]:
    """URL pattern → proxy URL (None: no proxy), as httpx reads HTTP(S)_PROXY, ALL_PROXY, NO_PROXY."""
    if SHORTCUT:
        from httpx._utils import get_environment_proxies  # only when verified: another httpx may lack it

        return get_environment_proxies()
    return _environment_proxies()


def _environment_proxies() -> dict[str, str | None]:
    """httpx's documented rules: a scheme's proxy for `<scheme>://`; each NO_PROXY entry bypasses
    the proxies (`*` all of them; a bare name also matches its subdomains)."""
    found = urllib.request.getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            proxy = found[scheme]
            mounts[f"{scheme}://"] = proxy if "://" in proxy else f"http://{proxy}"
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if host:
            mounts[_bypass_pattern(host)] = None
    return mounts


def _bypass_pattern(host: str) -> str:
    if "://" in host:
        return host
    try:
        address = ipaddress.ip_address(host.split("/")[0])
    except ValueError:
        return f"all://{host}" if host.lower() == "localhost" else f"all://*{host}"
    return f"all://[{host}]" if address.version == 6 else f"all://{host}"
