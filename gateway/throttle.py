"""Failed-authentication rate limiting: a client that keeps presenting unknown API keys is refused
(429 with Retry-After) for a while, without its keys being checked, so keys cannot be guessed at
speed and the refusal itself says nothing about the key.

The client is the connection's peer address (a forwarded-for header is not trusted: any client can
set it). Failures are counted in a sliding window, per process: with several gateway processes a
client gets this allowance at each (research/anchors.md (c) 4 accepted here: the bound stays
small and no store write is added to every refused request).
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable
from typing import Final

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

MAX_FAILURES: Final = 20  # per client and window
WINDOW_S: Final = 60.0
MAX_CLIENTS: Final = 10_000  # tracked addresses; the oldest are forgotten first (bounded memory)
OPEN_PATHS: Final = ("/healthz", "/metrics", "/schema")  # no API key there: never refused

_encoder = msgspec.json.Encoder()


class FailedAuthLimiter:
    """Sliding-window count of 401 answers per client address."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def _recent(self, client: str, now: float) -> collections.deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def retry_after(self, client: str) -> int | None:
        """Seconds until the client may try again, or None when it is not blocked."""
        now = self.clock()
        failures = self._recent(client, now)
        if failures is None or len(failures) < self.max_failures:
            return None
        oldest_that_blocks = failures[-self.max_failures]
        return max(1, math.ceil(oldest_that_blocks + self.window_s - now))

    def failed(self, client: str) -> None:
        now = self.clock()
        failures = self._recent(client, now) or collections.deque(maxlen=self.max_failures)
        failures.append(now)
        self._failures[client] = failures
        self._failures.move_to_end(client)
        while len(self._failures) > MAX_CLIENTS:
            self._failures.popitem(last=False)


def failed_auth_throttle(limiter: FailedAuthLimiter | None = None) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware factory: refuse blocked clients, count the 401s the app answers."""
    limiter = limiter or FailedAuthLimiter()

    def middleware(app: ASGIApp) -> ASGIApp:
        async def throttle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(OPEN_PATHS):
                await app(scope, receive, send)
                return
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = limiter.retry_after(client)
            if wait is not None:
                await _too_many(send, wait)
                return

            async def counting(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] == 401:
                    limiter.failed(client)
                await send(message)

            await app(scope, receive, counting)

        return throttle

    return middleware


async def _too_many(send: Send, wait: int) -> None:
    """RFC 9457, like every other refusal (gateway.api.problems has no request context here)."""
    body = _encoder.encode(
        {
            "type": "urn:pasarela:problem:too-many-failures",
            "title": "Too many failed authentications",
            "status": 429,
            "detail": f"too many requests with an unknown API key; try again in {wait} s",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
