"""Webhooks to tenants, signed per Standard Webhooks (research/anchors.md §6.4).

An event is written in the same transaction as the status change that causes it (outbox), one
delivery per subscribed endpoint, deduplicated by (event id, url): the same event is never queued
twice, and its `webhook-id` stays the same on every retry so receivers can deduplicate too.
Deliveries are retried with exponential backoff (at least the receiver's Retry-After); 410 Gone
stops them; redirects count as failures.

Secrets are the spec's symmetric ones: base64 of 24 to 64 random bytes, shown with a `whsec_`
prefix (repository standard-webhooks/standard-webhooks, spec/standard-webhooks.md at 03f5f8c,
"Signature scheme"). Receivers' libraries (the reference `standardwebhooks` among them) base64-decode
whatever follows the prefix, with or without it, so a secret that is not base64 is refused when the
tenants file is loaded: signing with its UTF-8 bytes would give signatures no receiver can verify.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
import secrets
from typing import Any, Final

import httpx
import msgspec

from adapters.http import retry_after
from gateway.observability import events
from gateway.store import Conn, Engine, jobs
from gateway.store import webhooks as outbox
from gateway.tenants.config import Tenant, Webhook
from gateway.tenants.secrets import SECRET_PREFIX, signing_key

NEW_KEY_BYTES: Final = 32
_encoder = msgspec.json.Encoder()


def new_secret() -> str:
    """A fresh secret as the spec serialises it: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_KEY_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(hook: Webhook, now: float) -> list[str]:
    """The endpoint's secret, and during a rotation's overlap the previous one too: the signature
    header is a space-separated list so receivers holding either secret verify."""
    if hook.previous_secret and hook.previous_until is not None and now < hook.previous_until:
        return [hook.secret, hook.previous_secret]
    return [hook.secret]


def delivery_id(event_id: str, url: str) -> str:
    return "msg_" + hashlib.sha256(f"{event_id}|{url}".encode()).hexdigest()[:32]


def subscribed(tenant: Tenant, event_type: str) -> bool:
    return any(event_type in hook.events for hook in tenant.webhooks)


async def publish(conn: Conn, tenant: Tenant, event_type: str, event_id: str, data: Any, now: float) -> int:
    """Queue `event_type` for every endpoint subscribed to it; returns how many were queued."""
    queued = 0
    for hook in tenant.webhooks:
        if event_type not in hook.events:
            continue
        msg_id = delivery_id(event_id, hook.url)
        body = _encoder.encode({"type": event_type, "timestamp": _iso(now), "data": data})
        if await outbox.queue(conn, msg_id, tenant.id, event_id, event_type, hook.url, body, now):
            await jobs.insert(conn, "webhook", msg_id, tenant.id, now)
            queued += 1
    return queued


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


async def deliver(
    engine: Engine, tenant: Tenant, msg_id: str, now: float, client: httpx.AsyncClient
) -> tuple[float | None, str]:
    """One delivery try. Returns (when to try again or None, result label for metrics)."""
    row = await outbox.get(engine, msg_id)
    if row is None or row.state != "pending":
        return None, "gone"
    hook = next((h for h in tenant.webhooks if h.url == row.url), None)
    if hook is None:
        await _finish(engine, msg_id, "failed", None, "endpoint no longer configured", now)
        _log("webhook.gave_up", tenant, row, row.tries, None, "endpoint no longer configured")
        return None, "failed"
    stamp = int(now)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(sign(s, msg_id, stamp, row.body) for s in signing_secrets(hook, now)),
    }
    status: int | None = None
    asked_wait = 0.0
    try:
        response = await client.post(
            row.url, content=row.body, headers=headers, timeout=tenant.dispatch.webhook_timeout_s
        )
        status = response.status_code
        error = None if 200 <= status < 300 else f"HTTP {status}"
        asked_wait = retry_after(response) or 0.0  # a receiver's 429/503 Retry-After is honoured
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if error is None:
        await _finish(engine, msg_id, "delivered", status, None, now)
        return None, "delivered"
    tries = row.tries + 1
    if status == 410 or tries >= tenant.dispatch.webhook_max_attempts:
        await _finish(engine, msg_id, "failed", status, error, now, tries=tries)
        _log("webhook.gave_up", tenant, row, tries, status, error)
        return None, "failed"
    await outbox.update(engine, msg_id, tries=tries, last_status=status, last_error=error)
    _log("webhook.failed", tenant, row, tries, status, error)
    d = tenant.dispatch
    wait = min(d.backoff_max_s * 60, d.backoff_base_s * 2**tries) * random.uniform(0.8, 1.2)
    return now + max(wait, asked_wait), "retry"


async def _finish(
    engine: Engine,
    msg_id: str,
    state: str,
    status: int | None,
    error: str | None,
    now: float,
    tries: int | None = None,
) -> None:
    values: dict[str, Any] = {"state": state, "last_status": status, "last_error": error}
    if state == "delivered":
        values["delivered_at"] = now
    if tries is not None:
        values["tries"] = tries
    await outbox.update(engine, msg_id, **values)


def _log(event: str, tenant: Tenant, row: Any, tries: int, status: int | None, error: str | None) -> None:
    """The operator's line for a failed try; the URL without its query (receivers put tokens there)."""
    document_id = row.event_id.split(":", 1)[0] if row.event_id.startswith("doc_") else None
    url = row.url.split("?", 1)[0]
    events.emit(
        event,
        tenant=tenant.id,
        document_id=document_id,
        event_type=row.event_type,
        delivery_id=row.id,
        url=url,
        tries=tries,
        http_status=status,
        error=error,
    )
