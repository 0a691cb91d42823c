"""Failed-authentication rate limiting: a client that keeps presenting unknown API keys is refused
(429 with Retry-After) for a while, without its keys being checked, so keys cannot be guessed at
speed and the refusal itself says nothing about the key.

The client is the connection's peer address (a forwarded-for header is not trusted: any client can
set it). Failures are counted in a sliding window in the store, so the allowance is one for the
whole deployment, not one per gateway process (issue 14: behind a load balancer, N processes let a
guesser try N times as many keys). Each request costs one indexed read; only a 401 writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.store import Engine, auth_failures

MAX_FAILURES: Final = 20  # per client and window, over every process
WINDOW_S: Final = 60.0
OPEN_PATHS: Final = ("/healthz", "/metrics", "/schema")  # no API key there: never refused

_encoder = msgspec.json.Encoder()


class FailedAuthLimiter:
    """Sliding-window count of 401 answers per client address, kept in the store."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures, self.window_s = max_failures, window_s

    async def retry_after(self, engine: Engine, client: str, now: float) -> int | None:
        """Seconds until the client may try again, or None when it is not blocked."""
        # the failure that blocks: the `max_failures`-th most recent within the window
        at = await auth_failures.nth_recent(engine, client, now - self.window_s, self.max_failures - 1)
        if at is None:
            return None
        return max(1, math.ceil(at + self.window_s - now))

    async def failed(self, engine: Engine, client: str, now: float) -> None:
        """Count one failure; failures that left the window (every client's) are forgotten."""
        await auth_failures.record(engine, client, now, now - self.window_s)


def failed_auth_throttle(limiter: FailedAuthLimiter | None = None) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware factory: refuse blocked clients, count the 401s the app answers."""
    limiter = limiter or FailedAuthLimiter()

    def middleware(app: ASGIApp) -> ASGIApp:
        async def throttle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(OPEN_PATHS):
                await app(scope, receive, send)
                return
            rt: Any = scope["app"].state.runtime
            client = (scope.get("client") or ("unknown", 0))[0][:64]
            wait = await limiter.retry_after(rt.engine, client, rt.clock())
            if wait is not None:
                await _too_many(send, wait)
                return

            async def counting(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] == 401:
                    await limiter.failed(rt.engine, client, rt.clock())
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
