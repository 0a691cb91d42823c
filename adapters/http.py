"""Shared HTTP mechanics for REST adapters: one client per account, timeouts, and turning transport
errors and HTTP statuses into the four failure classes. Adapters keep only the mapping.

No retries here (httpx transport retries = 0): dispatch is the only layer that retries, so attempts
never multiply across layers (research/anchors.md (c) 2).

Proxies: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY are read as httpx reads them. httpx skips
the environment once a client is given `transport=`, which ours always is (adapters.transport), so
the proxied URL patterns are mounted here, each on httpx's own proxy transport; everything else,
NO_PROXY's hosts included, goes through our transport.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx
import msgspec

from adapters.base import Ambiguous, Misconfigured, ProviderFailure, Rejected, Unavailable
from adapters.shortcuts import httpx_private
from adapters.transport import Http11Transport
from canonical import clock

URL_CACHE: Final = 32  # distinct paths whose URL is kept parsed
MAX_BODY: Final = 20 * 1024 * 1024  # a provider answer larger than this is refused, not parsed
_DECODED: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})  # body is decoded
INFLATE_WBITS: Final = {
    "gzip": 32 + zlib.MAX_WBITS,
    "x-gzip": 32 + zlib.MAX_WBITS,
    "deflate": 32 + zlib.MAX_WBITS,
}
_EXACT_JSON: Final = msgspec.json.Decoder(float_hook=Decimal)

# Default HTTP status → failure class. `None` = the adapter reads the body. Adapters pass their own
# table (merged over this one) where their documentation says otherwise.
DEFAULT_STATUS_CLASSES: Final[Mapping[int, type[ProviderFailure]]] = {
    400: Rejected,
    401: Misconfigured,
    403: Misconfigured,
    404: Rejected,
    409: Rejected,
    422: Rejected,
    429: Unavailable,
    500: Ambiguous,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


class ProviderHttp:
    """An httpx.AsyncClient bound to one account's base URL, with the classification rules."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            headers={"Accept-Encoding": ", ".join(INFLATE_WBITS), **(headers or {})},
            transport=transport or Http11Transport(),
            mounts=None if transport else environment_proxies(),
            follow_redirects=False,
        )
        self._urls: dict[str, httpx.URL] = {}
        httpx_private.skip_cookieless(self.client)  # ~28 µs per call (bench/README.md)

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        emits: bool = False,
    ) -> httpx.Response:
        """Send a request. `emits=True` marks a request that may create a document: a timeout or
        reset after the request left us is then Ambiguous, never Unavailable."""
        request = self.client.build_request(
            method, self._url(path), json=json, content=content, params=params, headers=headers
        )
        try:
            response = await self._bounded(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Unavailable(f"cannot reach provider: {exc!r}", code="connect") from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            failure = Ambiguous if emits else Unavailable
            raise failure(f"no answer after sending: {exc!r}", code="timeout") from None
        except httpx.HTTPError as exc:
            raise (Ambiguous if emits else Unavailable)(
                f"transport error: {exc!r}", code="transport"
            ) from None
        if response is None:
            raise (Ambiguous if emits else Unavailable)("provider answer too large", code="too-large")
        return response

    def _url(self, path: str) -> httpx.URL:
        """The base URL joined with `path` as httpx joins them, parsed once per path: httpx parses
        both on every request, ~30 % of a provider call's CPU (bench/README.md)."""
        url = self._urls.get(path)
        if url is None:
            url = httpx_private.merge_url(self.client, path)
            if len(self._urls) >= URL_CACHE:  # paths with ids in them: start over, the hot ones come back
                self._urls.clear()
            self._urls[path] = url
        return url

    async def _bounded(self, request: httpx.Request) -> httpx.Response | None:
        """The response read up to MAX_BODY bytes *after* decompression, which is done here, in
        bounded steps (httpx would inflate a whole chunk at once: a gzip bomb); None when larger."""
        streamed = await self.client.send(request, stream=True)
        if streamed.is_stream_consumed:  # built in memory (test transports): already decoded
            return None if len(streamed.content) > MAX_BODY else streamed
        encoding = streamed.headers.get("content-encoding", "identity").strip().lower() or "identity"
        length = streamed.headers.get("content-length", "")
        if encoding == "identity" and length.isdigit() and int(length) <= MAX_BODY:
            # the common answer: plain, its length declared and within bounds; the transport's
            # parser reads that many bytes and no more. httpx reads it into this very response
            # (building a second one costs ~0.1 ms, bench/README.md)
            await streamed.aread()
            return streamed
        try:
            if encoding != "identity" and encoding not in INFLATE_WBITS:
                raise httpx.DecodingError(f"unsupported Content-Encoding {encoding!r}", request=request)
            inflate = zlib.decompressobj(INFLATE_WBITS[encoding]) if encoding in INFLATE_WBITS else None
            body = bytearray()
            async for raw in streamed.aiter_raw():
                body += inflate.decompress(raw, MAX_BODY + 1 - len(body)) if inflate else raw
                if len(body) > MAX_BODY:
                    return None
            if inflate is not None:
                body += inflate.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(f"corrupt {encoding} body: {exc}", request=request) from None
        finally:
            await streamed.aclose()
        if len(body) > MAX_BODY:
            return None
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _DECODED]
        return httpx.Response(streamed.status_code, headers=headers, content=bytes(body), request=request)

    async def aclose(self) -> None:
        await self.client.aclose()


