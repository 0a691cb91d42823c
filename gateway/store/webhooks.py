"""The webhook outbox: one delivery row per (event, endpoint URL), its id derived from both, so
an event is never queued twice for one endpoint (gateway.delivery.webhooks signs and sends them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store import dialect
from gateway.store.engine import reader
from gateway.store.records import DeliveryRecord
from gateway.store.schema import webhook_deliveries


async def queue(
    conn: AsyncConnection,
    msg_id: str,
    tenant_id: str,
    event_id: str,
    event_type: str,
    url: str,
    body: bytes,
    now: float,
) -> bool:
    """A pending delivery; False when this id is queued already (nothing written)."""
    result = await conn.execute(
        dialect.insert(conn, webhook_deliveries)
        .values(
            id=msg_id,
            tenant_id=tenant_id,
            event_id=event_id,
            event_type=event_type,
            url=url,
            body=body,
            state="pending",
            tries=0,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount == 1)


def _delivery(row: Sequence[Any] | None) -> DeliveryRecord | None:
    return None if row is None else DeliveryRecord(*row)


async def get(engine: AsyncEngine, msg_id: str) -> DeliveryRecord | None:
    async with reader(engine).connect() as conn:
        query = sa.select(webhook_deliveries).where(webhook_deliveries.c.id == msg_id)
        return _delivery((await conn.execute(query)).first())


async def update(engine: AsyncEngine, msg_id: str, **values: Any) -> None:
    """Set the delivery's state, tries, last status and error, delivered_at (its own transaction)."""
    async with engine.begin() as conn:
        await conn.execute(
            webhook_deliveries.update().where(webhook_deliveries.c.id == msg_id).values(**values)
        )


async def of_tenant(
    conn: AsyncConnection, tenant_id: str, state: str | None, limit: int
) -> list[DeliveryRecord]:
    """The tenant's deliveries (in `state`, if given), newest first."""
    query = sa.select(webhook_deliveries).where(webhook_deliveries.c.tenant_id == tenant_id)
    if state:
        query = query.where(webhook_deliveries.c.state == state)
    query = query.order_by(webhook_deliveries.c.created_at.desc()).limit(limit)
    return [DeliveryRecord(*row) for row in (await conn.execute(query)).all()]


async def rearm(conn: AsyncConnection, tenant_id: str, msg_id: str) -> DeliveryRecord | None:
    """Make the tenant's delivery pending again with its tries reset; the row, or None: unknown."""
    result = await conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.id == msg_id, webhook_deliveries.c.tenant_id == tenant_id)
        .values(state="pending", tries=0, last_error=None)
    )
    if result.rowcount != 1:
        return None
    return _delivery(
        (await conn.execute(sa.select(webhook_deliveries).where(webhook_deliveries.c.id == msg_id))).first()
    )
