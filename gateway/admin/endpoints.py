"""Webhook endpoints: subscribed with a `whsec_` secret shown once (sealed at rest), secrets rotated,
endpoints removed (a file endpoint too), recent deliveries listed and redelivered under the same id."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from msgspec import Struct, field

from gateway.admin.base import AdminBase, AdminRefusal
from gateway.delivery.webhooks import new_secret
from gateway.documents.resources import timestamp
from gateway.store import Conn, jobs, overlay
from gateway.store import webhooks as outbox
from gateway.tenants.auth import key_hash
from gateway.tenants.config import WEBHOOK_EVENTS, Tenant
from gateway.tenants.secrets import seal


class WebhookRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    events: list[str] = field(default_factory=lambda: sorted(WEBHOOK_EVENTS))


class SecretRotation(Struct, kw_only=True, forbid_unknown_fields=True):
    overlap_s: float = 3600.0  # how long deliveries are also signed with the previous secret


class WebhookView(Struct, kw_only=True):
    id: str
    url: str
    events: list[str]
    source: str


class WebhookRevealed(WebhookView, kw_only=True):
    secret: str  # shown once (Standard Webhooks `whsec_` key)


class DeliveryView(Struct, kw_only=True):
    id: str
    event_id: str
    event_type: str
    url: str
    state: str
    tries: int
    last_status: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


def file_webhook_id(url: str) -> str:
    return "wh_" + key_hash(url)[:16]


class EndpointsAdmin(AdminBase):
    async def list_webhooks(self, tenant: Tenant) -> list[WebhookView]:
        async with self.rt.reader.connect() as conn:
            stored = await overlay.enabled_endpoint_ids(conn, tenant.id)
        return [
            WebhookView(
                id=stored.get(h.url, file_webhook_id(h.url)),
                url=h.url,
                events=list(h.events),
                source="api" if h.url in stored else "file",
            )
            for h in tenant.webhooks
        ]

    async def _store_webhook(
        self,
        tenant: Tenant,
        url: str,
        events: list[str],
        *,
        enabled: bool = True,
        previous: str | None = None,
        overlap_s: float = 0.0,
    ) -> WebhookRevealed:
        """A new secret for `url`; with `previous`, the old secret keeps signing for `overlap_s`."""
        secret_key = self._secret_key()
        secret = new_secret()

        async def change(conn: Conn, now: float) -> str:
            existing = await overlay.endpoint_id(conn, tenant.id, url)
            values = {
                "secret": seal(secret_key, secret.encode()),
                "events": events,
                "enabled": enabled,
                "updated_at": now,
                "previous_secret": seal(secret_key, previous.encode())
                if previous and overlap_s > 0
                else None,
                "previous_until": now + overlap_s if previous and overlap_s > 0 else None,
            }
            if existing is not None:
                await overlay.update_endpoint(conn, existing, values)
                return existing
            hook_id = "wh_" + secrets.token_hex(10)
            await overlay.insert_endpoint(conn, hook_id, tenant.id, url, now, values)
            return hook_id

        hook_id = await self._commit(tenant.id, change)
        return WebhookRevealed(id=hook_id, url=url, events=events, source="api", secret=secret)

    async def create_webhook(self, tenant: Tenant, request: WebhookRequest) -> WebhookRevealed:
        if not request.url.startswith(("http://", "https://")):
            raise AdminRefusal(422, "webhook-url", "url must be an http(s) URL", "url")
        unknown = [e for e in request.events if e not in WEBHOOK_EVENTS]
        if unknown or not request.events:
            raise AdminRefusal(
                422, "webhook-events", f"unknown events {unknown}; known: {sorted(WEBHOOK_EVENTS)}", "events"
            )
        if any(h.url == request.url for h in tenant.webhooks):
            raise AdminRefusal(
                409, "webhook-exists", "this URL is subscribed already; rotate its secret instead", "url"
            )
        return await self._store_webhook(tenant, request.url, request.events)

    def _webhook(self, tenant: Tenant, views: list[WebhookView], hook_id: str) -> WebhookView:
        view = next((v for v in views if v.id == hook_id), None)
        if view is None:
            raise AdminRefusal(404, "webhook-unknown", f"no webhook endpoint {hook_id!r} for this tenant")
        return view

    async def rotate_webhook_secret(
        self, tenant: Tenant, hook_id: str, request: SecretRotation
    ) -> WebhookRevealed:
        """A new secret, revealed once; deliveries carry both signatures for `overlap_s`."""
        if request.overlap_s < 0:
            raise AdminRefusal(422, "webhook-overlap", "overlap_s must be >= 0", "overlap_s")
        view = self._webhook(tenant, await self.list_webhooks(tenant), hook_id)
        current = next(h for h in tenant.webhooks if h.url == view.url)
        return await self._store_webhook(
            tenant, view.url, view.events, previous=current.secret, overlap_s=request.overlap_s
        )

    async def delete_webhook(self, tenant: Tenant, hook_id: str) -> WebhookView:
        """Unsubscribe (a file endpoint too: the store's disabled row hides it)."""
        view = self._webhook(tenant, await self.list_webhooks(tenant), hook_id)
        await self._store_webhook(tenant, view.url, view.events, enabled=False)
        return view

    async def deliveries(self, tenant: Tenant, state: str | None, limit: int) -> list[DeliveryView]:
        async with self.rt.reader.connect() as conn:
            rows = await outbox.of_tenant(conn, tenant.id, state, limit)
        return [_delivery_view(r) for r in rows]

    async def redeliver(self, tenant: Tenant, delivery_id: str) -> DeliveryView:
        """Send an event again (same `webhook-id`, so receivers still deduplicate)."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            row = await outbox.rearm(conn, tenant.id, delivery_id)
            if row is None:
                raise AdminRefusal(404, "delivery-unknown", f"no delivery {delivery_id!r} for this tenant")
            await jobs.enqueue(conn, "webhook", delivery_id, tenant.id, now)
        return _delivery_view(row)


def _delivery_view(r: Any) -> DeliveryView:
    return DeliveryView(
        id=r.id,
        event_id=r.event_id,
        event_type=r.event_type,
        url=r.url,
        state=r.state,
        tries=r.tries,
        last_status=r.last_status,
        last_error=r.last_error,
        created_at=timestamp(r.created_at),
        delivered_at=timestamp(r.delivered_at) if r.delivered_at else None,
    )