def environment_proxies() -> dict[str, httpx.AsyncBaseTransport | None]:
    """URL pattern → transport, as httpx builds them with `trust_env` and no `transport=`: a proxy
    transport per proxied pattern, None (our transport, direct) per NO_PROXY entry. Empty without
    proxy variables: then every request takes our transport with no pattern to match first."""
    return {
        pattern: None if proxy is None else httpx.AsyncHTTPTransport(proxy=proxy, retries=0)
        for pattern, proxy in httpx_private.environment_proxies().items()
    }


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max(0.0, (when - clock.now(when.tzinfo)).total_seconds())
    except (TypeError, ValueError):
        return None


def json_body(response: httpx.Response) -> Any:
    """The JSON body, or None when the provider sent something else (an HTML error page, nothing)."""
    try:
        return response.json()
    except ValueError:
        return None


def exact_json_body(response: httpx.Response) -> Any:
    """The JSON body with every non-integer number as an exact Decimal (amounts are compared with
    our totals, never as floats), or None when the provider sent something else."""
    try:
        return _EXACT_JSON.decode(response.content)
    except msgspec.DecodeError:
        return None


def documented_not_found(response: httpx.Response, marker: Mapping[str, Any]) -> bool:
    """A 404 carrying the provider's documented "not found" body (every `marker` field equal): the
    only "not found" that proves absence (ARCHITECTURE.md, evidence rule). A bare 404 (a proxy, a
    wrong path, an HTML page) proves nothing and is classified like any other status."""
    if response.status_code != 404:
        return False
    body = json_body(response)
    return isinstance(body, dict) and all(body.get(k) == v for k, v in marker.items())


def failure_for_status(
    response: httpx.Response,
    message: str,
    *,
    table: Mapping[int, type[ProviderFailure]] | None = None,
    emits: bool = False,
    **kwargs: Any,
) -> ProviderFailure:
    """The failure an HTTP status the adapter did not expect means. A 5xx that is not in the table
    is Ambiguous when the request may have created a document, otherwise Unavailable; an unknown 4xx
    is Rejected. Anything below 400 (a 201, 202 or 204 where the documentation shows a 200, a
    redirect) is never a rejection, whatever a table says: the provider took the request, so an
    emission may have been taken (Ambiguous) and a query proves nothing (Unavailable)."""
    classes = {**DEFAULT_STATUS_CLASSES, **(table or {})}
    status = response.status_code
    cls = classes.get(status)
    if status < 400:
        cls = Ambiguous if emits else Unavailable
    elif cls is None:
        cls = (Ambiguous if emits else Unavailable) if status >= 500 else Rejected
    if cls is Ambiguous and not emits:
        cls = Unavailable  # a status query that failed changed nothing at the provider
    return cls(message, retry_after=retry_after(response), http_status=status, **kwargs)
